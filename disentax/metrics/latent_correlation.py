"""Latent correlation: how strongly the latents that capture two factors move together.

Träuble et al. (ICML 2021) show that models trained on data with a correlated factor pair
encode the correlation in the latent space, and that the usual disentanglement scores do
not reveal it. This measure shows it directly:

1. for every factor ``f``, its *top latent* ``t_f``: the code with the largest mutual
   information with ``f`` (codes in 20 equal-width bins, as MIG's ``mutual_info``);
2. for every pair of factors ``(a, b)``: ``|Pearson(codes[:, t_a], codes[:, t_b])|``, and 1
   when one latent is the top latent of both (it cannot tell them apart).

3. for every pair ``(a, b)``, the *shared information*: the share of factor ``b``'s entropy
   that ``a``'s top latent carries, ``I(z_{t_a}; f_b) / H(f_b)``, and the same the other
   way, averaged.

Scored on *independent* factors (the default of ``disentax evaluate``), a model that gives
each factor its own latent scores ≈ 0 on both for every pair. A model that learned the
training correlation into its latents scores high on the shared information, which sees
every mixing of the pair; the Pearson score of step 2 misses a balanced rotation (codes
``x + a y`` and ``a x − y`` of independent ``x`` and ``y`` of equal variance are
uncorrelated),
and is 1 whenever one latent is the top latent of both factors, however little it holds
of either. Also returned: ``|Pearson|`` between every pair of codes, without factors.

This is disentax's measure, not a reference implementation: Träuble et al. quantify the
same effect with a pairwise score built on trained predictors; see the guide
``docs/guides/correlated_and_fairness.md``.

References:
  Träuble et al. On Disentangled Representations Learned from Correlated Data. ICML 2021.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from disentax.metrics.checks import check_codes, check_factors, check_same_num_points
from disentax.metrics.information import (
    binned_mutual_info,
    check_histogram_bins,
    entropies,
    equal_width_bins,
)
from disentax.typing import Array, ArrayLike

__all__ = ["code_correlation", "latent_correlation"]


def code_correlation(codes: Array) -> Array:
    """``[L, L]`` absolute Pearson correlations of the codes (0 for a constant code).

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.metrics.latent_correlation import code_correlation
      >>> x = jnp.arange(6.0)
      >>> code_correlation(jnp.stack([x, -2 * x, jnp.ones(6)], axis=1)).round(3).tolist()
      [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    """
    centred = codes - jnp.mean(codes, axis=0)
    scale = jnp.sqrt(jnp.sum(centred * centred, axis=0))
    safe = scale > 1e-6 * (1.0 + jnp.max(jnp.abs(codes), axis=0)) * jnp.sqrt(codes.shape[0])
    unit = jnp.where(safe, centred / jnp.where(safe, scale, 1.0), 0.0)
    return jnp.clip(jnp.abs(unit.T @ unit), 0.0, 1.0)


@functools.partial(jax.jit, static_argnames=("num_bins",))
def _latent_correlation(codes: Array, factors: Array, *, num_bins: int) -> dict[str, Array]:
    mutual_info = binned_mutual_info(
        equal_width_bins(codes, num_bins=num_bins), factors, num_bins=num_bins
    )
    top = jnp.argmax(mutual_info, axis=0)  # [F]
    per_code = code_correlation(codes)
    pairs = per_code[top[:, None], top[None, :]]
    pairs = jnp.where(top[:, None] == top[None, :], 1.0, pairs)
    # carried[a, b]: the share of H(f_b) that a's top latent holds; a constant factor
    # (H = 0) has nothing to share.
    factor_entropy = entropies(factors)
    safe = factor_entropy > 0
    carried = jnp.where(
        safe[None, :], mutual_info[top, :] / jnp.where(safe, factor_entropy, 1.0)[None, :], 0.0
    )
    return {
        "correlation": pairs,
        "shared_information": 0.5 * (carried + carried.T),
        "carried_information": carried,
        "top_latents": top.astype(jnp.int32),
        "code_correlation": per_code,
    }


def latent_correlation(
    codes: ArrayLike, factors: ArrayLike, *, num_bins: int = 20
) -> dict[str, Array]:
    """Correlation between the top latents of every pair of factors.

    Args:
      codes: ``[N, L]`` codes (score them on independent factors).
      factors: ``[N, F]`` int factors.
      num_bins: equal-width bins per code for the mutual information that picks each
        factor's top latent (MIG's 20).

    Returns:
      dict with ``correlation [F, F]`` (``|Pearson|`` of the top latents of factors
      ``a`` and ``b``; 1 when they share one; 1 on the diagonal),
      ``carried_information [F, F]`` (``I(z_{t_a}; f_b) / H(f_b)`` at ``[a, b]``: how much
      of factor ``b`` the top latent of ``a`` holds; 0 for a constant factor),
      ``shared_information [F, F]`` (its symmetric part, the mean of ``[a, b]`` and
      ``[b, a]``), ``top_latents [F]`` (int32) and ``code_correlation [L, L]``. Jittable
      and vmappable.

    Examples:
      Each factor in its own code: the top latents are uncorrelated. Two factors that
      always agree (as in data with sigma -> 0), each copied into a code: fully correlated.

      >>> import jax, jax.numpy as jnp
      >>> from disentax.metrics.latent_correlation import latent_correlation
      >>> factors = jax.random.randint(jax.random.key(0), (2000, 2), 0, 5)
      >>> codes = factors.astype(jnp.float32)
      >>> bool(latent_correlation(codes, factors)["correlation"][0, 1] < 0.1)
      True
      >>> same = jnp.stack([factors[:, 0], factors[:, 0]], axis=1)
      >>> float(latent_correlation(same.astype(jnp.float32), same)["correlation"][0, 1])
      1.0

      A balanced rotation of the pair (with a little noise, as an encoder's codes):
      Pearson misses it, the shared information does not.

      >>> x, y = factors[:, 0].astype(jnp.float32), factors[:, 1].astype(jnp.float32)
      >>> noise = 0.3 * jax.random.normal(jax.random.key(1), (2000, 2))
      >>> out = latent_correlation(jnp.stack([x + 0.6 * y, 0.6 * x - y], 1) + noise, factors)
      >>> bool(out["correlation"][0, 1] < 0.1), bool(out["shared_information"][0, 1] > 0.1)
      (True, True)
    """
    codes = check_codes(codes)
    factors = check_factors(factors)
    check_same_num_points(("codes", codes), ("factors", factors))
    check_histogram_bins(num_bins, codes.shape[0])
    return _latent_correlation(codes, jnp.asarray(factors, jnp.int32), num_bins=int(num_bins))
