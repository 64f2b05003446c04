"""Gradient-boosted decision trees as one jitted JAX program (the DCI / downstream probe).

A multi-output classifier: every factor (column of ``factors``) gets its own boosted
ensemble, and all ensembles of all factors are fit at once. The semantics follow
scikit-learn's ``GradientBoostingClassifier`` with its defaults (the estimator
disentanglement_lib uses for DCI):

* multinomial deviance; the initial raw score of class ``k`` is the log of its training
  frequency; each stage fits one regression tree per class on the negative gradient
  ``y_k - p_k`` of that stage's start, all classes from the same probabilities;
* regression trees of depth ``max_depth`` grown best-first per level with the squared-error
  criterion (Friedman's MSE picks the same split within a node), at least one sample per
  leaf; a node with no split of positive gain stays a leaf;
* leaf values by the Newton step scikit-learn uses:
  ``(K - 1) / K * sum(y_k - p_k) / sum(p_k (1 - p_k))`` (0 where the denominator vanishes),
  added to the raw scores with learning rate ``learning_rate``;
* feature importances: the sum over every split of every tree of the decrease of the sum of
  squared residuals, normalised to sum to one per factor (scikit-learn divides each tree's
  sum by the number of samples, a constant, before averaging and normalising).

Deliberate differences (documented, measured in the DCI tests against scikit-learn):

* Histogram splits: every code is cut into ``num_bins`` bins at quantiles of its training
  values (edges half-way between neighbouring sorted values), and splits are searched
  between bins rather than between every pair of distinct values. On pre-binned inputs the
  two are the same trees; how far binning moves DCI from scikit-learn on raw codes is
  measured by ``benchmarks/dci_parity.py``.
* Ties between codes: when several codes reach the best gain of a split (within relative
  1e-4) the gain is credited equally to each. scikit-learn breaks such ties with a random
  feature permutation, so its importances equal this split in expectation; duplicated codes
  thus share their importance exactly.
* Histograms are accumulated by one matrix product per tree level against the one-hot bin
  matrix, in exact integer arithmetic: residuals enter as fixed-point numbers split into
  int8 limbs whose products are summed exactly in int32, so no split depends on the order
  in which a CPU adds (the trees are the same on every machine; see
  :mod:`disentax.metrics.estimators.trees`). ``precision="int8"`` (the default) uses
  steps of 2**-14 in two limbs, cheaper; residuals smaller than half a step count as 0.
  ``precision="float32"`` uses steps of 2**-27 in four limbs, at least as fine as float32
  residuals (for parity checks). The hessian sums of the leaf values are float32 sums over
  each leaf's points (no histogram needed).

References:
  Friedman, "Greedy Function Approximation: A Gradient Boosting Machine", Ann. Statist. 2001.
  Ke et al., "LightGBM: A Highly Efficient Gradient Boosting Decision Tree", NeurIPS 2017
  (histogram splits, the parent-minus-sibling histogram trick).
  scikit-learn ``sklearn/ensemble/_gb.py`` (``_update_terminal_regions``, multinomial case).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from disentax.metrics.checks import CLASS_INDEX_HINT, check_finite_float32, check_memory
from disentax.metrics.estimators.trees import (
    LIMB_LAYOUT,
    MAX_POINTS,
    apply_bins,
    best_splits,
    dot_rows,
    leaf_sums,
    level_histograms,
    limb_weights,
    lookup,
    per_leaf_sums,
    quantile_bin_edges,
    route,
    to_parts,
)
from disentax.typing import Array, ArrayLike

# The binning is re-exported: callers reproduce the trees' inputs with it (parity runs).
__all__ = ["GBTFit", "apply_bins", "gradient_boosted_trees", "quantile_bin_edges"]

_NEG = -1e30  # raw score of a class absent from the training labels (probability 0)


class GBTFit(NamedTuple):
    """Result of :func:`gradient_boosted_trees`.

    Attributes:
      importance: ``[L, F]`` split-gain importances, each column sums to 1 (0 where a
        factor's ensemble made no split).
      train_predictions: ``[N, F]`` int32 predicted classes of the training points.
      eval_predictions: ``[M, F]`` int32 predicted classes of the evaluation points.
    """

    importance: Array
    train_predictions: Array
    eval_predictions: Array


def _task_layout(num_classes: tuple[int, ...]):
    """Static index arrays: one task per (factor, class), and a padded [F, Kmax] view."""
    task_factor = np.concatenate([np.full(k, f) for f, k in enumerate(num_classes)])
    task_class = np.concatenate([np.arange(k) for k in num_classes])
    num_tasks = task_factor.size
    k_max = max(num_classes)
    offsets = np.concatenate([[0], np.cumsum(num_classes)[:-1]])
    pad_valid = np.arange(k_max)[None, :] < np.asarray(num_classes)[:, None]
    # Padded positions point at an extra row (index num_tasks) that holds _NEG.
    pad_index = np.where(pad_valid, offsets[:, None] + np.arange(k_max)[None, :], num_tasks)
    return task_factor, task_class, pad_index, pad_valid


def _softmax_per_factor(raw: Array, num_classes: tuple[int, ...]) -> Array:
    """Softmax of ``raw [T, N]`` within each factor's (contiguous) block of classes.

    The per-factor maxima and sums are repeated back to the classes (no concatenation on
    the class axis, which XLA:CPU fuses slowly).
    """
    bounds = np.concatenate([[0], np.cumsum(num_classes)])
    blocks = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))
    sizes, num_tasks = np.asarray(num_classes), int(bounds[-1])
    block_max = jnp.stack([jnp.max(raw[lo:hi], axis=0) for lo, hi in blocks])  # [F, N]
    exps = jnp.exp(raw - jnp.repeat(block_max, sizes, axis=0, total_repeat_length=num_tasks))
    sums = jnp.stack([jnp.sum(exps[lo:hi], axis=0) for lo, hi in blocks])  # [F, N], >= 1
    return exps * jnp.repeat(1.0 / sums, sizes, axis=0, total_repeat_length=num_tasks)


def _materialise(always_true: Array, values):
    """``values``, computed once into buffers: a conditional XLA cannot fuse through.

    XLA:CPU drops ``optimization_barrier`` before fusion, and would otherwise recompute
    the softmax and the routing inside every masked operand of the histogram products.
    ``always_true`` must be a traced ``True`` (e.g. ``step >= 0``).
    """
    return jax.lax.cond(
        always_true, lambda v: v, lambda v: jax.tree_util.tree_map(jnp.zeros_like, v), values
    )


@functools.partial(
    jax.jit,
    static_argnames=(
        "num_classes",
        "num_stages",
        "max_depth",
        "learning_rate",
        "num_bins",
        "precision",
    ),
)
def _fit(
    x_train,
    y_train,
    x_eval,
    *,
    num_classes,
    num_stages,
    max_depth,
    learning_rate,
    num_bins,
    precision,
):
    task_factor, task_class, pad_index, pad_valid = _task_layout(num_classes)
    num_tasks = task_factor.size
    num_codes = x_train.shape[1]
    num_factors = len(num_classes)

    edges = quantile_bin_edges(x_train, num_bins)
    bins_train = apply_bins(x_train, edges)  # [N, L]
    bins_train_t = bins_train.T  # [L, N]
    bins_eval_t = apply_bins(x_eval, edges).T  # [L, M]
    n_train = x_train.shape[0]
    # [L * B, N]: row l * B + b flags the points in bin b of code l.
    onehot = jax.nn.one_hot(bins_train_t, num_bins, dtype=jnp.int8, axis=1).reshape(-1, n_train)
    counts_root = jnp.sum(onehot, axis=1, dtype=jnp.int32)  # [L * B]
    # left_counts[l * B + b] = counts per (code, bin) of the points with bin(l) <= b.
    joint = dot_rows(onehot.reshape(num_codes, num_bins, n_train), onehot)  # [L, B, L * B]
    left_counts = jnp.cumsum(joint, axis=1).reshape(num_codes * num_bins, -1)
    # Gains in fixed-point units for "int8" (as float32 histograms held them) and in
    # residual units for "float32" (its 2**27 scale would overflow the squared gains).
    residual_unit = 1.0 / LIMB_LAYOUT[precision][1]
    gain_unit = 1.0 if precision == "int8" else residual_unit
    gain_weights = limb_weights(precision, n_train, gain_unit)
    leaf_weights = limb_weights(precision, n_train, residual_unit)

    labels = y_train.astype(jnp.int32)[:, task_factor].T  # [T, N]
    targets = labels == jnp.asarray(task_class)[:, None]
    class_counts = jnp.sum(targets, axis=1)
    present = class_counts > 0
    per_factor_present = jax.ops.segment_sum(
        present.astype(jnp.float32), jnp.asarray(task_factor), num_segments=num_factors
    )
    k_present = per_factor_present[task_factor]  # [T]
    newton_scale = jnp.where(k_present > 0, (k_present - 1.0) / jnp.maximum(k_present, 1), 0.0)
    init = jnp.where(present, jnp.log(jnp.maximum(class_counts, 1) / n_train), _NEG)
    raw_train0 = jnp.broadcast_to(init[:, None], (num_tasks, n_train))
    raw_eval0 = jnp.broadcast_to(init[:, None], (num_tasks, bins_eval_t.shape[1]))
    num_leaves = 2**max_depth

    def stage(step, carry):
        raw_train, raw_eval, importance = carry
        always_true = step >= 0
        p = _softmax_per_factor(raw_train, num_classes)
        one_minus_p = 1.0 - p
        gradient = jnp.where(targets, one_minus_p, -p)  # y - p: the negative gradient
        operands, hessian = _materialise(
            always_true, (to_parts(gradient, precision), p * one_minus_p)
        )

        node = jnp.zeros((num_tasks, n_train), jnp.int32)
        node_eval = jnp.zeros((num_tasks, bins_eval_t.shape[1]), jnp.int32)
        hist_g = hist_w = None
        left_w = None
        for depth in range(max_depth):
            hist_g, hist_w = level_histograms(
                node,
                depth,
                operands,
                hist_g,
                counts_root if depth == 0 else hist_w,
                left_w,
                onehot,
                precision,
            )
            shape4 = (num_tasks, 2**depth, num_codes, num_bins)
            limbs4 = (hist_g.shape[0], *shape4)
            feature, threshold, credit = best_splits(
                hist_g.reshape(limbs4), hist_w.reshape(shape4), gain_weights
            )
            importance = importance + jnp.sum(credit, axis=1)
            if depth == 0:
                # The root's left child: its count histogram is a row of the joint counts.
                left_w = jnp.take(left_counts, feature * num_bins + threshold, axis=0)
            else:
                left_w = None
            node = _materialise(always_true, route(node, bins_train_t, feature, threshold))
            node_eval = route(node_eval, bins_eval_t, feature, threshold)

        # Leaf sums: residuals from the last level's histograms, hessians directly.
        sum_g = leaf_sums(hist_g.reshape(limbs4), feature, threshold, leaf_weights)
        sum_h = per_leaf_sums(hessian, node, num_leaves)
        safe = sum_h > 1e-30
        value = jnp.where(safe, newton_scale[:, None] * sum_g / jnp.where(safe, sum_h, 1.0), 0.0)
        value = learning_rate * jnp.where(present[:, None], value, 0.0)
        return raw_train + lookup(value, node), raw_eval + lookup(value, node_eval), importance

    importance0 = jnp.zeros((num_tasks, num_codes), jnp.float32)
    raw_train, raw_eval, importance = jax.lax.fori_loop(
        0, num_stages, stage, (raw_train0, raw_eval0, importance0)
    )

    per_factor = jax.ops.segment_sum(importance, jnp.asarray(task_factor), num_factors)  # [F, L]
    total = jnp.sum(per_factor, axis=1, keepdims=True)
    per_factor = jnp.where(total > 0, per_factor / jnp.where(total > 0, total, 1.0), 0.0)

    raw_all = jnp.concatenate([raw_train, raw_eval], axis=1)
    extended = jnp.concatenate([raw_all, jnp.full((1, raw_all.shape[1]), _NEG, raw_all.dtype)])
    padded = jnp.where(pad_valid[:, :, None], extended[pad_index], _NEG)  # [F, Kmax, N + M]
    predictions = jnp.argmax(padded, axis=1).astype(jnp.int32).T  # [N + M, F]
    return GBTFit(per_factor.T, predictions[:n_train], predictions[n_train:])


def gradient_boosted_trees(
    x_train: ArrayLike,
    y_train: ArrayLike,
    x_eval: ArrayLike,
    *,
    num_classes: tuple[int, ...] | None = None,
    num_stages: int = 100,
    max_depth: int = 3,
    learning_rate: float = 0.1,
    num_bins: int = 32,
    precision: str = "int8",
) -> GBTFit:
    """Fits one boosted classifier per factor and predicts train and evaluation points.

    Jittable and vmappable (all hyperparameters are static); under ``jax.jit`` the labels
    are traced, so ``num_classes`` must be given.

    Args:
      x_train: ``[N, L]`` float features (codes), not standardised (trees do not need it).
      y_train: ``[N, F]`` int labels in ``[0, num_classes[f])``.
      x_eval: ``[M, L]`` float features to predict.
      num_classes: static number of classes per factor; by default ``max + 1`` of each
        column of ``y_train`` (needs concrete labels). Classes absent from ``y_train`` are
        never predicted (scikit-learn's classes are the labels it was fit on).
      num_stages: boosting stages (scikit-learn's ``n_estimators``, default 100).
      max_depth: depth of every tree (default 3).
      learning_rate: shrinkage of every tree's leaf values (default 0.1).
      num_bins: histogram bins per code (default 32).
      precision: ``"int8"`` (fixed-point residuals as two int8 limbs, exact int32 sums;
        the fast default) or ``"float32"`` (float32 histograms, for parity checks).

    Returns:
      :class:`GBTFit` with ``importance [L, F]``, ``train_predictions [N, F]`` and
      ``eval_predictions [M, F]``.

    Raises:
      ValueError / TypeError: bad shapes, dtypes, values or hyperparameters.

    References:
      Friedman 2001; scikit-learn ``GradientBoostingClassifier`` (see the module docstring).

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.metrics.estimators import gradient_boosted_trees
      >>> factors = jnp.stack([jnp.arange(600) % 3, jnp.arange(600) % 4], axis=1)
      >>> codes = factors.astype(jnp.float32)
      >>> fit = gradient_boosted_trees(codes, factors, codes, num_stages=10)
      >>> bool((fit.eval_predictions == factors).all()), fit.importance.round(2).tolist()
      (True, [[1.0, 0.0], [0.0, 1.0]])
    """
    _check_arrays(x_train, y_train, x_eval)
    _check_hyperparameters(
        num_stages=num_stages,
        max_depth=max_depth,
        learning_rate=learning_rate,
        num_bins=num_bins,
        precision=precision,
    )
    num_classes = _num_classes(y_train, num_classes)
    for name, x in (("x_train", x_train), ("x_eval", x_eval)):
        check_finite_float32(x, name)
    _check_memory(num_classes, np.shape(x_train), np.shape(x_eval)[0], num_bins)
    return _fit(
        jnp.asarray(x_train, jnp.float32),
        jnp.asarray(y_train, jnp.int32),
        jnp.asarray(x_eval, jnp.float32),
        num_classes=num_classes,
        num_stages=num_stages,
        max_depth=max_depth,
        learning_rate=float(learning_rate),
        num_bins=num_bins,
        precision=precision,
    )


def _check_arrays(x_train, y_train, x_eval) -> None:
    """Shapes and dtypes of the inputs (known under ``jit``), before anything reaches XLA."""
    x_train_shape, y_shape, x_eval_shape = np.shape(x_train), np.shape(y_train), np.shape(x_eval)
    if len(x_train_shape) != 2 or len(x_eval_shape) != 2:
        raise ValueError(
            f"x_train and x_eval must be 2-D [N, L]; got shapes {x_train_shape}, {x_eval_shape}"
        )
    if len(y_shape) != 2 or y_shape[0] != x_train_shape[0]:
        raise ValueError(
            f"y_train must be [N, F] with N = {x_train_shape[0]} (rows of x_train); "
            f"got shape {y_shape}"
        )
    if x_eval_shape[1] != x_train_shape[1]:
        raise ValueError(
            f"x_eval must have the {x_train_shape[1]} columns of x_train; got {x_eval_shape[1]}"
        )
    if not jnp.issubdtype(jnp.result_type(y_train), jnp.integer):
        raise TypeError(f"y_train must be integer class indices; got {jnp.result_type(y_train)}")
    if x_train_shape[0] < 2:
        raise ValueError(f"x_train needs at least 2 points; got {x_train_shape[0]}")
    if x_train_shape[0] >= MAX_POINTS:
        raise ValueError(
            f"x_train has {x_train_shape[0]} points; the exact int32 histograms of the trees "
            f"take fewer than {MAX_POINTS} (subsample the training points)"
        )


def _check_hyperparameters(*, num_stages, max_depth, learning_rate, num_bins, precision) -> None:
    if precision not in ("int8", "float32"):
        raise ValueError(f"precision must be 'int8' or 'float32'; got {precision!r}")
    for name, value in (("num_stages", num_stages), ("max_depth", max_depth)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int; got {value!r}")
    if not isinstance(num_bins, int) or num_bins < 2:
        raise ValueError(f"num_bins must be an int >= 2; got {num_bins!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0; got {learning_rate!r}")


def _check_memory(num_classes, train_shape, num_eval, num_bins) -> None:
    """Refuses class counts whose per-task arrays (``[T, N + M]``, T = sum) cannot fit."""
    (n, num_codes), num_tasks = train_shape, sum(num_classes)
    width = num_codes * num_bins
    check_memory(
        20 * num_tasks * (n + num_eval) + n * width + 8 * width * width,
        what="gradient_boosted_trees",
        cause=(
            f"num_classes = {num_classes} make {num_tasks} tasks (one per class of each "
            f"factor), each with arrays over the {n} + {num_eval} points; {CLASS_INDEX_HINT}"
        ),
    )


def _num_classes(y_train, num_classes) -> tuple[int, ...]:
    """The static class counts: given, or ``max + 1`` of each column of concrete labels."""
    num_factors = np.shape(y_train)[1]
    concrete = not isinstance(y_train, jax.core.Tracer)
    if num_classes is None:
        if not concrete:
            raise ValueError(
                "num_classes must be given when y_train is traced (under jit/vmap); "
                "pass a tuple with the number of classes of each factor"
            )
        y_np = np.asarray(y_train)
        if y_np.size and y_np.min() < 0:
            raise ValueError("y_train must be non-negative class indices")
        num_classes = tuple(int(v) + 1 for v in y_np.max(axis=0))
    num_classes = tuple(int(k) for k in num_classes)
    if len(num_classes) != num_factors or min(num_classes) < 1:
        raise ValueError(
            f"num_classes must hold one positive count per factor ({num_factors}); "
            f"got {num_classes}"
        )
    if concrete:
        y_np = np.asarray(y_train)
        if y_np.size and (y_np.min() < 0 or np.any(y_np.max(axis=0) >= np.array(num_classes))):
            raise ValueError(f"y_train values must lie in [0, num_classes) = {num_classes}")
    return num_classes
