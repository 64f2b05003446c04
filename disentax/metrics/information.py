"""Discretisation, discrete entropy and discrete mutual information (nats).

Building blocks of MIG, modularity, IRS and the unsupervised scores. Everything works
on arrays of labels without a static bound on the label values: counts come from sorting
(``O(N log N)``), so factor values need not be known at trace time and their size (a
value of 1e9) costs nothing. Where one side is a histogram of codes (values
``< num_bins``, static) the joint counts of all (code, factor) pairs come from one integer
sort per pair. Memory: label columns are processed one at a time and the pairwise
contingency tables accumulated over chunks of rows, so working memory stays a few times
the size of the codes (``tests/metrics/test_checks.py`` bounds it).

Entropy of labels ``a`` with counts ``c_v`` over ``N`` points:
``H(a) = -sum_v c_v/N log(c_v/N) = log N - (1/N) sum_v c_v log c_v``, and
``I(a; b) = H(a) + H(b) - H(a, b)``, equal to ``sklearn.metrics.mutual_info_score`` (clipped
at 0 like it) up to float32 rounding.

References:
  Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning of
  Disentangled Representations", ICML 2019 (disentanglement_lib
  ``evaluation/metrics/utils.py``: ``_histogram_discretize``, ``discrete_mutual_info``,
  ``discrete_entropy``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from disentax.metrics.checks import (
    check_codes,
    check_factors,
    check_num_bins,
    check_same_num_points,
    is_concrete,
)
from disentax.typing import Array, ArrayLike

__all__ = [
    "MAX_BINS",
    "check_histogram_bins",
    "discrete_entropy",
    "discrete_mutual_info",
    "histogram_discretize",
]


MAX_BINS = 4096  # the exact edge computation below needs k < 4096


def check_histogram_bins(num_bins: int, num_points: int) -> None:
    """Checks a static histogram bin count: ``1 <= num_bins <= min(N, MAX_BINS)``."""
    check_num_bins(num_bins, num_points)
    if num_bins > MAX_BINS:
        raise ValueError(f"num_bins must be <= {MAX_BINS}, got {num_bins}")


def histogram_discretize(codes: ArrayLike, *, num_bins: int = 20) -> Array:
    """Bins every code into ``num_bins`` equal-width bins between its min and max.

    Matches the reference ``np.digitize(c, np.histogram(c, num_bins)[1][:-1])`` per code
    column, minus one (0-based labels): the edges are ``linspace(min, max, num_bins + 1)``,
    bin ``k`` holds ``edge_k <= x < edge_{k+1}`` and the maximum falls in the last bin. A
    constant column gets edges ``min -/+ 0.5`` like ``np.histogram``, so all its points
    land in bin ``num_bins // 2``. The edges are bit-identical to NumPy's (float32
    arithmetic in the same order), so points lying exactly on an edge are binned alike.

    Args:
      codes: ``[N, L]`` real array.
      num_bins: static number of bins ``B``.

    Returns:
      ``[N, L]`` int32 bin labels in ``[0, B)``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.metrics import histogram_discretize
      >>> codes = jnp.array([[0.0, 5.0], [0.5, 5.0], [1.0, 5.0]])  # code 1 is constant
      >>> histogram_discretize(codes, num_bins=2).tolist()
      [[0, 1], [1, 1], [1, 1]]
    """
    codes = check_codes(codes)
    check_histogram_bins(num_bins, codes.shape[0])
    return equal_width_bins(codes, num_bins=int(num_bins))


@functools.partial(jax.jit, static_argnames=("num_bins",))
def equal_width_bins(codes: Array, *, num_bins: int) -> Array:
    """The kernel of :func:`histogram_discretize` (no checks): ``[N, L]`` int32 bin labels."""
    low, high = codes.min(axis=0), codes.max(axis=0)
    constant = low == high
    low = jnp.where(constant, low - 0.5, low)
    high = jnp.where(constant, high + 0.5, high)
    # NumPy (>= 2) computes the edges in float32 as fl(fl(k * step) + start) with
    # step = fl(delta / B). Two XLA rewrites would change the last bit: division by a
    # constant becomes a multiplication by its (inexact) reciprocal, and k * step + start
    # is contracted into one fused multiply-add. So the divisor is made non-constant and
    # k * step is formed as the sum of two exact products (step split into 12-bit halves,
    # exact for k < 4096): the final addition then has no multiplication to fuse with.
    divisor = num_bins + 0.0 * low
    step = (high - low) / divisor
    bits = jax.lax.bitcast_convert_type(step, jnp.int32)
    step_high = jax.lax.bitcast_convert_type(bits & jnp.int32(-4096), step.dtype)
    step_low = step - step_high
    k = jnp.arange(1, num_bins, dtype=codes.dtype)[:, None]
    edges = (k * step_high + k * step_low) + low  # [B-1, L], interior edges 1..B-1
    return jnp.sum(codes[:, None, :] >= edges[None], axis=1, dtype=jnp.int32)


def _sum_xlogx(counts: Array, axis=None) -> Array:
    counts = counts.astype(jnp.float32)
    return jnp.sum(jnp.where(counts > 0, counts * jnp.log(jnp.maximum(counts, 1.0)), 0.0), axis)


def _entropy_from_count_sum(sum_xlogx: Array, n: int) -> Array:
    return jnp.log(jnp.float32(n)) - sum_xlogx / n


def _runs(values: Array) -> tuple[Array, Array]:
    """Sort order and run ids (in sorted order) of a ``[N]`` label vector."""
    order = jnp.argsort(values)
    ordered = values[order]
    starts = jnp.concatenate([jnp.ones((1,), bool), ordered[1:] != ordered[:-1]])
    return order, jnp.cumsum(starts) - 1


def _runs2(a: Array, b: Array) -> Array:
    """Run ids of the pairs ``(a_i, b_i)`` sorted lexicographically, ``[N]``."""
    sa, sb = jax.lax.sort((a, b), num_keys=2)
    change = (sa[1:] != sa[:-1]) | (sb[1:] != sb[:-1])
    return jnp.cumsum(jnp.concatenate([jnp.ones((1,), bool), change])) - 1


def _entropy_1d(values: Array) -> Array:
    n = values.shape[0]
    _, run_id = _runs(values)
    counts = jax.ops.segment_sum(jnp.ones((n,), jnp.float32), run_id, n, indices_are_sorted=True)
    return _entropy_from_count_sum(_sum_xlogx(counts), n)


def _entropy_pair(a: Array, b: Array) -> Array:
    n = a.shape[0]
    run_id = _runs2(a, b)
    counts = jax.ops.segment_sum(jnp.ones((n,), jnp.float32), run_id, n, indices_are_sorted=True)
    return _entropy_from_count_sum(_sum_xlogx(counts), n)


def entropies(labels: Array) -> Array:
    """Entropy in nats of each column of a ``[N, K]`` int array (no checks), ``[K]``."""
    return jax.vmap(_entropy_1d, in_axes=1)(labels)


def _sum_log_run_lengths(change: Array) -> Array:
    """``sum_v c_v log c_v`` over runs of a sorted axis, from its ``[..., N - 1]`` changes.

    Computed as ``sum_i log c(i)`` over positions: a run of ``c`` points adds ``c log c``.
    """
    n = change.shape[-1] + 1
    index = jnp.arange(n, dtype=jnp.int32)
    edge = jnp.ones(change.shape[:-1] + (1,), bool)
    axis = change.ndim - 1
    first = jax.lax.cummax(jnp.where(jnp.concatenate([edge, change], -1), index, 0), axis=axis)
    last = jax.lax.cummin(
        jnp.where(jnp.concatenate([change, edge], -1), index, n - 1), axis=axis, reverse=True
    )
    return jnp.sum(jnp.log((last - first + 1).astype(jnp.float32)), axis=-1)


def _sorted_sum_log_counts(ordered: Array) -> Array:
    """``sum_v c_v log c_v`` over the runs of equal values along the last axis (sorted)."""
    return _sum_log_run_lengths(ordered[..., 1:] != ordered[..., :-1])


def _bin_counts(bins: Array, num_bins: int) -> Array:
    """``[L, B]`` float32 counts of each bin of each code of ``bins [N, L]`` (exact)."""
    num_codes = bins.shape[1]
    ids = bins + num_bins * jnp.arange(num_codes, dtype=bins.dtype)[None, :]
    ones = jnp.ones(ids.shape, jnp.float32)
    counts = jax.ops.segment_sum(ones.reshape(-1), ids.reshape(-1), num_codes * num_bins)
    return counts.reshape(num_codes, num_bins)


def _dense_rank(column: Array) -> tuple[Array, Array]:
    """Sorted ``column [N]`` and the dense rank (0, 1, ... by value) of each entry."""
    ordered = jnp.sort(column)
    starts = jnp.concatenate([jnp.zeros((1,), jnp.int32), (ordered[1:] != ordered[:-1])])
    run_of_sorted = jnp.cumsum(starts, dtype=jnp.int32)  # dense rank, sorted order
    return ordered, run_of_sorted[jnp.searchsorted(ordered, column)]


def binned_mutual_info(bins: Array, labels: Array, *, num_bins: int) -> Array:
    """MI ``[L, K]`` between binned codes ``bins [N, L]`` (values ``< num_bins``) and labels.

    Each label column is replaced by its dense rank (one integer sort), so every pair
    ``(label rank, bin)`` is one int32 key ``rank * num_bins + bin``; the joint counts of
    the ``L`` pairs of a label column come from one integer sort of those keys per code
    (XLA:CPU sorts integers faster than floats or several operands) and the run lengths of
    the sorted keys. Label columns are processed one at a time (``lax.map``), so memory
    stays a few times the size of ``bins`` however many labels there are. No checks.
    """
    n = bins.shape[0]
    if n * num_bins >= 2**31:
        return binned_mutual_info_segments(bins, labels, num_bins=num_bins)
    bin_entropy = _entropy_from_count_sum(_sum_xlogx(_bin_counts(bins, num_bins), axis=-1), n)
    bins_t = bins.T.astype(jnp.int32)  # [L, N]

    def per_label(column):
        _, rank = _dense_rank(column)
        # The label's own row (rank * num_bins) is reduced with the pairs' rows, so a code
        # constant over the points gives a joint entropy bit-identical to the label's.
        keys = jnp.concatenate([rank[None, :] * num_bins + bins_t, rank[None, :] * num_bins])
        row_entropy = _entropy_from_count_sum(_sorted_sum_log_counts(jnp.sort(keys, axis=-1)), n)
        return bin_entropy + row_entropy[-1] - row_entropy[:-1]  # [L]

    mutual_info = jax.lax.map(per_label, labels.T.astype(jnp.int32))  # [K, L]
    return jnp.maximum(mutual_info.T, 0.0)


def binned_mutual_info_segments(bins: Array, labels: Array, *, num_bins: int) -> Array:
    """``binned_mutual_info`` by one two-key sort per (label, code) pair (no checks).

    The form for sizes whose int32 pair keys would overflow (``N * num_bins >= 2**31``):
    the pairs ``(label rank, bin)`` are sorted lexicographically instead of packed.
    """
    n = bins.shape[0]
    bin_entropy = _entropy_from_count_sum(_sum_xlogx(_bin_counts(bins, num_bins), axis=-1), n)
    bins_t = bins.T.astype(jnp.int32)  # [L, N]

    def per_label(column):
        ordered, rank = _dense_rank(column)
        label_entropy = _entropy_from_count_sum(_sorted_sum_log_counts(ordered), n)

        def per_code(code_bins):
            sorted_rank, sorted_bin = jax.lax.sort((rank, code_bins), num_keys=2)
            change = (sorted_rank[1:] != sorted_rank[:-1]) | (sorted_bin[1:] != sorted_bin[:-1])
            return _entropy_from_count_sum(_sum_log_run_lengths(change), n)

        joint = jax.lax.map(per_code, bins_t)  # [L]
        return bin_entropy + label_entropy - joint

    mutual_info = jax.lax.map(per_label, labels.T.astype(jnp.int32))  # [K, L]
    return jnp.maximum(mutual_info.T, 0.0)


# Rows of one-hot bins per matrix product of the pairwise contingency tables: bounds the
# chunk to 2**22 float32 entries (16 MiB); every chunk's counts are exact in float32.
_PAIRWISE_CHUNK_ENTRIES = 2**22


def binned_pairwise_mutual_info(bins: Array, *, num_bins: int) -> Array:
    """MI ``[L, L]`` between all pairs of binned codes, from contingency matrix products.

    The ``[L B, L B]`` table of joint counts is accumulated over chunks of rows (exact
    int32 sums of exact float32 chunk products), so memory is the table plus one chunk's
    one-hot bins, not ``N L B``. No checks.
    """
    n, num_codes = bins.shape
    width = num_codes * num_bins
    rows = int(max(1, min(n, _PAIRWISE_CHUNK_ENTRIES // width)))
    num_chunks = -(-n // rows)
    padded = jnp.pad(bins, ((0, num_chunks * rows - n), (0, 0)), constant_values=-1)

    def add_chunk(i, table):
        chunk = jax.lax.dynamic_slice_in_dim(padded, i * rows, rows)  # -1: no bin, no count
        onehot = jax.nn.one_hot(chunk, num_bins, dtype=jnp.float32).reshape(rows, width)
        counts = jnp.matmul(onehot.T, onehot, precision="highest")  # exact: rows < 2**24
        return table + counts.astype(jnp.int32)

    table = jax.lax.fori_loop(0, num_chunks, add_chunk, jnp.zeros((width, width), jnp.int32))
    joint = table.reshape(num_codes, num_bins, num_codes, num_bins).transpose(0, 2, 1, 3)
    joint = joint.astype(jnp.float32)  # [L, L, B, B]
    counts = jnp.diagonal(jnp.diagonal(joint, axis1=0, axis2=1), axis1=0, axis2=1)  # [L, B]
    marginal = _entropy_from_count_sum(_sum_xlogx(counts, axis=-1), n)
    joint_entropy = _entropy_from_count_sum(_sum_xlogx(joint, axis=(2, 3)), n)
    return jnp.maximum(marginal[:, None] + marginal[None, :] - joint_entropy, 0.0)


def discrete_entropy(factors: ArrayLike) -> Array:
    """Entropy (nats) of every column of an integer array.

    Args:
      factors: ``[N, F]`` non-negative int labels.

    Returns:
      ``[F]`` entropies, ``H_j = mutual_info_score(factors[:, j], factors[:, j])``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.metrics import discrete_entropy
      >>> factors = jnp.array([[0, 0], [0, 1], [0, 2], [0, 3]])  # constant; uniform over 4
      >>> [round(float(h), 4) for h in discrete_entropy(factors)]  # 0 and log 4
      [0.0, 1.3863]
    """
    return jax.jit(entropies)(check_factors(factors))


def discrete_mutual_info(a: ArrayLike, b: ArrayLike, *, num_values_a: int | None = None) -> Array:
    """Mutual information (nats) between every column of ``a`` and every column of ``b``.

    All pairs are computed in one vectorised program. With ``num_values_a`` (a static
    bound on the values of ``a``, e.g. ``num_bins`` for histogram labels) it uses one sort
    per column of ``b`` and a one-hot segment sum; without it, one lexicographic sort per
    pair.

    Args:
      a: ``[N, La]`` non-negative int labels (e.g. ``histogram_discretize(codes)``).
      b: ``[N, Lb]`` non-negative int labels (e.g. ``factors``).
      num_values_a: optional static bound: every value of ``a`` is ``< num_values_a``.

    Returns:
      ``[La, Lb]`` with ``[i, j] = mutual_info_score(a[:, i], b[:, j])``.

    Examples:
      >>> import jax.numpy as jnp
      >>> import numpy as np
      >>> from disentax.metrics import discrete_mutual_info
      >>> a = jnp.array([[0, 0], [1, 0], [2, 1], [3, 1]])
      >>> b = jnp.array([[0], [1], [2], [3]])
      >>> np.round(np.asarray(discrete_mutual_info(a, b), float), 4).tolist()  # log 4; log 2
      [[1.3863], [0.6931]]
    """
    a = check_factors(a, name="a")
    b = check_factors(b, name="b")
    check_same_num_points(("a", a), ("b", b))
    if num_values_a is None:
        return _pairwise_mutual_info(a, b)
    check_num_bins(num_values_a, a.shape[0], name="num_values_a")
    if is_concrete(a) and int(np.asarray(a).max()) >= num_values_a:
        raise ValueError(f"a must be < num_values_a={num_values_a}, got max {int(a.max())}")
    return jax.jit(binned_mutual_info, static_argnames=("num_bins",))(
        a, b, num_bins=int(num_values_a)
    )


@jax.jit
def _pairwise_mutual_info(a: Array, b: Array) -> Array:
    h_a, h_b = entropies(a), entropies(b)
    # One column of a at a time (lax.map): memory stays a few times the size of b.
    joint = jax.lax.map(lambda column: jax.vmap(_entropy_pair, in_axes=(None, 1))(column, b), a.T)
    return jnp.maximum(h_a[:, None] + h_b[None, :] - joint, 0.0)
