"""The metric suite: :func:`evaluate` runs the metric table on one representation.

:func:`evaluate` draws the reference-sized train and test sets (10,000 / 5,000 points, as
disentanglement_lib's study configs) once, shares them among the metrics of kind
``"codes"``, lets the others draw their own points from keys folded from the evaluation
key, and times each metric. Each metric's run returns its values (:class:`Scored`); the
record is assembled from them.

Metric names (:data:`disentax.evaluation.METRICS`): ``mig``, ``mig_sampled``,
``mig_chen2018``, ``sap``, ``dci``, ``modularity``, ``explicitness``, ``irs``,
``unsupervised``, ``beta_vae_score``, ``factor_vae_score``, ``downstream``. The three MIGs
are three protocols (see :mod:`disentax.evaluation.table`): ``mig`` compares with
disentanglement_lib's published MIG, ``mig_chen2018`` with Chen et al.'s, ``mig_sampled``
with neither. ``mig_chen2018`` encodes the dataset's whole factor grid (737,280 images
for dSprites). Scores are flat ``/``-joined keys, e.g.
``dci/disentanglement``; ``beta_vae_score`` and ``factor_vae_score`` hold the evaluation
accuracy (their train accuracy and details sit under ``beta_vae_score/...``). UDR needs
several models and is not part of a single-run evaluation.

References:
  Locatello et al., ICML 2019 (disentanglement_lib ``evaluation/evaluate.py`` and the
  study's ``metric_configs``: every metric with ``evaluation.random_seed = 0``).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from disentax.evaluation.representation import sample_codes
from disentax.evaluation.table import METRICS, Metric
from disentax.evaluation.unlabelled import evaluate_without_factors
from disentax.metrics.interventions import (
    check_interventional_args,
    chunking,
    split_representation_fn,
)
from disentax.typing import Array, PRNGKey

__all__ = ["EVAL_SIZES", "METRICS", "Scored", "evaluate", "resolve_eval_sizes"]

# Metrics that draw their own points (keys folded from the evaluation key) instead of
# scoring the shared train/test sets; when only these run, the sets are not drawn.
OWN_POINTS = frozenset(name for name, metric in METRICS.items() if metric.kind != "codes")


class Scored(NamedTuple):
    """What one metric run returns: its scalar scores and its matrices, by output key."""

    scores: dict[str, Array]
    matrices: dict[str, Array]


@dataclasses.dataclass(frozen=True)
class _Inputs:
    """Everything a metric of any kind may read (frozen: runners only read it)."""

    key: PRNGKey
    dataset: object
    representation_fn: Callable
    posterior_fn: Callable | None
    num_train: int
    sizes: tuple[int, ...]
    interventional: dict
    train: tuple[Array, Array] | None  # (codes, factors) shared by the "codes" metrics
    test: tuple[Array, Array] | None


def _run_codes(metric: Metric, inputs: _Inputs) -> dict | None:
    return metric.score(*inputs.train, *inputs.test, num_classes=inputs.sizes)


def _run_posterior(metric: Metric, inputs: _Inputs) -> dict | None:
    if inputs.posterior_fn is None:
        return None
    if metric.grid_factors is not None:  # a protocol on the whole grid: no points drawn
        (mean, logvar), factors = _encode_grid(inputs.dataset, inputs.posterior_fn)
        factors = factors[:, list(metric.grid_factors(inputs.dataset))]
    else:
        (mean, logvar), factors = sample_codes(
            jax.random.fold_in(inputs.key, metric.fold),
            inputs.dataset,
            inputs.posterior_fn,
            inputs.num_train,
        )
    return metric.score(jax.random.fold_in(inputs.key, metric.fold + 1), mean, logvar, factors)


@functools.partial(jax.jit, static_argnames=("static_fn", "num_chunks"))
def _encode_chunks(factors, dataset, dyn_fn, *, static_fn, num_chunks):
    represent = static_fn if static_fn is not None else dyn_fn
    chunks = factors.reshape(num_chunks, -1, factors.shape[1])
    out = jax.lax.map(lambda f: represent(dataset.observations(f)), chunks)
    return jax.tree_util.tree_map(lambda a: a.reshape(-1, *a.shape[2:]), out)


def _encode_grid(dataset, representation_fn, *, points_per_chunk: int = 1000):
    """``(codes, factors [G, F])`` of every point of ``dataset``'s factor grid, in order.

    The grid is row-major (the last factor fastest); ``codes`` is whatever
    ``representation_fn`` returns per image (a tuple for a posterior function). One
    jitted program encodes ``points_per_chunk`` images at a time.
    """
    sizes = tuple(int(s) for s in dataset.factor_sizes)
    grid = np.indices(sizes, dtype=np.int32).reshape(len(sizes), -1).T
    num_chunks, padded = chunking(grid.shape[0], points_per_chunk)
    padded_grid = np.concatenate([grid, np.zeros((padded - grid.shape[0], len(sizes)), np.int32)])
    dyn_fn, static_fn = split_representation_fn(representation_fn)
    codes = _encode_chunks(
        jnp.asarray(padded_grid), dataset, dyn_fn, static_fn=static_fn, num_chunks=num_chunks
    )
    return jax.tree_util.tree_map(lambda a: a[: grid.shape[0]], codes), jnp.asarray(grid)


def _grid_records(names, dataset) -> dict:
    """What the whole-grid metrics among ``names`` score: factor names and grid size."""
    records = {}
    for name in names:
        columns = METRICS[name].grid_factors
        if columns is not None:
            records[name] = {
                "factors": [dataset.factor_names[i] for i in columns(dataset)],
                "num_points": int(np.prod(dataset.factor_sizes)),
            }
    return records


def _run_interventional(metric: Metric, inputs: _Inputs) -> dict | None:
    key = jax.random.fold_in(inputs.key, metric.fold)
    return metric.score(key, inputs.dataset, inputs.representation_fn, **inputs.interventional)


# Kind -> how evaluate calls a metric of that kind (None: skipped, needs posterior_fn).
_RUNNERS = {
    "codes": _run_codes,
    "posterior": _run_posterior,
    "interventional": _run_interventional,
}


def _run(metric: Metric, inputs: _Inputs) -> Scored | None:
    """Scores one metric: its outputs split into scores and matrices (None: skipped)."""
    out = _RUNNERS[metric.kind](metric, inputs)
    if out is None:
        return None
    matrices = {k: v for k, v in out.items() if k in metric.matrices}
    return Scored({k: v for k, v in out.items() if k not in metric.matrices}, matrices)


def _num_codes(dataset, representation_fn) -> int:
    """``L`` of ``representation_fn`` on ``dataset`` (shapes only; nothing is computed)."""

    def one(key):
        return representation_fn(dataset.observations(dataset.sample_factors(key, 1)))

    return int(jax.eval_shape(one, jax.random.key(0)).shape[1])


_INTERVENTIONAL_SIZES = {
    "batch_size": 64,
    "num_train": 10000,
    "num_eval": 5000,
    "num_variance_estimate": 10000,
}

# Named sizes of the BetaVAE/FactorVAE scores. "reference" is the study's (about 1.9M and
# 1M encoded images, too slow for a CPU run's final evaluation); "quick" keeps the
# reference batch (64) and variance estimate but votes 500 train / 300 eval times, about
# 0.16M images in all. "auto" is "reference" on accelerators, "quick" on CPU (timings in
# docs/performance/evaluation.md). The sizes used are recorded in the result's ``sizes``.
EVAL_SIZES = {
    "reference": {},
    "quick": {"num_train": 500, "num_eval": 300},
}


def resolve_eval_sizes(name: str) -> dict:
    """``interventional_sizes`` overrides of a named preset (``auto``/``reference``/``quick``).

    Example:
      >>> resolve_eval_sizes("quick")
      {'num_train': 500, 'num_eval': 300}
    """
    if name == "auto":
        name = "quick" if jax.default_backend() == "cpu" else "reference"
    if name not in EVAL_SIZES:
        raise ValueError(f"eval_sizes must be one of {['auto', *EVAL_SIZES]}, got {name!r}")
    return dict(EVAL_SIZES[name])


def _to_json(value):
    array = np.asarray(value)
    if array.ndim == 0:
        return array.item()
    return array.tolist()


def _interventional_sizes(overrides: Mapping[str, int] | None) -> dict:
    sizes = dict(_INTERVENTIONAL_SIZES)
    extra = set(overrides or {}) - set(sizes)
    if extra:
        raise ValueError(f"interventional_sizes: unknown keys {sorted(extra)}")
    sizes.update(overrides or {})
    return sizes


def _shared_sets(key, dataset, representation_fn, num_train, num_test):
    """The train and test ``(codes, factors)`` of the "codes" metrics, and their seconds."""
    start = time.perf_counter()
    train = sample_codes(jax.random.fold_in(key, 1), dataset, representation_fn, num_train)
    test = sample_codes(jax.random.fold_in(key, 2), dataset, representation_fn, num_test)
    jax.block_until_ready((train[0], test[0]))
    return train, test, time.perf_counter() - start


def _run_all(names, inputs: _Inputs, progress_fn=None) -> tuple[dict, dict, dict, dict]:
    """Scores and matrices (as JSON values), skips and seconds of the metrics ``names``."""
    scores, matrices, skipped, seconds = {}, {}, {}, {}
    for name in names:
        start = time.perf_counter()
        try:
            out = _run(METRICS[name], inputs)
        except ValueError as err:  # degenerate-but-valid input, e.g. constant codes
            out = str(err)
        if out is None:
            out = "needs posterior_fn (mean and logvar)"
        if isinstance(out, str):
            skipped[name] = outcome = out
        else:
            out = jax.block_until_ready(out)
            seconds[name] = time.perf_counter() - start
            outcome = {k: _to_json(v) for k, v in out.scores.items()}
            scores.update(outcome)
            matrices.update({k: _to_json(v) for k, v in out.matrices.items()})
        if progress_fn is not None:
            progress_fn(name, outcome, time.perf_counter() - start)
    return scores, matrices, skipped, seconds


def evaluate(
    key: PRNGKey,
    dataset,
    representation_fn: Callable[[Array], Array],
    *,
    metrics: Sequence[str] | None = None,
    num_train: int = 10000,
    num_test: int = 5000,
    posterior_fn: Callable | None = None,
    interventional_sizes: Mapping[str, int] | None = None,
    progress_fn: Callable[[str, dict | str, float], None] | None = None,
) -> dict:
    """Scores ``representation_fn`` on ``dataset`` with the requested metrics.

    The train and test sets (``num_train`` / ``num_test`` random points, factors and
    codes) are drawn once from ``key`` and shared by the array metrics; the
    interventional scores (BetaVAE, FactorVAE) and ``mig_sampled`` draw their own points
    from keys folded from ``key``, at the reference sizes; ``mig_chen2018`` encodes the
    whole factor grid.

    Args:
      key: typed PRNG key.
      dataset: :class:`disentax.data.GroundTruthData` with jittable observations.
      representation_fn: jittable ``images -> codes [M, L]``.
      metrics: names from :data:`METRICS` (default: all).
      num_train: training points (reference: 10000).
      num_test: test points (reference: 5000).
      posterior_fn: ``images -> (mean, logvar)`` for ``mig_sampled`` and
        ``mig_chen2018`` (skipped without).
      interventional_sizes: overrides of the BetaVAE/FactorVAE sizes ``batch_size``,
        ``num_train``, ``num_eval``, ``num_variance_estimate`` (default: the
        reference's 64 / 10000 / 5000 / 10000).
      progress_fn: called as each metric ends with ``(name, scores, seconds)``: the
        metric's scores (output key -> JSON value), or the reason it was skipped (a
        ``str``), and its wall seconds (e.g. to print progress).

    Returns:
      dict with ``metrics`` (name -> float), ``matrices`` (``mutual_info`` and
      ``dci_importance`` ``[L, F]`` when those metrics ran, ``irs_matrix``), ``seconds``
      (per metric, plus ``sampling``; wall clock including compilation), ``sizes`` (with,
      for a whole-grid metric such as ``mig_chen2018``, ``sizes[name]``: the names of the
      factors it scored and the grid size), ``skipped`` (metrics that could not run,
      with the reason). A dataset without ground-truth factors (``has_factors`` False,
      e.g. CelebA) gets :func:`~disentax.evaluation.unlabelled.evaluate_without_factors`'s
      record: the factor-based metrics skipped, a ``note`` saying so.

    Example:
      >>> import jax
      >>> from disentax.data import Identity
      >>> flat = lambda images: images.reshape(images.shape[0], -1)
      >>> result = evaluate(jax.random.key(0), Identity((3, 4)), flat, metrics=["mig"],
      ...                   num_train=200, num_test=100)
      >>> result["metrics"]["mig"] > 0.9  # one code per factor
      True
    """
    names = list(METRICS) if metrics is None else list(metrics)
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: {sorted(METRICS)}")
    if not getattr(dataset, "has_factors", True):  # images without known factors
        return evaluate_without_factors(
            key,
            dataset,
            representation_fn,
            metrics=names,
            num_train=num_train,
            num_test=num_test,
            progress_fn=progress_fn,
        )
    check_interventional_args(key, dataset, num_train=num_train, num_test=num_test)
    interventional = _interventional_sizes(interventional_sizes)
    seconds, train, test = {}, None, None
    if any(name not in OWN_POINTS for name in names):
        train, test, seconds["sampling"] = _shared_sets(
            key, dataset, representation_fn, num_train, num_test
        )
        num_codes = int(train[0].shape[1])
    else:  # only metrics that draw their own points: the shared sets are not needed
        num_codes = _num_codes(dataset, representation_fn)
    inputs = _Inputs(
        key=key,
        dataset=dataset,
        representation_fn=representation_fn,
        posterior_fn=posterior_fn,
        num_train=int(num_train),
        sizes=tuple(int(k) for k in dataset.factor_sizes),
        interventional=interventional,
        train=train,
        test=test,
    )
    scores, matrices, skipped, timed = _run_all(names, inputs, progress_fn)
    seconds.update(timed)
    return {
        "metrics": scores,
        "matrices": matrices,
        "seconds": seconds,
        "sizes": {
            "num_train": int(num_train),
            "num_test": int(num_test),
            "num_codes": num_codes,
            "factor_sizes": list(inputs.sizes),
            "interventional": interventional,
            **_grid_records([n for n in names if n in timed], dataset),
        },
        "skipped": skipped,
        # which factor distribution was scored (a Correlated dataset says which pairs)
        "data": getattr(dataset, "describe", lambda: {"distribution": "independent"})(),
    }
