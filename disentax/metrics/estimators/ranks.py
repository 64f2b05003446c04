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


def _doubled_ranks_1d(values: Array) -> Array:
    """Twice the tie-averaged 1-based ranks of a ``[N]`` vector, as exact int32."""
    order = jnp.argsort(values)
    doubled = _runs_doubled_ranks(values[order])
    return jnp.zeros(values.shape, jnp.int32).at[order].set(doubled)


def average_ranks(values: Array) -> Array:
    """Tie-averaged 1-based ranks along axis 0 of a ``[N]`` or ``[N, K]`` array (float32)."""
    if values.ndim == 1:
        return _doubled_ranks_1d(values).astype(jnp.float32) / 2
    return jax.vmap(_doubled_ranks_1d, in_axes=1, out_axes=1)(values).astype(jnp.float32) / 2


@jax.jit
def roc_auc(positive: Array, scores: Array) -> Array:
    """ROC AUC of ``scores`` for the binary labels ``positive``, both ``[N]``.

    ``AUC = (sum of positives' ranks - P (P + 1) / 2) / (P Q)`` with ``P`` positives and
    ``Q`` negatives, computed in exact integer arithmetic (``N <= 46340``) before the final
    division. ``NaN`` when ``P = 0`` or ``Q = 0`` (callers mask such classes).

    Args:
      positive: ``[N]`` bool.
      scores: ``[N]`` float scores, higher meaning more positive.

    Returns:
      scalar AUC in ``[0, 1]``.
    """
    doubled = _doubled_ranks_1d(scores)
    num_pos = jnp.sum(positive, dtype=jnp.int32)
    num_neg = positive.shape[0] - num_pos
    doubled_sum = jnp.sum(jnp.where(positive, doubled, 0), dtype=jnp.int32)
    u_doubled = doubled_sum - num_pos * (num_pos + 1)
    return u_doubled.astype(jnp.float32) / (2.0 * num_pos.astype(jnp.float32) * num_neg)


@jax.jit
def roc_auc_probabilities(positive: Array, scores: Array) -> Array:
    """``roc_auc`` for scores in ``[0, 1]`` (e.g. predicted probabilities), faster.

    A non-negative float32's bit pattern is an order-preserving integer below ``2^30``,
    so the label fits in the lowest bit of a doubled key and one integer sort (no
    permutation, no payload) gives both the order and the labels. Exact, like
    ``roc_auc``; scores outside ``[0, 1]`` (or NaN) are not supported.
    """
    bits = jax.lax.bitcast_convert_type(jnp.clip(scores, 0.0, 1.0) + 0.0, jnp.int32)
    packed = jnp.sort(bits * 2 + positive.astype(jnp.int32))
    doubled = _runs_doubled_ranks(packed >> 1)
    flags = (packed & 1).astype(bool)
    num_pos = jnp.sum(positive, dtype=jnp.int32)
    num_neg = positive.shape[0] - num_pos
    u_doubled = jnp.sum(jnp.where(flags, doubled, 0), dtype=jnp.int32) - num_pos * (num_pos + 1)
    return u_doubled.astype(jnp.float32) / (2.0 * num_pos.astype(jnp.float32) * num_neg)


@jax.jit
def spearman_correlation(a: Array, b: Array) -> Array:
    """Spearman correlations ``[Ka, Kb]`` between the columns of ``a [N, Ka]``, ``b [N, Kb]``.

    Pearson correlation of the tie-averaged ranks; ``NaN`` for a constant column, as
    ``scipy.stats.spearmanr``.
    """
    ra, rb = average_ranks(a), average_ranks(b)
    ra = ra - ra.mean(0)
    rb = rb - rb.mean(0)
    cov = jnp.matmul(ra.T, rb, precision="highest")
    norm = jnp.sqrt(jnp.sum(ra * ra, 0))[:, None] * jnp.sqrt(jnp.sum(rb * rb, 0))[None, :]
    return cov / norm
