"""Markdown tables for the README, read from a results JSON (never typed by hand).

    python -m benchmarks.report benchmarks/results/cpu.json

prints the environment, the PyTorch comparison, the train steps, the sweep, the start-up
times, the metric suite against its baseline, data rendering and the per-layer profile
(wall-clock medians, and process CPU time, which a loaded machine does not inflate).
"""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Any


def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _table(head: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_f(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _layer_cell(r: dict) -> str:
    return f"{_f(_cpu_ms(r))} ({_f(r.get('ratio_vs_torch_cpu'), 2)})"


def _cpu_ms(r: dict) -> float | None:
    return r["cpu_median_s"] * 1e3 if r.get("cpu_median_s") else None


def render(doc: dict[str, Any]) -> str:
    results = {r["name"]: r for r in doc["results"]}
    runs = doc["runs"]
    out = []
    env = runs[-1]["environment"]
    loads = [tuple(round(x, 1) for x in r["environment"].get("load_average") or ()) for r in runs]
    out.append(
        f"Machine: {env['cpu_model']}, {env['cpu_count']} cores ({env['device_kind']}); "
        f"jax {env['versions']['jax']}, torch {env['versions'].get('torch')}; "
        f"runs: {runs[-1]['thread_setting']}; load averages at the runs: {loads}."
    )
    peak = results.get("peak/matmul")
    if peak:
        out.append(
            f"\nMeasured float32 matmul peak (one core): {peak['peak_gflops']:.1f} GFLOP/s "
            f"wall, {peak.get('peak_gflops_cpu', 0):.1f} GFLOP/s of CPU time."
        )
    cmp_rows = [r for n, r in results.items() if n.startswith("compare/torch/")]
    if cmp_rows:
        out.append("\n### Train step vs PyTorch (reference β-VAE, one thread each, paired)\n")
        out.append(
            _table(
                [
                    "variant",
                    "images/s",
                    "images/CPU-s",
                    "% peak (CPU)",
                    "ratio vs torch (wall, paired)",
                    "ratio vs torch (CPU, paired)",
                    "compile s",
                ],
                [
                    [
                        r["name"].rsplit("/", 1)[1],
                        r.get("images_per_s"),
                        r.get("images_per_cpu_s"),
                        r.get("percent_of_peak_cpu"),
                        r.get("ratio_vs_torch"),
                        r.get("ratio_vs_torch_cpu"),
                        r.get("compile_s"),
                    ]
                    for r in cmp_rows
                ],
            )
        )
    steps = [r for n, r in results.items() if n.startswith("train_step/")]
    if steps:
        out.append("\n### Train steps (shipped configs, data sampled in the step)\n")
        out.append(
            _table(
                [
                    "name",
                    "median ms",
                    "min ms",
                    "max ms",
                    "CPU ms",
                    "images/s",
                    "% peak (CPU)",
                    "compile s",
                    "ratio (wall)",
                    "ratio (CPU)",
                ],
                [
                    [
                        r["name"],
                        r["median_s"] * 1e3,
                        r["min_s"] * 1e3,
                        r["max_s"] * 1e3,
                        _cpu_ms(r),
                        r.get("images_per_s"),
                        r.get("percent_of_peak_cpu"),
                        r.get("compile_s"),
                        r.get("ratio"),
                        r.get("ratio_cpu"),
                    ]
                    for r in steps
                ],
            )
        )
    start = [r for n, r in results.items() if n.startswith("startup/")]
    if start:
        out.append("\n### Time to first train step (`disentax train`, from process start)\n")
        out.append(
            _table(
                ["name", "median s", "min s", "max s", "process CPU s", "target s", "met"],
                [
                    [
                        r["name"],
                        r["median_s"],
                        r["min_s"],
                        r["max_s"],
                        min(r.get("process_cpu_s") or [None]),
                        r.get("target_s"),
                        r.get("meets_target"),
                    ]
                    for r in start
                ],
            )
        )
    suite = [r for n, r in results.items() if n.startswith("metrics/suite/")]
    if suite:
        out.append("\n### Metric suite at the reference sizes vs the NumPy/scikit-learn baseline\n")
        by_metric: dict[str, dict[str, dict]] = {}
        for r in suite:
            _, _, metric, who = r["name"].split("/")
            by_metric.setdefault(metric, {})[who] = r
        out.append(
            _table(
                [
                    "metric",
                    "disentax ms",
                    "disentax CPU ms",
                    "baseline ms",
                    "baseline CPU ms",
                    "ratio",
                    "compile s",
                ],
                [
                    [
                        m,
                        d.get("disentax", {}).get("median_s", 0) * 1e3,
                        _cpu_ms(d.get("disentax", {})),
                        d.get("oracle", {}).get("median_s", 0) * 1e3,
                        _cpu_ms(d.get("oracle", {})),
                        d.get("disentax", {}).get("ratio_vs_oracle"),
                        d.get("disentax", {}).get("compile_s"),
                    ]
                    for m, d in by_metric.items()
                ],
            )
        )
    scaling = [r for n, r in results.items() if n.startswith("metrics/scaling/")]
    if scaling:
        out.append("\n### Metric kernels: scaling with N and L (ms, wall / CPU)\n")
        out.append(
            _table(
                ["name", "median ms", "CPU ms", "compile s"],
                [[r["name"], r["median_s"] * 1e3, _cpu_ms(r), r.get("compile_s")] for r in scaling],
            )
        )
    data = [r for n, r in results.items() if n.startswith("data/")]
    if data:
        out.append("\n### Procedural rendering\n")
        out.append(
            _table(
                ["name", "images/s", "images/CPU-s", "compile s"],
                [
                    [
                        r["name"],
                        r.get("images_per_s"),
                        r.get("images_per_cpu_s"),
                        r.get("compile_s"),
                    ]
                    for r in data
                ],
            )
        )
    layer_rows = [r for n, r in results.items() if n.startswith("layers/")]
    if layer_rows:
        out.append(
            "\n### Per-layer profile (forward + backward, batch 64, CPU ms; "
            "paired ratio vs torch)\n"
        )
        table: dict[tuple[str, str], dict[str, dict]] = {}
        forms: list[str] = []
        for r in layer_rows:
            prefix, layer, form = r["name"].rsplit("/", 2)
            table.setdefault((prefix.split("/")[1], layer), {})[form] = r
            if form not in forms:
                forms.append(form)
        out.append(
            _table(
                ["set", "layer", *forms],
                [
                    [
                        s,
                        layer,
                        *[(_layer_cell(cells[f]) if f in cells else "-") for f in forms],
                    ]
                    for (s, layer), cells in table.items()
                ],
            )
        )
    commands = sorted({r["command"] for r in runs})
    out.append("\nCommands:\n\n```bash\n" + "\n".join(commands) + "\n```")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = pathlib.Path(argv[0] if argv else "benchmarks/results/cpu.json")
    print(render(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
