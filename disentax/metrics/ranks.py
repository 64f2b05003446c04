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

__all__ = ["average_ranks", "roc_auc", "spearman_correlation"]


def _doubled_ranks_1d(values: Array) -> Array:
    """Twice the tie-averaged 1-based ranks of a ``[N]`` vector, as exact int32."""
    n = values.shape[0]
    order = jnp.argsort(values)
    ordered = values[order]
    index = jnp.arange(n, dtype=jnp.int32)
    new_run = jnp.concatenate([jnp.ones((1,), bool), ordered[1:] != ordered[:-1]])
    last_of_run = jnp.concatenate([ordered[1:] != ordered[:-1], jnp.ones((1,), bool)])
    first = jax.lax.cummax(jnp.where(new_run, index, 0))
    last = jax.lax.cummin(jnp.where(last_of_run, index, n - 1), reverse=True)
    doubled = first + last + 2  # 2 * mean of the 1-based positions first+1 .. last+1
    return jnp.zeros((n,), jnp.int32).at[order].set(doubled)


@jax.jit
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
def spearman_correlation(a: Array, b: Array) -> Array:
    """Spearman correlations ``[Ka, Kb]`` between the columns of ``a [N, Ka]``, ``b [N, Kb]``.

    Pearson correlation of the tie-averaged ranks; ``NaN`` for a constant column, as
    ``scipy.stats.spearmanr``.
    """
    ra, rb = average_ranks(a), average_ranks(b)
    ra = ra - ra.mean(0)
    rb = rb - rb.mean(0)
    cov = ra.T @ rb
    norm = jnp.sqrt(jnp.sum(ra * ra, 0))[:, None] * jnp.sqrt(jnp.sum(rb * rb, 0))[None, :]
    return cov / norm
