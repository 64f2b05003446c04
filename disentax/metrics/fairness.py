"""Unfairness of classifiers on a representation (Locatello et al., NeurIPS 2019, Sec. 4).

Semantics of disentanglement_lib ``evaluation/metrics/fairness.py``:

1. one classifier per *target* factor ``i`` is fit on ``num_train`` random points
   (codes -> factor ``i``); the fairness study binds gradient-boosted trees
   (``predictor.predictor_fn = @gradient_boosting_classifier``), so that is the predictor
   here (:func:`disentax.metrics.estimators.gradient_boosted_trees`);
2. for every *sensitive* factor ``j != i``: ``num_test_points_per_class`` factor vectors
   are drawn, and for every value ``c`` of ``j`` the same vectors with ``j`` set to ``c``
   are rendered, encoded and classified: ``counts[k, c]`` = how many were predicted class
   ``k`` of factor ``i``;
3. :func:`inter_group_fairness` of ``counts``: the total-variation distance between the
   prediction distribution of each sensitive value ``c`` and the distribution over all
   values, ``TV_c = ½ Σ_k |p(k | c) − p(k)|``; its mean over ``c`` (weighted by the points
   per value, all equal) and its maximum;
4. :func:`fairness_scores`: every aggregate of the ``[F, F]`` matrices (diagonal left out).

Keys (the reference's, for ``prefix`` in ``mean_fairness``, ``max_fairness``):
``{prefix}:pred{i}:sens{j}`` for ``i != j``; ``{prefix}:pred{i}:mean_sens``,
``{prefix}:pred{i}:max_sens``, ``{prefix}:sens{j}:mean_pred``, ``{prefix}:sens{j}:max_pred``;
and ``{prefix}:{a}_sens:{b}_pred``, ``{prefix}:{a}_pred:{b}_sens`` for ``a, b`` in
``mean``, ``max``. The paper's score is ``mean_fairness:mean_pred:mean_sens``.

Deliberate differences: the reference draws fresh base vectors for every (target,
sensitive) pair; here one draw per sensitive factor serves every target (same
distribution, one encoding instead of ``F − 1``); the trees split on quantile bins (see
the estimator); points come from JAX keys, so scores match in distribution, not draw for
draw.

References:
  Locatello, Abbati, Rainforth, Bauer, Schölkopf, Bachem. On the Fairness of
  Disentangled Representations. NeurIPS 2019.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from disentax.metrics.encoding import encode_factors
from disentax.metrics.estimators.gbt import gradient_boosted_trees
from disentax.metrics.interventions import (
    as_jit_argument,
    check_interventional_args,
    split_representation_fn,
    unwrap_dataset,
)
from disentax.typing import Array, ArrayLike, PRNGKey

__all__ = ["fairness", "fairness_scores", "inter_group_fairness"]


def inter_group_fairness(counts: ArrayLike) -> tuple[Array, Array]:
    """Mean and maximum total variation of each sensitive class from the overall one.

    Args:
      counts: ``[K_pred, K_sens]`` prediction counts (rows: predicted classes of the
        target, columns: values of the sensitive factor).

    Returns:
      ``(mean, max)``: the TV distances ``½ Σ_k |p(k | c) − p(k)|`` averaged over the
      columns weighted by their counts, and their maximum. Jittable.

    Examples:
      >>> import numpy as np
      >>> from disentax.metrics import inter_group_fairness
      >>> mean, top = inter_group_fairness(np.array([[10, 0], [0, 10]]))  # fully unfair
      >>> float(mean), float(top)
      (0.5, 0.5)
    """
    counts = jnp.asarray(counts, jnp.float32)
    if counts.ndim != 2:
        raise ValueError(f"counts must be [K_pred, K_sens], got shape {counts.shape}")
    per_class = jnp.sum(counts, axis=0)
    overall = jnp.sum(counts, axis=1) / jnp.sum(counts)
    tv = 0.5 * jnp.sum(jnp.abs(counts / per_class - overall[:, None]), axis=0)
    return jnp.sum(tv * per_class) / jnp.sum(per_class), jnp.max(tv)


def fairness_scores(matrix: ArrayLike, prefix: str) -> dict[str, Array]:
    """Every aggregate of an ``[F, F]`` (target × sensitive) matrix, as the reference keys.

    The diagonal (a factor as its own sensitive factor) is left out of every aggregate.

    Examples:
      >>> import numpy as np
      >>> from disentax.metrics import fairness_scores
      >>> scores = fairness_scores(np.array([[0.0, 0.2], [0.4, 0.0]]), "mean_fairness")
      >>> round(float(scores["mean_fairness:pred1:sens0"]), 3)
      0.4
      >>> round(float(scores["mean_fairness:mean_pred:mean_sens"]), 3)  # mean of 0.2 and 0.4
      0.3
    """
    matrix = jnp.asarray(matrix, jnp.float32)
    num = matrix.shape[0]
    if matrix.ndim != 2 or matrix.shape[1] != num or num < 2:
        raise ValueError(f"matrix must be square [F, F] with F >= 2, got shape {matrix.shape}")
    off = ~np.eye(num, dtype=bool)
    masked_max = jnp.where(off, matrix, -jnp.inf)
    row_mean = jnp.sum(jnp.where(off, matrix, 0.0), axis=1) / (num - 1)  # per target
    row_max = jnp.max(masked_max, axis=1)
    col_mean = jnp.sum(jnp.where(off, matrix, 0.0), axis=0) / (num - 1)  # per sensitive
    col_max = jnp.max(masked_max, axis=0)
    out = {}
    for i in range(num):
        for j in range(num):
            if i != j:
                out[f"{prefix}:pred{i}:sens{j}"] = matrix[i, j]
    for i in range(num):
        out[f"{prefix}:pred{i}:mean_sens"] = row_mean[i]
        out[f"{prefix}:pred{i}:max_sens"] = row_max[i]
    for j in range(num):
        out[f"{prefix}:sens{j}:mean_pred"] = col_mean[j]
        out[f"{prefix}:sens{j}:max_pred"] = col_max[j]
    out[f"{prefix}:mean_sens:mean_pred"] = jnp.mean(col_mean)
    out[f"{prefix}:mean_sens:max_pred"] = jnp.mean(col_max)
    out[f"{prefix}:max_sens:mean_pred"] = jnp.max(col_mean)
    out[f"{prefix}:max_sens:max_pred"] = jnp.max(col_max)
    out[f"{prefix}:mean_pred:mean_sens"] = jnp.mean(row_mean)
    out[f"{prefix}:mean_pred:max_sens"] = jnp.mean(row_max)
    out[f"{prefix}:max_pred:mean_sens"] = jnp.max(row_mean)
    out[f"{prefix}:max_pred:max_sens"] = jnp.max(row_max)
    return out


def intervened_factors(dataset, key: PRNGKey, per_class: int) -> tuple[Array, np.ndarray]:
    """``[T, P, F]`` test factors: for each (sensitive j, value c) block, ``P`` vectors.

    One draw of ``P`` vectors per sensitive factor ``j``, repeated for each of its values
    ``c`` with column ``j`` set to ``c``; ``T = Σ_j K_j``. Also returns ``J [T]``, the
    sensitive factor of each block (NumPy, static).
    """
    sizes = tuple(int(k) for k in dataset.factor_sizes)
    num = len(sizes)
    sens = np.repeat(np.arange(num), sizes)
    value = np.concatenate([np.arange(k) for k in sizes])
    base = jnp.stack(
        [dataset.sample_factors(jax.random.fold_in(key, j), per_class) for j in range(num)]
    )
    blocks = base[sens]  # [T, P, F]
    column = np.arange(num)[None, None, :] == sens[:, None, None]
    return jnp.where(column, jnp.asarray(value, jnp.int32)[:, None, None], blocks), sens


def _unfairness(predictions: Array, sens: np.ndarray, sizes: tuple[int, ...]):
    """``(mean, max)`` TV matrices ``[F_target, F_sens]`` from ``predictions [T, P, F]``."""
    num = len(sizes)
    dist = jnp.mean(jax.nn.one_hot(predictions, max(sizes)), axis=1)  # [T, F, K]
    member = jnp.asarray(sens[:, None] == np.arange(num)[None, :], jnp.float32)  # [T, F_sens]
    values = jnp.asarray(sizes, jnp.float32)
    overall = jnp.einsum("ts,tik->sik", member, dist) / values[:, None, None]
    tv = 0.5 * jnp.sum(jnp.abs(dist - overall[sens]), axis=-1)  # [T, F_target]
    mean_tv = jnp.einsum("ts,ti->is", member, tv) / values[None, :]
    max_tv = jnp.max(jnp.where(member[:, None, :] > 0, tv[:, :, None], -jnp.inf), axis=0)
    diagonal = np.eye(num, dtype=bool)
    return jnp.where(diagonal, 0.0, mean_tv), jnp.where(diagonal, 0.0, max_tv)


@functools.partial(
    jax.jit,
    static_argnames=("static_fn", "num_train", "per_class", "points_per_chunk", "gbt"),
)
def _score(key, dataset, dyn_fn, *, static_fn, num_train, per_class, points_per_chunk, gbt):
    dataset = unwrap_dataset(dataset)
    represent = static_fn if static_fn is not None else dyn_fn
    sizes = tuple(int(k) for k in dataset.factor_sizes)
    k_train, k_test = jax.random.split(key)
    factors_train = dataset.sample_factors(k_train, num_train)
    encode = functools.partial(encode_factors, points_per_chunk=points_per_chunk)
    codes_train = encode(dataset, represent, factors_train)
    test, sens = intervened_factors(dataset, k_test, per_class)
    codes_test = encode(dataset, represent, test.reshape(-1, len(sizes)))
    fit = gradient_boosted_trees(
        codes_train, factors_train, codes_test, num_classes=sizes, **dict(gbt)
    )
    predictions = fit.eval_predictions.reshape(test.shape)
    mean_tv, max_tv = _unfairness(predictions, sens, sizes)
    return {**fairness_scores(mean_tv, "mean_fairness"), **fairness_scores(max_tv, "max_fairness")}


def fairness(
    key: PRNGKey,
    dataset,
    representation_fn: Callable[[Array], Array],
    *,
    num_train: int = 10000,
    num_test_points_per_class: int = 100,
    points_per_chunk: int = 500,
    num_stages: int = 100,
    max_depth: int = 3,
    num_bins: int = 32,
) -> dict[str, Array]:
    """Unfairness scores of gradient-boosted predictors of every factor from the codes.

    Args:
      key: typed PRNG key.
      dataset: a :class:`disentax.data.GroundTruthData` with a jittable ``observations``
        and at least 2 factors.
      representation_fn: jittable ``images [M, H, W, C] -> codes [M, L]``.
      num_train: training points of the predictors (fairness study: 10000).
      num_test_points_per_class: base vectors per sensitive factor (study: 100); each is
        rendered once per value of that factor.
      points_per_chunk: images rendered and encoded at a time.
      num_stages: boosting stages (scikit-learn's default 100).
      max_depth: tree depth (default 3).
      num_bins: the trees' histogram bins per code.

    Returns:
      dict of scalars keyed as the reference (see the module docstring).

    Raises:
      TypeError / ValueError: a bad key, dataset, function or size (before any compile).

    Examples:
      A representation that ignores the sensitive factors is fair: here the codes are
      the factors themselves, so predicting one never depends on the others.

      >>> import jax
      >>> from disentax.data import Identity
      >>> from disentax.metrics.fairness import fairness
      >>> flat = lambda images: images.reshape(images.shape[0], -1)
      >>> scores = fairness(jax.random.key(0), Identity((3, 4)), flat, num_train=200,
      ...                   num_test_points_per_class=20, num_stages=5)
      >>> round(float(scores["mean_fairness:mean_pred:mean_sens"]), 6)
      0.0
    """
    check_interventional_args(
        key,
        dataset,
        num_train=num_train,
        num_test_points_per_class=num_test_points_per_class,
        points_per_chunk=points_per_chunk,
    )
    dyn_fn, static_fn = split_representation_fn(representation_fn)
    gbt = (("num_stages", num_stages), ("max_depth", max_depth), ("num_bins", num_bins))
    return _score(
        key,
        as_jit_argument(dataset),
        dyn_fn,
        static_fn=static_fn,
        num_train=int(num_train),
        per_class=int(num_test_points_per_class),
        points_per_chunk=int(points_per_chunk),
        gbt=gbt,
    )
