"""Rank statistics in JAX: tie-averaged ranks, ROC AUC, Spearman correlation.

Tie handling follows SciPy's ``rankdata(method="average")``, so the ROC AUC computed from
ranks (the Mann-Whitney U statistic) equals ``sklearn.metrics.roc_auc_score`` including
ties (a tied positive/negative pair counts one half), and the Spearman correlation equals
``scipy.stats.spearmanr``.

References:
  Mann & Whitney, "On a test of whether one of two random variables is stochastically
  larger than the other", Ann. Math. Stat. 1947.
  Hanley & McNeil, "The meaning and use of the area under a ROC curve", Radiology 1982.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from disentax.typing import Array

__all__ = ["average_ranks", "roc_auc", "roc_auc_probabilities", "spearman_correlation"]


def _runs_doubled_ranks(ordered: Array) -> Array:
    """Twice the tie-averaged 1-based rank of each position of a sorted ``[N]`` vector."""
    n = ordered.shape[0]
    index = jnp.arange(n, dtype=jnp.int32)
    new_run = jnp.concatenate([jnp.ones((1,), bool), ordered[1:] != ordered[:-1]])
    last_of_run = jnp.concatenate([ordered[1:] != ordered[:-1], jnp.ones((1,), bool)])
    first = jax.lax.cummax(jnp.where(new_run, index, 0))
    last = jax.lax.cummin(jnp.where(last_of_run, index, n - 1), reverse=True)
    return first + last + 2


# Exact sums of non-negative int32 terms: 16-bit limbs summed in blocks of 2**15 terms.
_LIMB = 16
_BLOCK = 2**15
MAX_POINTS = 2**30  # ranks and the limb sums below are exact int32 up to here


def _split(values: Array) -> tuple[Array, Array]:
    return values >> _LIMB, values & (2**_LIMB - 1)


def _exact_sum(terms: Array) -> Array:
    """``sum(terms)`` of ``[N]`` int32 terms in ``[0, 2**31)``, exact, as float32.

    int64 is off by default in JAX: each term is split into 16-bit limbs, a block of
    ``2**15`` limbs sums to below ``2**31``, and the block sums are split again, so every
    intermediate is an exact int32 for ``N <= 2**30``; the three limbs of the total are
    rounded to float32 once each (no cancellation: all are non-negative).
    """
    n = terms.shape[0]
    num_blocks = -(-n // _BLOCK)
    terms = jnp.pad(terms, (0, num_blocks * _BLOCK - n)).reshape(num_blocks, _BLOCK)
    high, low = _split(terms)
    block_high, block_low = jnp.sum(high, axis=1), jnp.sum(low, axis=1)  # < 2**30, < 2**31
    carry, block_low = _split(block_low)
    top, middle = _split(block_high + carry)
    top, middle, low = jnp.sum(top), jnp.sum(middle), jnp.sum(block_low)  # each < 2**31
    carry, low = _split(low)
    middle = middle + carry
    carry, middle = _split(middle)
    top = top + carry
    return (top.astype(jnp.float32) * 2.0**32 + middle.astype(jnp.float32) * 2.0**16) + low.astype(
        jnp.float32
    )


def _doubled_u(ordered: Array, positive: Array) -> Array:
    """Twice the Mann-Whitney U of the positives, exact, from values sorted ascending.

    Each positive counts the negatives below it twice and those tied with it once:
    ``2 * (negatives before its run) + (negatives in its run)``, at most ``2 N``.
    """
    change = ordered[1:] != ordered[:-1]
    new_run = jnp.concatenate([jnp.ones((1,), bool), change])
    last_of_run = jnp.concatenate([change, jnp.ones((1,), bool)])
    negatives_through = jnp.cumsum(~positive, dtype=jnp.int32)  # up to and including i
    negatives_before = negatives_through - (~positive).astype(jnp.int32)
    below = jax.lax.cummax(jnp.where(new_run, negatives_before, 0))
    through = jax.lax.cummin(
        jnp.where(last_of_run, negatives_through, negatives_through[-1]), reverse=True
    )
    return _exact_sum(jnp.where(positive, below + through, 0))


def _auc(doubled_u: Array, positive: Array) -> Array:
    num_pos = jnp.sum(positive, dtype=jnp.int32).astype(jnp.float32)
    num_neg = positive.shape[0] - num_pos
    return doubled_u / (2.0 * num_pos * num_neg)


def _check_size(n: int) -> None:
    if n > MAX_POINTS:
        raise ValueError(f"roc_auc takes at most {MAX_POINTS} points, got {n}")


def _doubled_ranks_1d(values: Array) -> Array:
    """Twice the tie-averaged 1-based ranks of a ``[N]`` vector, as exact int32."""
    order = jnp.argsort(values)
    doubled = _runs_doubled_ranks(values[order])
    return jnp.zeros(values.shape, jnp.int32).at[order].set(doubled)


def average_ranks(values: Array) -> Array:
    """Tie-averaged 1-based ranks along axis 0 of a ``[N]`` or ``[N, K]`` array (float32).

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.metrics.estimators import average_ranks
      >>> average_ranks(jnp.array([3.0, 1.0, 3.0, 2.0])).tolist()  # the tied 3s share 3.5
      [3.5, 1.0, 3.5, 2.0]
    """
    if values.ndim == 1:
        return _doubled_ranks_1d(values).astype(jnp.float32) / 2
    return jax.vmap(_doubled_ranks_1d, in_axes=1, out_axes=1)(values).astype(jnp.float32) / 2


@jax.jit
def roc_auc(positive: Array, scores: Array) -> Array:
    """ROC AUC of ``scores`` for the binary labels ``positive``, both ``[N]``.

    ``AUC = U / (P Q)`` with ``P`` positives, ``Q`` negatives and the Mann-Whitney
    ``U = sum over positives of (negatives below + 1/2 negatives tied)``, summed exactly
    (int32 limbs, any ``N <= 2**30``) before one rounding to float32 and the final
    division. ``NaN`` when ``P = 0`` or ``Q = 0`` (callers mask such classes).

    Args:
      positive: ``[N]`` bool.
      scores: ``[N]`` float scores, higher meaning more positive.

    Returns:
      scalar AUC in ``[0, 1]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.metrics.estimators import roc_auc
      >>> positive = jnp.array([False, False, True, True])
      >>> float(roc_auc(positive, jnp.array([0.1, 0.4, 0.35, 0.8])))  # 3 of 4 pairs ordered
      0.75
    """
    _check_size(positive.shape[0])
    order = jnp.argsort(scores)
    return _auc(_doubled_u(scores[order], positive[order]), positive)


@jax.jit
def roc_auc_probabilities(positive: Array, scores: Array) -> Array:
    """``roc_auc`` for scores in ``[0, 1]`` (e.g. predicted probabilities), faster.

    A non-negative float32's bit pattern is an order-preserving integer below ``2^30``,
    so the label fits in the lowest bit of a doubled key and one integer sort (no
    permutation, no payload) gives both the order and the labels. Exact, like
    ``roc_auc``; scores outside ``[0, 1]`` (or NaN) are not supported.

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.metrics.estimators import roc_auc_probabilities
      >>> positive = jnp.array([False, False, True, True])
      >>> float(roc_auc_probabilities(positive, jnp.array([0.1, 0.4, 0.35, 0.8])))
      0.75
    """
    _check_size(positive.shape[0])
    bits = jax.lax.bitcast_convert_type(jnp.clip(scores, 0.0, 1.0) + 0.0, jnp.int32)
    packed = jnp.sort(bits * 2 + positive.astype(jnp.int32))
    return _auc(_doubled_u(packed >> 1, (packed & 1).astype(bool)), positive)


@jax.jit
def spearman_correlation(a: Array, b: Array) -> Array:
    """Spearman correlations ``[Ka, Kb]`` between the columns of ``a [N, Ka]``, ``b [N, Kb]``.

    Pearson correlation of the tie-averaged ranks; ``NaN`` for a constant column, as
    ``scipy.stats.spearmanr``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.metrics.estimators import spearman_correlation
      >>> a = jnp.array([[1.0], [2.0], [3.0], [4.0]])
      >>> b = jnp.concatenate([a**3, -a], axis=1)  # monotone up, monotone down
      >>> spearman_correlation(a, b).round(4).tolist()
      [[1.0, -1.0]]
    """
    ra, rb = average_ranks(a), average_ranks(b)
    ra = ra - ra.mean(0)
    rb = rb - rb.mean(0)
    cov = jnp.matmul(ra.T, rb, precision="highest")
    norm = jnp.sqrt(jnp.sum(ra * ra, 0))[:, None] * jnp.sqrt(jnp.sum(rb * rb, 0))[None, :]
    return cov / norm
