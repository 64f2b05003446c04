"""The manual's benchmark page (``docs/benchmarks.md``), read from ``benchmarks/results``.

    python -m benchmarks.report                 # writes docs/benchmarks.md
    python -m benchmarks.report --out -         # prints it

Every figure comes from the results JSON files (never typed by hand). The page names each
file's device, versions and date, puts the rows measured on more than one device side by
side (the CPU and an accelerator such as the H200), gives the DCI parity with
scikit-learn per device, and then the detailed tables of the CPU suite
(``benchmarks/results/cpu.json``): the environment, the PyTorch comparison, the train
steps, the sweep, the start-up times, the metric suite against its baseline, data
rendering and the per-layer profile (wall-clock medians, and process CPU time, which a
loaded machine does not inflate). :func:`render` is the last part for one suite file.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
from typing import Any

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


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
    loads = [r["environment"].get("load_average") for r in runs]
    loads = [load[0] for load in loads if load]
    load_range = _span(loads)
    out.append(
        f"Machine: {env['cpu_model']}, {env['cpu_count']} cores ({env['device_kind']}); "
        f"jax {env['versions']['jax']}, torch {env['versions'].get('torch')}; "
        f"runs: {runs[-1]['thread_setting']}; 1-minute load average at the runs: {load_range} "
        f"({len(runs)} runs, {runs[0]['created'][:16]} to {runs[-1]['created'][:16]} UTC)."
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


def _span(values: list[float]) -> str:
    if not values:
        return "-"
    low, high = f"{min(values):.1f}", f"{max(values):.1f}"
    return low if low == high else f"{low}-{high}"


def _device(env: dict) -> str:
    """The device a results file was measured on, in words."""
    if env.get("platform", env.get("device_kind")) == "cpu":
        return f"CPU: {env.get('cpu_model')}, {env.get('cpu_count')} cores"
    return f"{env.get('platform', '').upper()}: {env.get('device_kind')}"


def _committed(path: pathlib.Path) -> str:
    """The date of the commit that last changed ``path`` (``-`` outside a checkout)."""
    try:
        out = subprocess.run(
            ["git", "log", "-1", "--format=%cs", "--", path.name],
            cwd=path.parent,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        out = ""
    return out or "-"


def _sources(paths: list[pathlib.Path]) -> list[dict]:
    """One record per results file holding rows: its device, versions, date and rows."""
    sources = []
    for path in paths:
        doc = json.loads(path.read_text())
        if "results" not in doc:
            continue
        runs = doc.get("runs")
        env = runs[-1]["environment"] if runs else doc.get("environment", {})
        dates = sorted({r["created"][:10] for r in runs}) if runs else [_committed(path)]
        loads = [
            r["environment"]["load_average"][0]
            for r in (runs or [{"environment": env}])
            if r["environment"].get("load_average")
        ]
        sources.append(
            {
                "file": path.name,
                "device": _device(env),
                "versions": env.get("versions", {}),
                "date": " to ".join(dict.fromkeys([dates[0], dates[-1]])),
                "commit": (env.get("git_commit") or "-")[:10],
                "load": _span(loads),
                "rows": {r["name"]: r for r in doc["results"]},
            }
        )
    return sources


def _cell(row: dict) -> str:
    text = f"{_f(row['median_s'])} s"
    if row.get("compile_s"):
        text += f" (compile {_f(row['compile_s'], 2)} s)"
    if row.get("images_per_s"):
        text += f", {_f(row['images_per_s'])} images/s"
    return text


def side_by_side(sources: list[dict]) -> str:
    """Rows measured on more than one device, or on an accelerator, one column per device."""
    devices = list(dict.fromkeys(s["device"] for s in sources))
    accelerators = [d for d in devices if not d.startswith("CPU")]
    letters = {s["file"]: chr(ord("a") + i) for i, s in enumerate(sources)}
    names = []
    for s in sources:
        for name in s["rows"]:
            seen_on = {t["device"] for t in sources if name in t["rows"]}
            if (len(seen_on) > 1 or seen_on & set(accelerators)) and name not in names:
                names.append(name)
    rows = []
    for name in names:
        cells = []
        for device in devices:
            found = [
                f"{_cell(s['rows'][name])} ({letters[s['file']]})"
                for s in sources
                if s["device"] == device and name in s["rows"]
            ]
            cells.append("; ".join(found) or "not measured")
        rows.append([f"`{name}`", *cells])
    head = ["benchmark", *devices]
    table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    table += ["| " + " | ".join(row) + " |" for row in rows]
    legend = [
        "| file | device | jax | measured | 1-min load average | commit |",
        "|---|---|---|---|---|---|",
        *[
            f"| ({letters[s['file']]}) `{s['file']}` | {s['device']} | "
            f"{s['versions'].get('jax', '-')} | {s['date']} | {s['load']} | {s['commit']} |"
            for s in sources
        ],
    ]
    return "\n".join(legend) + "\n\n" + "\n".join(table) + "\n"


def dci_parity(paths: list[pathlib.Path]) -> str:
    """DCI scores of scikit-learn and of disentax's JAX trees on the same arrays, per device."""
    rows = []
    for path in paths:
        doc = json.loads(path.read_text())
        device = doc.get("device", "-")
        device = "CPU" if device == "cpu" else device
        entries = [("scikit-learn", doc.get("sklearn"))]
        entries.append(("scikit-learn, codes pre-binned (32)", doc.get("sklearn_prebinned32")))
        entries += [
            (f"disentax, {k.removeprefix('bins')} bins", v)
            for k, v in doc.get("disentax", {}).items()
        ]
        for label, value in entries:
            if value:
                diff = value.get("abs_diff_vs_sklearn", {})
                rows.append(
                    [
                        f"`{path.name}`",
                        device,
                        label,
                        value.get("disentanglement"),
                        value.get("completeness"),
                        value.get("informativeness_test"),
                        diff.get("disentanglement"),
                        diff.get("completeness"),
                    ]
                )
    head = [
        "file",
        "device",
        "estimator",
        "disentanglement",
        "completeness",
        "informativeness (test)",
        "disent. diff. vs sklearn",
        "compl. diff. vs sklearn",
    ]
    return _table(head, rows) + "\n"


def page(results: pathlib.Path = RESULTS) -> str:
    """The whole benchmark page for the results files in ``results``."""
    paths = sorted(results.glob("*.json"))
    parity = [p for p in paths if p.name.startswith("dci_parity")]
    sources = _sources([p for p in paths if p not in parity])
    out = [
        "# Benchmarks",
        "",
        "<!-- Written by `python -m benchmarks.report` from benchmarks/results/*.json; "
        "do not edit by hand. -->",
        "",
        "Every figure on this page is read from the JSON files in `benchmarks/results/`, "
        "which the benchmarks write (warm-up excluded, compile time reported separately, "
        "median of repeats, the device and library versions recorded). Re-run them with "
        "`bash benchmarks/cpu.sh` (CPU) or `bash benchmarks/gpu.sh` (an accelerator), or "
        "one benchmark with `disentax bench NAME --out FILE`, then regenerate this page "
        "with `python -m benchmarks.report`.",
        "",
        "## CPU and accelerator side by side",
        "",
        "Median wall-clock seconds per call (compile time apart), for every benchmark that "
        "was measured on an accelerator or on more than one device. The letter names the "
        "results file.",
        "",
        side_by_side(sources),
    ]
    if parity:
        out += [
            "## DCI parity with scikit-learn",
            "",
            "disentanglement_lib's DCI fits scikit-learn's `GradientBoostingClassifier`; "
            "disentax fits JAX trees on quantile bins. Both on the same arrays (10,000 "
            "train / 5,000 test points, 10 codes, 5 factors; `python -m "
            "benchmarks.dci_parity`).",
            "",
            dci_parity(parity),
        ]
    suites = [p for p in paths if "runs" in json.loads(p.read_text())]
    for path in suites:
        out += [
            f"## CPU suite in detail (`{path.name}`)",
            "",
            render(json.loads(path.read_text())),
        ]
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(RESULTS), help="folder of results JSON")
    parser.add_argument("--out", default="docs/benchmarks.md", help="the page ('-': stdout)")
    args = parser.parse_args(argv)
    text = page(pathlib.Path(args.results))
    if args.out == "-":
        sys.stdout.write(text)
    else:
        pathlib.Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
