"""The results table of a study: collected from run folders, written as JSON, markdown, plot.

:func:`collect` reads every entry's run folder (``evaluation.json``, ``metrics.jsonl``,
``config.json``) into one table: a row per model with its label, hyperparameter value,
seed, trained step, training speed and every scalar metric. :func:`write_all` writes
``results.json`` (the table), ``results.md`` (one row per metric, one column per model
and hyperparameter value; seeds averaged, their spread shown) and ``scores.png`` (one
panel per metric: score per model and hyperparameter value, one point per seed).
"""

from __future__ import annotations

import json
import math
import pathlib
from collections.abc import Mapping, Sequence

from disentax.evaluation.anchors import labelled
from disentax.runs.folder import RunFolder

__all__ = ["HEADLINE_METRICS", "collect", "flatten_metrics", "read_evaluation", "write_all"]

# Metrics shown first (and in this order) in the markdown table and the plot.
HEADLINE_METRICS = (
    "beta_vae_score",
    "factor_vae_score",
    "mig",
    "mig_sampled",
    "mig_chen2018",
    "dci/disentanglement",
    "dci/completeness",
    "dci/informativeness",
    "sap",
    "modularity",
    "irs",
)


def read_evaluation(workdir) -> dict | None:
    """``workdir/evaluation.json`` as a dict, or None when absent or unreadable."""
    path = RunFolder(workdir).evaluation
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def flatten_metrics(metrics: Mapping, prefix: str = "") -> dict[str, float]:
    """Scalar numbers of a (nested) metrics dict, keys joined by ``/``; lists dropped."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_metrics(value, prefix=f"{name}/"))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int | float):
            flat[name] = float(value)
    return flat


def _last_training_record(workdir: pathlib.Path) -> dict:
    path = RunFolder(workdir).metrics
    if not path.is_file():
        return {}
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    if not records:
        return {}
    rates = [
        r["images_per_s"]
        for r in records
        if isinstance(r.get("images_per_s"), int | float) and math.isfinite(r["images_per_s"])
    ]
    last = dict(records[-1])
    last["median_images_per_s"] = sorted(rates)[len(rates) // 2] if rates else None
    return last


def collect(entries: Sequence, root) -> dict:
    """The study's table from the run folders of ``entries`` (see the module docstring)."""
    rows = []
    for entry in entries:
        workdir = pathlib.Path(root) / entry.name
        evaluation = read_evaluation(workdir) or {}
        training = _last_training_record(workdir)
        config = entry.config.to_dict() if hasattr(entry.config, "to_dict") else entry.config
        rows.append(
            {
                "name": entry.name,
                "label": entry.label,
                "objective": config["objective"]["name"],
                "hyperparameter": entry.hyperparameter,
                "value": entry.value,
                "seed": entry.seed,
                "config": config,
                "step": evaluation.get("step", training.get("step")),
                "train": {
                    k: training.get(k)
                    for k in ("loss", "recon", "kl", "tc", "elbo")
                    if k in training
                },
                "images_per_s": training.get("median_images_per_s"),
                "evaluated": bool(evaluation),
                "metrics": flatten_metrics(evaluation.get("metrics", {})),
                "evaluation_seconds": evaluation.get("seconds"),
            }
        )
    return {"rows": rows, "metric_names": _metric_names(rows)}


def _metric_names(rows) -> list[str]:
    names = {k for row in rows for k in row["metrics"]}
    first = [m for m in HEADLINE_METRICS if m in names]
    return first + sorted(names - set(first))


def _columns(rows) -> list[tuple[str, float]]:
    columns: list[tuple[str, float]] = []
    for row in rows:
        key = (row["label"], row["value"])
        if key not in columns:
            columns.append(key)
    return columns


def _cell(values: list[float]) -> str:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "–"
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.3f}"
    spread = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    return f"{mean:.3f} ± {spread:.3f} (n={len(values)})"


def markdown(table: Mapping, *, title: str = "Study") -> str:
    """One row per metric, one column per (model, hyperparameter value); seeds averaged."""
    rows = table["rows"]
    columns = _columns(rows)
    hyper = {(r["label"], r["value"]): r["hyperparameter"] for r in rows}
    header = ["metric"] + [f"{label} ({hyper[(label, v)]}={v:g})" for label, v in columns]
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def line(name, getter):
        cells = [_cell([getter(r) for r in rows if (r["label"], r["value"]) == c]) for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    for metric in table["metric_names"]:
        line(labelled(metric), lambda r, m=metric: r["metrics"].get(m))
    lines.append(
        "| training steps | "
        + " | ".join(
            ", ".join(str(r["step"]) for r in rows if (r["label"], r["value"]) == c)
            for c in columns
        )
        + " |"
    )
    line("images/s (median of log windows)", lambda r: r["images_per_s"])
    for key in ("recon", "kl", "tc"):
        line(f"train {key} (last window)", lambda r, k=key: r["train"].get(k))
    return "\n".join(lines) + "\n"


def plot(table: Mapping, path, *, metrics: Sequence[str] | None = None) -> None:
    """``scores.png``: a panel per metric, x = model and value, one point per seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = table["rows"]
    names = (
        list(metrics)
        if metrics is not None
        else [m for m in table["metric_names"] if m in HEADLINE_METRICS]
        or table["metric_names"][:8]
    )
    columns = _columns(rows)
    num = max(1, len(names))
    ncols = min(4, num)
    nrows = math.ceil(num / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.9 * nrows), squeeze=False)
    for ax, metric in zip(axes.flat, names, strict=False):
        for x, column in enumerate(columns):
            ys = [r["metrics"].get(metric) for r in rows if (r["label"], r["value"]) == column]
            ys = [y for y in ys if y is not None and math.isfinite(y)]
            jitter = [x + 0.08 * (i - (len(ys) - 1) / 2) for i in range(len(ys))]
            ax.scatter(jitter, ys, s=22, color=f"C{x % 10}", zorder=3)
            if ys:
                mean = sum(ys) / len(ys)
                ax.hlines(mean, x - 0.3, x + 0.3, color=f"C{x % 10}", lw=1.5)
        ax.set_title(metric, fontsize=9)
        ax.set_xticks(range(len(columns)))
        ax.set_xticklabels([f"{label}\n{v:g}" for label, v in columns], fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[num:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_all(table: Mapping, out, *, title: str = "Study") -> dict[str, pathlib.Path]:
    """Writes ``results.json``, ``results.md`` and ``scores.png`` into ``out``."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "md": out / "results.md", "png": out / "scores.png"}
    paths["json"].write_text(json.dumps(table, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    paths["md"].write_text(markdown(table, title=title), encoding="utf-8")
    plot(table, paths["png"])
    return paths
