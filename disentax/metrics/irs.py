"""Interventional Robustness Score (IRS; Suter et al. 2019), as in disentanglement_lib.

The factors are histogram-binned (``num_bins`` equal-width bins per factor, so factors
with more values than bins are merged) and codes with zero variance are dropped. For
factor ``k`` and each of its bin values ``v``: ``E[z | g_k = v]`` and the
``diff_quantile`` quantile (NumPy's default linear interpolation) of
``|z - E[z | g_k = v]|`` per code, averaged over the values -> ``dev[i, k]``. With
``max_dev_i = max_n |z_ni - mean z_i|``, ``irs_matrix = 1 - dev / max_dev`` and
``IRS = average_i(max_k irs_matrix[i, k], weights=max_dev)`` over active codes (a plain
mean if every ``max_dev`` is 0; 0 if no code is active).

Differences from the reference, deliberate: ``num_active_dims`` counts the active codes
(the reference returns ``np.sum`` of the active codes' *values*, which can be any number,
even negative); a factor that takes a single value is left out of the max over factors
(with a warning when concrete; it is informative about nothing).

Numerics: with at most 128 bins the within-group quantiles are read from deviations
rounded to 24+ bit fixed-point fractions of each code's largest deviation (error below
``2**-25`` of it, under float32's rounding of ``1 - dev / max_dev``), which lets one
integer sort per code replace a two-key float sort; more bins use exact float paths.

References:
  Suter, Miladinovic, Schoelkopf & Bauer, "Robustly Disentangled Causal Mechanisms:
  Validating Deep Representations for Interventional Robustness", ICML 2019.
  Locatello et al., ICML 2019 (disentanglement_lib ``irs.py``).
"""

from __future__ import annotations

import fractions
import functools

import jax
import jax.numpy as jnp

from disentax.metrics.checks import (
    check_codes,
    check_factors,
    check_same_num_points,
    single_valued_factors,
)
from disentax.metrics.information import check_histogram_bins, equal_width_bins
from disentax.typing import Array, ArrayLike

__all__ = ["irs"]


def irs(
    codes: ArrayLike, factors: ArrayLike, *, diff_quantile: float = 0.99, num_bins: int = 20
) -> dict[str, Array]:
    """Interventional Robustness Score.

    Args:
      codes: ``[N, L]`` codes.
      factors: ``[N, F]`` int factor values (binned into ``num_bins`` bins here).
      diff_quantile: static quantile in ``[0, 1]`` of the within-value deviations.
      num_bins: static number of bins for the factors.

    Returns:
      dict with ``irs`` (scalar in ``[0, 1]``), ``num_active_dims`` (int32 count of codes
      with non-zero variance) and ``irs_matrix`` (``[L, F]``; rows of dropped codes and
      columns of single-valued factors are 0).

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.metrics.irs import irs
      >>> factors = jnp.stack([jnp.arange(600) % 3, jnp.arange(600) % 4], axis=1)
      >>> codes = factors.astype(jnp.float32)  # the identity representation
      >>> scores = irs(codes, factors)
      >>> round(float(scores["irs"]), 2), int(scores["num_active_dims"])
      (1.0, 2)
    """
    codes = check_codes(codes)
    factors = check_factors(factors)
    check_same_num_points(("codes", codes), ("factors", factors))
    check_histogram_bins(num_bins, codes.shape[0])
    if not isinstance(diff_quantile, float | int) or not 0.0 <= diff_quantile <= 1.0:
        raise ValueError(f"diff_quantile must be a static number in [0, 1], got {diff_quantile!r}")
    single_valued_factors(factors, metric="IRS")
    # The quantile position q (m - 1) is computed exactly as a fraction of integers.
    q = fractions.Fraction(diff_quantile).limit_denominator(10_000)
    return _irs(codes, factors, num_bins=int(num_bins), q_num=q.numerator, q_den=q.denominator)


def _group_quantiles(values, groups, counts, *, num_groups, q_num, q_den):
    """Per-group quantile (linear interpolation) of ``values [N]`` with ``groups [N]``."""
    _, ordered = jax.lax.sort((groups, values), num_keys=2)
    low, high, frac = _sorted_positions(counts, values.shape[0], q_num, q_den, values.dtype)
    return ordered[low] + frac * (ordered[high] - ordered[low])  # [num_groups]


def _quantile_ranks(counts, q_num, q_den, dtype):
    """Within-group ranks ``(low, high, frac, last)`` of each group's quantile ``q``.

    The quantile of ``m`` sorted values (linear interpolation) sits at ``q (m - 1)``,
    computed exactly as the integer ``(m - 1) q_num`` over ``q_den``: between ranks ``low``
    and ``high = low + 1`` (capped at ``last = m - 1``) with weight ``frac`` on ``high``.
    """
    last = jnp.maximum(counts - 1, 0)
    position = last * q_num
    low = position // q_den
    frac = (position % q_den).astype(dtype) / q_den
    return low, jnp.minimum(low + 1, last), frac, last


def _sorted_positions(counts, n, q_num, q_den, dtype):
    """``(low, high, frac)`` as indices into all ``n`` points sorted by (group, value)."""
    low, high, frac, _ = _quantile_ranks(counts, q_num, q_den, dtype)
    starts = jnp.cumsum(counts) - counts  # group g's first sorted position
    return jnp.clip(starts + low, 0, n - 1), jnp.clip(starts + high, 0, n - 1), frac


def _group_quantiles_fixed(deviations, groups, counts, *, num_groups, q_num, q_den, value_bits):
    """``[L, num_groups]`` quantiles of ``deviations [N, L]`` (``>= 0``) per group.

    Each deviation becomes a ``value_bits``-bit fixed-point fraction of its code's largest
    deviation (rounding error at most ``2**-(value_bits + 1)`` of it, below float32's own
    rounding of ``1 - dev / max_dev`` for ``value_bits >= 24``), packed under its group in
    one int32 key: one integer sort per code orders the points by group, then deviation
    (XLA:CPU sorts one integer key faster than a float or two keys).
    """
    n = deviations.shape[0]
    top_value = 2**value_bits - 1
    scale = jnp.max(deviations, axis=0)  # [L]
    scale = jnp.where(scale > 0, scale, 1.0)
    fixed = jnp.round(deviations / scale * top_value).astype(jnp.int32)
    keys = (groups[:, None] << value_bits) | jnp.clip(fixed, 0, top_value)
    keys = jnp.sort(keys.T, axis=1)  # [L, N]: sorting contiguous rows is faster
    low, high, frac = _sorted_positions(counts, n, q_num, q_den, deviations.dtype)
    v_low = (keys[:, low] & top_value).astype(deviations.dtype)
    v_high = (keys[:, high] & top_value).astype(deviations.dtype)
    return (v_low + frac * (v_high - v_low)) * (scale / top_value)[:, None]  # [L, B]


def _group_quantiles_top(deviations, groups, counts, *, num_groups, q_num, q_den, top):
    """``[L, num_groups]`` quantiles of ``deviations [N, L]`` (``>= 0``) per group.

    For a high quantile both interpolation points lie among a group's ``top`` largest
    values: one ``top_k`` of the deviations masked per group (others set to -1) replaces
    a two-key sort per code, which XLA:CPU runs more slowly.
    """
    member = groups[None, :] == jnp.arange(num_groups, dtype=groups.dtype)[:, None]  # [B, N]
    masked = jnp.where(member[None], deviations.T[:, None, :], -1.0)  # [L, B, N]
    largest = jax.lax.top_k(masked, top)[0]  # [L, B, top], descending
    low, high, frac, last = _quantile_ranks(counts, q_num, q_den, deviations.dtype)
    # The k-th smallest of m values is the (m - 1 - k)-th largest.
    v_low = jnp.take_along_axis(largest, jnp.clip(last - low, 0, top - 1)[None, :, None], axis=2)
    v_high = jnp.take_along_axis(largest, jnp.clip(last - high, 0, top - 1)[None, :, None], axis=2)
    return (v_low + frac[None, :, None] * (v_high - v_low))[..., 0]


@functools.partial(jax.jit, static_argnames=("num_bins", "q_num", "q_den"))
def _irs(codes, factors, *, num_bins, q_num, q_den):
    n, num_codes = codes.shape
    active = codes.max(axis=0) > codes.min(axis=0)  # variance > 0, without rounding
    centred = jnp.abs(codes - codes.mean(0))
    max_dev = centred.max(axis=0)  # [L]
    groups = equal_width_bins(factors.astype(jnp.float32), num_bins=num_bins)  # [N, F]
    informative = ~jnp.all(factors == factors[:1], axis=0)  # [F]

    # Both interpolation points of a group of m points are among its `top` largest values.
    top = min(n, ((n - 1) * (q_den - q_num)) // q_den + 2)
    value_bits = 31 - max(1, (num_bins - 1).bit_length())

    def per_factor(group):
        onehot = jax.nn.one_hot(group, num_bins, dtype=codes.dtype)  # [N, B]
        counts_f = onehot.sum(0)
        means = (
            jnp.matmul(onehot.T, codes, precision="highest") / jnp.maximum(counts_f, 1.0)[:, None]
        )  # [B, L]
        deviations = jnp.abs(codes - means[group])  # [N, L]
        counts = counts_f.astype(jnp.int32)
        if value_bits >= 24:
            quantiles = _group_quantiles_fixed(
                deviations,
                group,
                counts,
                num_groups=num_bins,
                q_num=q_num,
                q_den=q_den,
                value_bits=value_bits,
            )
        elif top <= n // 8:
            quantiles = _group_quantiles_top(
                deviations, group, counts, num_groups=num_bins, q_num=q_num, q_den=q_den, top=top
            )
        else:
            quantiles = jax.vmap(
                functools.partial(_group_quantiles, num_groups=num_bins, q_num=q_num, q_den=q_den),
                in_axes=(1, None, None),
            )(deviations, group, counts)  # [L, B]
        present = counts > 0
        return jnp.sum(jnp.where(present, quantiles, 0.0), axis=1) / jnp.sum(present)  # [L]

    # One factor at a time (lax.map): memory stays a few times the size of the codes.
    deviation = jax.lax.map(per_factor, groups.T).T  # [L, F]
    safe_max = jnp.where(max_dev > 0, max_dev, 1.0)
    matrix = 1.0 - deviation / safe_max[:, None]
    matrix = jnp.where(active[:, None] & informative[None, :], matrix, 0.0)
    per_code = jnp.max(jnp.where(informative[None, :], matrix, -jnp.inf), axis=1)  # [L]
    weights = jnp.where(active, max_dev, 0.0)
    total = jnp.sum(weights)
    weighted = jnp.sum(jnp.where(active, per_code * weights, 0.0)) / jnp.where(
        total > 0, total, 1.0
    )
    num_active = jnp.sum(active, dtype=jnp.int32)
    plain = jnp.sum(jnp.where(active, per_code, 0.0)) / jnp.maximum(num_active, 1)
    score = jnp.where(num_active == 0, 0.0, jnp.where(total > 0, weighted, plain))
    return {"irs": score, "num_active_dims": num_active, "irs_matrix": matrix}
