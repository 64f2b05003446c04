"""Histogram regression trees, grown a level at a time for many tasks at once (GBT's parts).

The building blocks of :func:`disentax.metrics.estimators.gradient_boosted_trees`: codes
cut into quantile bins; per level, histograms of residuals and sample counts for every
node of every task (one matrix product against the one-hot bin matrix, int8 limbs summed
exactly in int32 or float32); the best split of each node with ties credited equally; the
routing of points to children; sums over the leaves. Arrays are laid out task-major:
``T`` tasks (one per (factor, class)), ``V`` nodes of a level, ``L`` codes, ``B`` bins,
``N`` points. No input checks: the caller checks.

References:
  Ke et al., "LightGBM: A Highly Efficient Gradient Boosting Decision Tree", NeurIPS 2017
  (histogram splits, the parent-minus-sibling histogram trick).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from disentax.typing import Array, ArrayLike

__all__ = [
    "apply_bins",
    "best_splits",
    "dot_rows",
    "leaf_sums",
    "level_histograms",
    "lookup",
    "per_leaf_sums",
    "quantile_bin_edges",
    "route",
    "to_parts",
]

_TIE_RTOL = 1e-4  # relative gain within which codes tie for a split


def quantile_bin_edges(x: ArrayLike, num_bins: int) -> Array:
    """Bin edges at the quantiles ``1/B, ..., (B-1)/B`` of each column of ``x``.

    Args:
      x: ``[N, L]`` training values.
      num_bins: number of bins ``B``.

    Returns:
      ``[B - 1, L]`` non-decreasing edges, each half-way between the two sorted values
      around its quantile position (scikit-learn's threshold convention).
    """
    x = jnp.asarray(x, jnp.float32)
    n = x.shape[0]
    ordered = jnp.sort(x, axis=0)
    positions = np.clip((np.arange(1, num_bins) * n) // num_bins, 1, n - 1)
    return 0.5 * (ordered[positions - 1] + ordered[positions])


def apply_bins(x: ArrayLike, edges: Array) -> Array:
    """Bin index of each value: the number of edges strictly below it.

    Args:
      x: ``[N, L]`` values.
      edges: ``[B - 1, L]`` from :func:`quantile_bin_edges`.

    Returns:
      ``[N, L]`` int32 in ``[0, B)``; a split after bin ``b`` sends ``x <= edges[b]`` left.
    """
    x = jnp.asarray(x, jnp.float32)
    return jnp.sum(x[:, None, :] > edges[None], axis=1, dtype=jnp.int32)


def _cumsum_bins(hist: Array) -> Array:
    """float32 cumulative sums over the last (bin) axis, as a product with a triangle."""
    num_bins = hist.shape[-1]
    triangle = jnp.asarray(np.triu(np.ones((num_bins, num_bins), np.float32)))
    return jnp.dot(hist.astype(jnp.float32), triangle, precision=jax.lax.Precision.HIGHEST)


def dot_rows(lhs: Array, onehot_t: Array) -> Array:
    """``lhs [..., T, N] @ onehot_t.T`` as one matrix product -> ``[..., T, L * B]``.

    ``onehot_t [L * B, N]``: both operands contract their last (contiguous) axis, the
    layout XLA:CPU's int8 products run fastest with. int8 operands accumulate exactly in
    int32; float32 ones at full precision.
    """
    flat = lhs.reshape(-1, lhs.shape[-1])
    dims = (((1,), (1,)), ((), ()))
    if flat.dtype == jnp.int8:
        out = jax.lax.dot_general(flat, onehot_t, dims, preferred_element_type=jnp.int32)
    else:
        out = jax.lax.dot_general(flat, onehot_t, dims, precision=jax.lax.Precision.HIGHEST)
    return out.reshape(*lhs.shape[:-1], onehot_t.shape[0])


def to_parts(values: Array, scale: float, precision: str) -> Array:
    """``[T, N]`` float32 -> ``[P + 1, T, N]`` matrix-product operands.

    ``"int8"``: ``q = round(values * scale)`` (|q| < 2**14) split into a signed high and an
    unsigned low 7-bit limb, ``q = 128 * hi + lo``; ``"float32"``: the values themselves.
    The last row is all ones: masked, it counts a node's points.
    """
    ones = jnp.ones_like(values)
    if precision == "int8":
        q = jnp.clip(jnp.round(values * scale), -(2**14) + 1, 2**14 - 1).astype(jnp.int32)
        hi = jnp.floor_divide(q, 128)
        return jnp.stack([hi, q - 128 * hi, ones.astype(jnp.int32)]).astype(jnp.int8)
    return jnp.stack([values, ones])


def _combine_parts(hist: Array, precision: str) -> Array:
    """Sums the limb histograms ``[..., P, T, LB]`` over ``P`` (exactly, in int32)."""
    if precision == "int8":
        return 128 * hist[..., 0, :, :] + hist[..., 1, :, :]
    return hist[..., 0, :, :]


def best_splits(hist_g: Array, hist_w: Array):
    """Best (code, threshold) of every node from its histograms.

    Args:
      hist_g: ``[T, V, L, B]`` sums of residuals per bin for the ``V`` nodes of a level
        (any fixed scale: the gains are only compared and normalised).
      hist_w: ``[T, V, L, B]`` sample counts per bin.

    Returns:
      ``feature [T, V]``, ``threshold [T, V]`` (bins ``<= threshold`` go left; ``B - 1``
      where the node is not split) and ``credit [T, V, L]`` (the gain shared by tied codes).
    """
    num_bins = hist_g.shape[-1]
    cum_g = _cumsum_bins(hist_g)
    cum_w = _cumsum_bins(hist_w)
    s_left, s_tot = cum_g[..., :-1], cum_g[..., -1:]
    w_left, w_tot = cum_w[..., :-1], cum_w[..., -1:]
    w_right = w_tot - w_left
    valid = (w_left > 0.5) & (w_right > 0.5)
    denom = jnp.where(valid, w_tot * w_left * w_right, 1.0)
    # Decrease of the sum of squared residuals: (W s_l - S w_l)^2 / (W w_l w_r).
    gain = jnp.where(valid, jnp.square(w_tot * s_left - s_tot * w_left) / denom, -1.0)
    gain_per_code = jnp.max(gain, axis=-1)  # [T, V, L]
    thr_per_code = jnp.argmax(gain, axis=-1).astype(jnp.int32)
    best = jnp.max(gain_per_code, axis=-1)  # [T, V]
    feature = jnp.argmax(gain_per_code, axis=-1).astype(jnp.int32)
    split = best > 0.0
    tied = (gain_per_code >= best[..., None] * (1.0 - _TIE_RTOL)) & split[..., None]
    credit = jnp.where(tied, (best / jnp.maximum(jnp.sum(tied, -1), 1))[..., None], 0.0)
    threshold = jnp.take_along_axis(thr_per_code, feature[..., None], axis=-1)[..., 0]
    threshold = jnp.where(split, threshold, num_bins - 1)
    feature = jnp.where(split, feature, 0)
    return feature, threshold, credit


def lookup(table: Array, index: Array) -> Array:
    """``table[t, index[t, n]]`` for a small table ``[T, V]`` (selects, no gather)."""
    out = jnp.zeros(index.shape, table.dtype)
    for v in range(table.shape[1]):
        out = jnp.where(index == v, table[:, v : v + 1], out)
    return out


def route(node: Array, bins_t: Array, feature: Array, threshold: Array) -> Array:
    """Children indices ``2 * node + (x > threshold)`` for ``node [T, N]``, ``bins_t [L, N]``."""
    sel_feature = lookup(feature, node)
    sel_threshold = lookup(threshold, node)
    value = jnp.zeros(node.shape, bins_t.dtype)
    for code in range(bins_t.shape[0]):
        value = jnp.where(sel_feature == code, bins_t[code][None], value)
    return 2 * node + (value > sel_threshold).astype(jnp.int32)


def level_histograms(node, depth, operands, parent_g, parent_w, left_w, onehot, precision):
    """Histograms ``[T, 2**depth, L * B]`` of residuals and sample counts of one level.

    ``operands [P + 1, T, N]`` holds the residual limbs and a row of ones (counts). Left
    children are accumulated directly, all their rows by one matrix product; right
    children as parent minus left sibling (exact in the int8 path, whose sums are int32).
    ``left_w``: the left children's count histograms ``[T, V/2, L * B]`` when known
    (then the ones row is not multiplied), else ``None``. At depth 0, ``parent_w`` is the
    root's count histogram ``[L * B]``.
    """
    num_tasks = node.shape[0]
    num_nodes = 2**depth
    if depth == 0:
        hist_g = _combine_parts(dot_rows(operands[:-1], onehot), precision)[:, None]
        hist_w = jnp.broadcast_to(parent_w.astype(hist_g.dtype), hist_g.shape)
        return hist_g, hist_w
    ids = np.arange(0, num_nodes, 2)[:, None, None, None]
    left = (node[None, None] == ids).astype(onehot.dtype)  # [V/2, 1, T, N]
    rows = operands if left_w is None else operands[:-1]
    hist = dot_rows(left * rows[None], onehot)  # [V/2, rows, T, LB]
    g = jnp.moveaxis(_combine_parts(hist, precision), 0, 1)  # [T, V/2, LB]
    w = jnp.moveaxis(hist[:, -1], 0, 1) if left_w is None else left_w
    hist_g = jnp.stack([g, parent_g - g], axis=2).reshape(num_tasks, num_nodes, -1)
    hist_w = jnp.stack([w, parent_w - w], axis=2).reshape(num_tasks, num_nodes, -1)
    return hist_g, hist_w


def leaf_sums(hist: Array, feature: Array, threshold: Array) -> Array:
    """Sums over the two children of each node's split: ``[T, V, L, B] -> [T, 2V]``."""
    chosen = jnp.take_along_axis(hist, feature[..., None, None], axis=2)[:, :, 0]  # [T, V, B]
    cumulative = _cumsum_bins(chosen)
    left = jnp.take_along_axis(cumulative, threshold[..., None], axis=-1)[..., 0]
    right = cumulative[..., -1] - left
    return jnp.stack([left, right], axis=-1).reshape(hist.shape[0], -1)


def per_leaf_sums(values: Array, leaf: Array, num_leaves: int) -> Array:
    """``out[t, k] = sum_n values[t, n] [leaf[t, n] == k]`` for ``values, leaf [T, N]``."""
    num_tasks = values.shape[0]
    segment = leaf + num_leaves * jnp.arange(num_tasks, dtype=leaf.dtype)[:, None]
    sums = jax.ops.segment_sum(values.reshape(-1), segment.reshape(-1), num_tasks * num_leaves)
    return sums.reshape(num_tasks, num_leaves)
