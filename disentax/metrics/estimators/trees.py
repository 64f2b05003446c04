"""Histogram regression trees, grown a level at a time for many tasks at once (GBT's parts).

The building blocks of :func:`disentax.metrics.estimators.gradient_boosted_trees`: codes
cut into quantile bins; per level, histograms of residuals and sample counts for every
node of every task (one matrix product against the one-hot bin matrix, int8 limbs summed
exactly in int32); the best split of each node with ties credited equally; the
routing of points to children; sums over the leaves. Arrays are laid out task-major:
``T`` tasks (one per (factor, class)), ``V`` nodes of a level, ``L`` codes, ``B`` bins,
``N`` points, ``P`` limbs. No input checks: the caller checks.

Determinism: residuals enter as fixed-point integers split into ``P`` int8 limbs whose
histograms, parent-minus-sibling differences and cumulative sums over the bins are exact
int32 arithmetic (for ``N < MAX_POINTS``); each limb is rounded to float32 only once,
where the gains are formed elementwise. No split therefore depends on the order in which
a matrix product or a reduction adds its terms, which differs between CPUs (vector width,
cache blocking, threads): the trees are the same on every machine. With float32
histograms, splits that tie in exact arithmetic were decided by rounding noise.

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
    "LIMB_LAYOUT",
    "MAX_POINTS",
    "apply_bins",
    "best_splits",
    "combine_limbs",
    "dot_rows",
    "leaf_sums",
    "level_histograms",
    "limb_groups",
    "limb_weights",
    "lookup",
    "per_leaf_sums",
    "quantile_bin_edges",
    "route",
    "to_parts",
]

_TIE_RTOL = 1e-4  # relative gain within which codes tie for a split
_LIMB_BITS = 7  # int8 limbs: a signed high limb and unsigned 7-bit lower limbs
MAX_POINTS = 2**24  # a limb's sum over N points is below 128 N <= 2**31: exact in int32

# Fixed-point residuals (residuals lie in [-1, 1]) per precision: (limbs, scale).
# "int8": 14-bit steps, two limbs; "float32": 27-bit steps (finer than float32's own
# rounding of residuals above 1/16), four limbs.
LIMB_LAYOUT = {"int8": (2, 2.0**14), "float32": (4, 2.0**27)}


def quantile_bin_edges(x: ArrayLike, num_bins: int) -> Array:
    """Bin edges at the quantiles ``1/B, ..., (B-1)/B`` of each column of ``x``.

    Args:
      x: ``[N, L]`` training values.
      num_bins: number of bins ``B``.

    Returns:
      ``[B - 1, L]`` non-decreasing edges, each half-way between the two sorted values
      around its quantile position (scikit-learn's threshold convention).

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.metrics.estimators import quantile_bin_edges
      >>> x = jnp.arange(8.0)[:, None]  # [N=8, L=1]
      >>> quantile_bin_edges(x, 4)[:, 0].tolist()  # half-way between sorted neighbours
      [1.5, 3.5, 5.5]
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

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.metrics.estimators import apply_bins, quantile_bin_edges
      >>> x = jnp.arange(8.0)[:, None]
      >>> apply_bins(x, quantile_bin_edges(x, 4))[:, 0].tolist()
      [0, 0, 1, 1, 2, 2, 3, 3]
    """
    x = jnp.asarray(x, jnp.float32)
    return jnp.sum(x[:, None, :] > edges[None], axis=1, dtype=jnp.int32)


def _cumsum_bins(hist: Array) -> Array:
    """Exact int32 cumulative sums over the last (bin) axis.

    By ``log2 B`` shifted additions (Hillis-Steele), which XLA:CPU fuses into one loop;
    its cumulative-sum lowering is a much slower reduce-window.
    """
    num_bins = hist.shape[-1]
    shift = 1
    while shift < num_bins:
        pad = [(0, 0)] * (hist.ndim - 1) + [(shift, 0)]
        hist = hist + jnp.pad(hist[..., :-shift], pad)
        shift *= 2
    return hist


def limb_groups(precision: str, num_points: int) -> tuple[tuple[int, ...], ...]:
    """Consecutive limbs (high first) whose combined sums over ``num_points`` fit int32.

    A group of ``g`` limbs is ``sum_p limb_p * 128**(...)``, below ``128**g`` in magnitude
    per point, so its sum over ``N`` points is an exact int32 while ``N * 128**g <= 2**31``:
    fewer histograms to difference and accumulate, still exact (one group for "int8" up to
    ``N = 2**17``, as when the two limbs were always combined).
    """
    num_limbs, _ = LIMB_LAYOUT[precision]
    size = 1
    while size < num_limbs and num_points * 2 ** (_LIMB_BITS * (size + 1)) <= 2**31:
        size += 1
    return tuple(tuple(range(p, min(p + size, num_limbs))) for p in range(0, num_limbs, size))


def limb_weights(precision: str, num_points: int, unit: float = 1.0) -> tuple[float, ...]:
    """Weights turning the group sums (:func:`limb_groups`) into fixed-point units x ``unit``."""
    num_limbs, _ = LIMB_LAYOUT[precision]
    groups = limb_groups(precision, num_points)
    return tuple(unit * 2.0 ** (_LIMB_BITS * (num_limbs - 1 - group[-1])) for group in groups)


def _group(limbs: Array, num_points: int, precision: str) -> Array:
    """``[P, ...]`` int32 limb sums -> ``[G, ...]`` exact group sums (:func:`limb_groups`)."""
    out = []
    for group in limb_groups(precision, num_points):
        total = limbs[group[0]]
        for p in group[1:]:
            total = total * 2**_LIMB_BITS + limbs[p]
        out.append(total)
    return jnp.stack(out)


def combine_limbs(limbs: Array, weights: tuple[float, ...]) -> Array:
    """``sum_p float32(limbs[p]) * weights[p]`` over the leading limb axis, in a fixed order.

    Each limb is exact in int32; the weights are powers of two, so the products are
    exact and only the additions round (once per limb, the same on every machine).
    """
    out = limbs[0].astype(jnp.float32) * weights[0]
    for p in range(1, len(weights)):
        out = out + limbs[p].astype(jnp.float32) * weights[p]
    return out


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


def to_parts(values: Array, precision: str) -> Array:
    """``[T, N]`` float32 residuals in ``[-1, 1]`` -> ``[P + 1, T, N]`` int8 operands.

    ``q = round(values * scale)`` (``LIMB_LAYOUT[precision]``) split into a signed high
    limb and ``P - 1`` unsigned 7-bit limbs, ``q = sum_p limb_p * 128**(P - 1 - p)``.
    The last row is all ones: masked, it counts a node's points.
    """
    num_limbs, scale = LIMB_LAYOUT[precision]
    top = 2 ** (_LIMB_BITS * num_limbs)
    q = jnp.clip(jnp.round(values * scale), -top + 1, top - 1).astype(jnp.int32)
    shifts = [_LIMB_BITS * p for p in reversed(range(num_limbs))]
    limbs = [q >> shifts[0]] + [(q >> shift) & (2**_LIMB_BITS - 1) for shift in shifts[1:]]
    return jnp.stack([*limbs, jnp.ones_like(q)]).astype(jnp.int8)


def best_splits(hist_g: Array, hist_w: Array, weights: tuple[float, ...]):
    """Best (code, threshold) of every node from its histograms.

    Args:
      hist_g: ``[G, T, V, L, B]`` int32 limb-group sums of the residuals per bin for the
        ``V`` nodes of a level.
      hist_w: ``[T, V, L, B]`` int32 sample counts per bin.
      weights: static group weights (:func:`limb_weights`; any fixed scale: the gains are
        only compared and normalised).

    Returns:
      ``feature [T, V]``, ``threshold [T, V]`` (bins ``<= threshold`` go left; ``B - 1``
      where the node is not split) and ``credit [T, V, L]`` (the gain shared by tied codes).
    """
    num_bins = hist_g.shape[-1]
    cum_g = combine_limbs(_cumsum_bins(hist_g), weights)
    cum_w = _cumsum_bins(hist_w).astype(jnp.float32)
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
    """Limb-group histograms ``[G, T, 2**depth, L * B]``, counts ``[T, 2**depth, L * B]``.

    ``operands [P + 1, T, N]`` holds the residual limbs and a row of ones (counts). Left
    children are accumulated directly, all their rows by one matrix product; right
    children as parent minus left sibling (exact: every sum is int32).
    ``left_w``: the left children's count histograms ``[T, V/2, L * B]`` when known
    (then the ones row is not multiplied), else ``None``. At depth 0, ``parent_w`` is the
    root's count histogram ``[L * B]``.
    """
    num_limbs, (num_tasks, n) = operands.shape[0] - 1, node.shape
    num_nodes = 2**depth
    if depth == 0:
        hist_g = _group(dot_rows(operands[:-1], onehot), n, precision)[:, :, None]  # [G,T,1,LB]
        hist_w = jnp.broadcast_to(parent_w.astype(hist_g.dtype), hist_g.shape[1:])
        return hist_g, hist_w
    ids = np.arange(0, num_nodes, 2)[:, None, None, None]
    left = (node[None, None] == ids).astype(onehot.dtype)  # [V/2, 1, T, N]
    rows = operands if left_w is None else operands[:-1]
    hist = dot_rows(left * rows[None], onehot)  # [V/2, rows, T, LB]
    g = _group(jnp.transpose(hist[:, :num_limbs], (1, 2, 0, 3)), n, precision)  # [G,T,V/2,LB]
    w = jnp.moveaxis(hist[:, -1], 0, 1) if left_w is None else left_w
    hist_g = jnp.stack([g, parent_g - g], axis=3).reshape(g.shape[0], num_tasks, num_nodes, -1)
    hist_w = jnp.stack([w, parent_w - w], axis=2).reshape(num_tasks, num_nodes, -1)
    return hist_g, hist_w


def leaf_sums(hist: Array, feature: Array, threshold: Array, weights) -> Array:
    """Sums over the two children of each node's split: ``[G, T, V, L, B] -> [T, 2V]``.

    ``weights``: the static group weights (:func:`limb_weights`) of the result's unit.
    """
    index = jnp.broadcast_to(feature[None, ..., None, None], (hist.shape[0], *feature.shape, 1, 1))
    chosen = jnp.take_along_axis(hist, index, axis=3)[:, :, :, 0]  # [G, T, V, B]
    cumulative = _cumsum_bins(chosen)
    cut = jnp.broadcast_to(threshold[None, ..., None], (hist.shape[0], *threshold.shape, 1))
    left = jnp.take_along_axis(cumulative, cut, axis=-1)[..., 0]
    right = cumulative[..., -1] - left  # [G, T, V], exact
    both = jnp.stack([left, right], axis=-1).reshape(hist.shape[0], hist.shape[1], -1)
    return combine_limbs(both, weights)


def per_leaf_sums(values: Array, leaf: Array, num_leaves: int) -> Array:
    """``out[t, k] = sum_n values[t, n] [leaf[t, n] == k]`` for ``values, leaf [T, N]``."""
    num_tasks = values.shape[0]
    segment = leaf + num_leaves * jnp.arange(num_tasks, dtype=leaf.dtype)[:, None]
    sums = jax.ops.segment_sum(values.reshape(-1), segment.reshape(-1), num_tasks * num_leaves)
    return sums.reshape(num_tasks, num_leaves)
