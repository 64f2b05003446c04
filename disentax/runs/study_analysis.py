"""A study's analysis: every model's scores as one tidy table, its statistics and figures.

A study is many run folders (objectives × hyperparameter values × seeds × datasets). Its
conclusions come from distributions over seeds (Locatello et al., ICML 2019), so the
analysis keeps every model: :func:`study_table` reads the folders into one tidy table, a
row per model × metric (``model, dataset, objective, hyperparameter, value, seed, step,
metric, score``); :func:`variance_explained`, :func:`selection_rates` and
:func:`rank_correlations` summarise it; :func:`analyse_study` writes the table (CSV and
Parquet), the figures and a self-contained ``study.html``.

The training log's last record enters the table as ``train/<key>`` rows (``train/elbo``,
``train/recon``, ...): with UDR (``udr`` rows, where the study computed it) they are the
unsupervised scores a user could select a model by.

Needs pandas (and pyarrow for Parquet): ``pip install "disentax[study]"``.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from disentax.runs.folder import RunFolder

__all__ = [
    "TABLE_COLUMNS",
    "analyse_study",
    "rank_correlations",
    "selection_rates",
    "study_table",
    "variance_explained",
]

TABLE_COLUMNS = ("model", "dataset", "objective", "hyperparameter", "value", "seed", "step",
                 "metric", "score")  # fmt: skip
# Unsupervised selectors: the table's metric and whether higher is better.
SELECTORS = {"train/elbo": True, "train/recon": False, "udr": True}


def _pandas():
    try:
        import pandas
    except ImportError as err:  # one line naming the extra
        raise ImportError('the study analysis needs pandas: pip install "disentax[study]"') from err
    return pandas


def _flatten(metrics: Mapping, prefix: str = "") -> dict[str, float]:
    """Scalar numbers of a nested dict, keys joined by ``/`` (lists and booleans left out)."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, prefix=f"{name}/"))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def _last_log_row(folder: RunFolder) -> dict:
    """The last complete row of the training log (a partial last line is skipped)."""
    if not folder.metrics.is_file():
        return {}
    for line in reversed(folder.metrics.read_text(encoding="utf-8").splitlines()):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            return row
    return {}


def _model_rows(folder: RunFolder, hyperparameter_of: Mapping[str, str]) -> list[dict]:
    config = folder.read_config()
    objective = dict(config["objective"])
    name = objective.pop("name")
    hyper = hyperparameter_of.get(name) or next(iter(objective), "")
    value = objective.get(hyper, math.nan)
    evaluation = folder.read_json(folder.evaluation) or {}
    log = _last_log_row(folder)
    scores = _flatten(evaluation.get("metrics", {}))
    scores.update({f"train/{k}": v for k, v in _flatten(log).items() if k != "step"})
    base = {
        "model": folder.path.name,
        "dataset": config.get("dataset"),
        "objective": name,
        "hyperparameter": hyper,
        "value": float(value) if isinstance(value, int | float) else math.nan,
        "seed": int(config.get("seed", -1)),
        "step": int(evaluation.get("step", log.get("step", -1))),
    }
    return [{**base, "metric": k, "score": v} for k, v in sorted(scores.items())]


def study_table(workdirs: Iterable[str | os.PathLike], *, hyperparameter_of=None):
    """The tidy table of a study: a row per model × metric.

    Args:
      workdirs: the models' run folders (each with ``config.json``; ``evaluation.json`` and
        ``metrics.jsonl`` where written).
      hyperparameter_of: objective name -> the hyperparameter the study varies (default:
        the first one in the run's config, e.g. β for ``beta_vae``).

    Returns:
      A ``pandas.DataFrame`` with the columns :data:`TABLE_COLUMNS`.

    Raises:
      FileNotFoundError: a folder without ``config.json`` (named).
    """
    pandas = _pandas()
    rows = []
    for workdir in workdirs:
        rows += _model_rows(RunFolder(workdir), hyperparameter_of or {})
    return pandas.DataFrame(rows, columns=list(TABLE_COLUMNS))


def _wide(table):
    """Models × metrics."""
    keys = ["model", "dataset", "objective", "value", "seed"]
    return table.pivot_table(index=keys, columns="metric", values="score", aggfunc="first")


def variance_explained(table):
    """How much of each metric's spread the hyperparameter explains, and how much the seed.

    Within each dataset × objective, the score's variance over models splits into the
    variance of the per-value means (the hyperparameter's share, the one-way ANOVA's
    η²) and the variance within a value (the seeds' share); the shares sum to 1.

    Returns:
      A DataFrame: ``dataset, objective, metric, hyperparameter_share, seed_share,
      num_models``; a metric constant over the group has no row.
    """
    pandas = _pandas()
    out = []
    for (dataset, objective, metric), group in table.groupby(["dataset", "objective", "metric"]):
        scores = group["score"].to_numpy(float)
        total = float(np.sum((scores - scores.mean()) ** 2))
        if len(scores) < 2 or total <= 0:
            continue
        means = group.groupby("value")["score"].transform("mean").to_numpy(float)
        between = float(np.sum((means - scores.mean()) ** 2))
        share = between / total
        out.append((dataset, objective, metric, share, 1.0 - share, len(scores)))
    columns = ["dataset", "objective", "metric", "hyperparameter_share", "seed_share",
               "num_models"]  # fmt: skip
    return pandas.DataFrame(out, columns=columns)


def rank_correlations(table, metrics: Sequence[str] | None = None):
    """Spearman rank correlation between metrics over all models (metrics × metrics)."""
    wide = _wide(table)
    if metrics is not None:
        wide = wide[[m for m in metrics if m in wide.columns]]
    return wide.rank().corr(method="pearson", min_periods=3)  # Pearson of ranks = Spearman


def selection_rates(table, metrics: Sequence[str], *, num_resamples=1000, top=0.1, seed=0):
    """How often each unsupervised score picks a model in the top decile of each metric.

    Within each dataset × objective, ``num_resamples`` bootstrap resamples of its models
    (drawn with replacement, as many as it has); in each, the model the selector ranks
    first (highest ELBO or UDR, lowest reconstruction error) counts as a hit for a
    metric when its score is at or above the resample's ``1 - top`` quantile. A selector
    that picked at random would hit about ``top`` of the time.

    Returns:
      A DataFrame: ``dataset, objective, selector, metric, rate, num_models``.
    """
    pandas = _pandas()
    rng = np.random.default_rng(seed)
    wide = _wide(table).reset_index()
    out = []
    for (dataset, objective), group in wide.groupby(["dataset", "objective"]):
        n = len(group)
        if n < 2:
            continue
        picks = rng.integers(0, n, size=(num_resamples, n))
        for selector, higher in SELECTORS.items():
            if selector not in group or group[selector].isna().all():
                continue
            rank_by = group[selector].to_numpy(float) * (1 if higher else -1)
            chosen = picks[np.arange(num_resamples), np.nanargmax(rank_by[picks], axis=1)]
            for metric in metrics:
                if metric not in group:
                    continue
                score = group[metric].to_numpy(float)
                threshold = np.nanquantile(score[picks], 1.0 - top, axis=1)
                rate = float(np.mean(score[chosen] >= threshold))
                out.append((dataset, objective, selector, metric, rate, n))
    columns = ["dataset", "objective", "selector", "metric", "rate", "num_models"]
    return pandas.DataFrame(out, columns=columns)


def analyse_study(workdirs: Iterable[str | os.PathLike], out: str | os.PathLike, *, metrics=None,
            hyperparameter_of=None, title="Study") -> dict[str, pathlib.Path]:  # fmt: skip
    """Writes a study's table, statistics, figures and ``study.html`` into ``out``.

    Args:
      workdirs: the models' run folders.
      out: the study folder (created if missing).
      metrics: the supervised metrics the figures show (default: the headline score of
        every metric of :data:`disentax.evaluation.METRICS` present in the table).
      hyperparameter_of: see :func:`study_table`.
      title: the page's title.

    Returns:
      name -> path of every file written (``table_csv``, ``table_parquet`` when pyarrow is
      installed, ``html`` and one entry per figure).
    """
    from disentax import viz
    from disentax.evaluation import METRICS, PROTOCOLS

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = study_table(workdirs, hyperparameter_of=hyperparameter_of)
    present = set(table["metric"])
    if metrics is None:
        metrics = [m.headline for m in METRICS.values() if m.headline in present]
    paths = {"table_csv": out / "study.csv"}
    table.to_csv(paths["table_csv"], index=False)
    try:
        table.to_parquet(out / "study.parquet", index=False)
        paths["table_parquet"] = out / "study.parquet"
    except ImportError:  # pyarrow is optional: the CSV holds the same table
        pass
    shown = table[table["metric"].isin(metrics)]
    stats = {
        "variance": variance_explained(shown),
        "selection": selection_rates(table, metrics),
        "correlation": rank_correlations(table, metrics),
    }
    figures = viz.study_figures(shown, stats, out)
    paths.update(figures)
    html = viz.study_page(title, table, stats, figures, protocols=PROTOCOLS)
    paths["html"] = out / "study.html"
    RunFolder(out).write_atomic(paths["html"], lambda tmp: tmp.write_text(html, encoding="utf-8"))
    return paths
