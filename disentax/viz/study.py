"""A study's figures and its self-contained page, from the tidy table and its statistics.

:func:`study_figures` draws (a) each metric's distribution per objective, every model a
point; (b) the Spearman rank correlation between metrics; (c) each metric against the
hyperparameter value, seeds as points around their mean; (d) the share of each metric's
variance explained by the hyperparameter and by the seed; (e) how often an unsupervised
score selects a model in a metric's top decile; (f) the total correlation of the sampled
and of the mean representation, where the evaluation scored both (``unsupervised`` and
``unsupervised_sampled``). :func:`study_page` puts them, with the
tables, into one HTML file (images inlined). The inputs are pandas DataFrames made by
:mod:`disentax.runs.study_analysis`; this module reads no files.
"""

from __future__ import annotations

import base64
import html
import math
import pathlib

import numpy as np

__all__ = ["study_figures", "study_page"]

_CAPTIONS = {
    "distributions": "Each metric per objective: a box over every model (seeds and "
    "hyperparameter values), each model a point.",
    "rank_correlation": "Spearman rank correlation between metrics over all models.",
    "hyperparameter": "Each metric against the objective's hyperparameter value: every "
    "seed a point, the line through the per-value means.",
    "variance": "Share of each metric's variance (over the models of one objective) "
    "explained by the hyperparameter value; the rest is the seeds' spread.",
    "total_correlation": "Gaussian total correlation of the sampled (one posterior draw per "
    "point) and of the mean representation against the hyperparameter: seeds as points, "
    "the line through the per-value means (Locatello et al. 2019, Figure 2).",
    "selection": "How often the model ranked first by an unsupervised score lies in the "
    "top decile of a metric (bootstrap over models); chance is 0.1.",
}


def _grid(num: int, *, width=3.4, height=2.8, max_cols=4):
    import matplotlib.pyplot as plt

    cols = max(1, min(max_cols, num))
    rows = max(1, math.ceil(num / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in list(axes.flat)[num:]:
        ax.axis("off")
    return fig, list(axes.flat)[:num]


def _save(fig, path: pathlib.Path) -> pathlib.Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _distributions(table, path):
    metrics = sorted(table["metric"].unique())
    objectives = sorted(table["objective"].unique())
    fig, axes = _grid(len(metrics))
    rng = np.random.default_rng(0)  # jitter of the points only
    for ax, metric in zip(axes, metrics, strict=True):
        rows = table[table["metric"] == metric]
        data = [rows[rows["objective"] == o]["score"].to_numpy(float) for o in objectives]
        ax.boxplot(data, showfliers=False)
        for i, scores in enumerate(data, start=1):
            ax.scatter(i + rng.uniform(-0.15, 0.15, len(scores)), scores, s=10, alpha=0.7)
        ax.set_xticks(range(1, len(objectives) + 1), objectives, rotation=30, fontsize=7)
        ax.set_title(metric, fontsize=9)
    return _save(fig, path)


def _rank_correlation(correlation, path):
    import matplotlib.pyplot as plt

    names = list(correlation.columns)
    size = max(3.0, 0.5 * len(names) + 1.5)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(correlation.to_numpy(float), vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    for (i, j), value in np.ndenumerate(correlation.to_numpy(float)):
        if np.isfinite(value):
            color = "w" if abs(value) > 0.6 else "k"  # legible on the dark ends of the map
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6, color=color)
    fig.colorbar(image, ax=ax, shrink=0.8)
    return _save(fig, path)


def _hyperparameter(table, path):
    panels = sorted({(m, o) for m, o in zip(table["metric"], table["objective"], strict=True)})
    fig, axes = _grid(len(panels))
    for ax, (metric, objective) in zip(axes, panels, strict=True):
        rows = table[(table["metric"] == metric) & (table["objective"] == objective)]
        ax.scatter(rows["value"], rows["score"], s=10, alpha=0.7)
        means = rows.groupby("value")["score"].mean()
        ax.plot(means.index, means.to_numpy(), marker="o")
        hyper = rows["hyperparameter"].iloc[0]
        if len(means) > 1 and means.index.min() > 0 and means.index.max() / means.index.min() > 8:
            ax.set_xscale("log")
        ax.set_xlabel(f"{objective}: {hyper}", fontsize=8)
        ax.set_title(metric, fontsize=9)
    return _save(fig, path)


_TC_KEYS = {
    "sampled": "unsupervised_sampled/gaussian_total_correlation",
    "mean": "unsupervised/gaussian_total_correlation",
}


def _total_correlation(table, path):
    """(f): per objective, the TC of the sampled and of the mean representation."""
    rows = table[table["metric"].isin(_TC_KEYS.values())]
    objectives = sorted(rows["objective"].unique())
    fig, axes = _grid(len(objectives))
    for ax, objective in zip(axes, objectives, strict=True):
        mine = rows[rows["objective"] == objective]
        for label, key in _TC_KEYS.items():
            points = mine[mine["metric"] == key]
            ax.scatter(points["value"], points["score"], s=10, alpha=0.7)
            means = points.groupby("value")["score"].mean()
            ax.plot(means.index, means.to_numpy(), marker="o", label=label)
        ax.set_xlabel(f"{objective}: {mine['hyperparameter'].iloc[0]}", fontsize=8)
        ax.set_title("Gaussian total correlation", fontsize=9)
        ax.legend(fontsize=7)
    return _save(fig, path)


def _variance(variance, path):
    import matplotlib.pyplot as plt

    labels = [f"{o} · {m}" for o, m in zip(variance["objective"], variance["metric"], strict=True)]
    fig, ax = plt.subplots(figsize=(7, max(2.0, 0.25 * len(labels) + 1)))
    y = np.arange(len(labels))
    ax.barh(y, variance["hyperparameter_share"], label="hyperparameter")
    ax.barh(y, variance["seed_share"], left=variance["hyperparameter_share"], label="seed")
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_xlim(0, 1)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def _selection(selection, path):
    import matplotlib.pyplot as plt

    mean = selection.groupby(["selector", "metric"])["rate"].mean().unstack("metric")
    fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * mean.shape[1] + 2), 0.5 * len(mean) + 1.5))
    image = ax.imshow(mean.to_numpy(float), vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(mean.shape[1]), mean.columns, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(mean)), mean.index, fontsize=7)
    for (i, j), value in np.ndenumerate(mean.to_numpy(float)):
        color = "k" if value > 0.6 else "w"  # viridis is light at its top
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6, color=color)
    fig.colorbar(image, ax=ax, shrink=0.8)
    return _save(fig, path)


def study_figures(table, stats, out) -> dict[str, pathlib.Path]:
    """Draws the study's figures into ``out`` as PNG files.

    Args:
      table: the tidy table (rows of the metrics to show).
      stats: ``{"variance", "selection", "correlation"}`` DataFrames of
        :mod:`disentax.runs.study_analysis`.
      out: the folder to write into.

    Returns:
      figure name -> path, for the figures that have data.
    """
    import matplotlib

    matplotlib.use("Agg")
    out = pathlib.Path(out)
    drawn = {}
    if len(table):
        drawn["distributions"] = _distributions(table, out / "study_distributions.png")
        drawn["hyperparameter"] = _hyperparameter(table, out / "study_hyperparameter.png")
    if set(_TC_KEYS.values()) <= set(table["metric"]):
        drawn["total_correlation"] = _total_correlation(table, out / "study_total_correlation.png")
    if stats["correlation"].shape[0] > 1:
        drawn["rank_correlation"] = _rank_correlation(
            stats["correlation"], out / "study_rank_correlation.png"
        )
    if len(stats["variance"]):
        drawn["variance"] = _variance(stats["variance"], out / "study_variance.png")
    if len(stats["selection"]):
        drawn["selection"] = _selection(stats["selection"], out / "study_selection.png")
    return drawn


def _image(path: pathlib.Path) -> str:
    data = base64.b64encode(pathlib.Path(path).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(path.stem)}">'


def study_page(title: str, table, stats, figures, protocols=None) -> str:
    """The study's self-contained HTML page: summary, figures with captions, tables.

    Args:
      title: the page title.
      table: the tidy table (``model``, ``objective``, ``dataset``, ``metric``, ...).
      stats: the study statistics (``variance`` and ``selection`` tables).
      figures: ``name -> path`` of the figures to embed.
      protocols: ``metric key -> protocol`` of keys that share a name with another (the
        MIGs); the page says which is which for the keys it shows.

    Returns:
      The HTML text.
    """
    models = table.drop_duplicates("model")
    summary = (
        f"{len(models)} models: "
        + ", ".join(f"{o} × {n}" for o, n in models.groupby("objective").size().items())
        + f"; datasets: {', '.join(sorted(map(str, models['dataset'].unique())))}."
    )
    shown = set(table["metric"])
    which = [f"{key}: {text}" for key, text in (protocols or {}).items() if key in shown]
    if which:
        summary += " Which metric is which: " + "; ".join(which) + "."
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;"
        "max-width:1100px;margin:auto;padding:1em}img{max-width:100%}"
        "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;"
        "padding:2px 6px}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p>{html.escape(summary)}</p>",
    ]
    for name, path in figures.items():
        parts += [f"<h2>{html.escape(name.replace('_', ' '))}</h2>", _image(path)]
        parts.append(f"<p>{html.escape(_CAPTIONS.get(name, ''))}</p>")
    for name in ("variance", "selection"):
        if len(stats[name]):
            parts += [f"<details><summary>{name} table</summary>"]
            parts += [stats[name].to_html(index=False, float_format="%.3f"), "</details>"]
    parts.append("<p>The full table: study.csv (and study.parquet).</p></body></html>")
    return "\n".join(parts)
