"""Mutual Information Gap (MIG), in its two incompatible forms.

* ``mig``: the histogram form of disentanglement_lib (Locatello et al. 2019), used by
  nearly every later paper: codes are discretised into equal-width bins, factors are used
  as given, ``MIG = mean_k (I_(1)k - I_(2)k) / H(v_k)`` with the two largest mutual
  informations of factor ``k`` over codes. With 20 bins a factor with more than 20 values
  cannot reach 1 (e.g. ``log 20 / log 40 = 0.81`` for dSprites orientation).
* ``mig_sampled``: Chen et al.'s original estimator from the encoder's Gaussian posterior
  ``q(z|x) = N(mean, exp(logvar))``: ``I(z_j; v_k) = H(z_j) - H(z_j | v_k)`` with the
  aggregate posterior ``q(z_j) = 1/N sum_n q(z_j | x_n)`` estimated over the whole set and
  ``q(z_j | v_k = v)`` over the points sharing that factor value.

The two are not comparable: the histogram form measures the codes' means, the sampled
form the stochastic codes, and their normalisations differ.

Degenerate input: a factor that takes a single value has ``H(v_k) = 0``; it is excluded
from the average (a warning names it when the input is concrete; a ``ValueError`` if no
factor has two values). A constant code has zero mutual information with every factor.

References:
  Chen, Li, Grosse & Duvenaud, "Isolating Sources of Disentanglement in Variational
  Autoencoders", NeurIPS 2018.
  Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning of
  Disentangled Representations", ICML 2019 (disentanglement_lib ``mig.py``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from disentax.metrics.checks import (
    check_codes,
    check_factors,
    check_num_bins,
    check_same_num_points,
    single_valued_factors,
)
from disentax.metrics.information import (
    binned_mutual_info,
    check_histogram_bins,
    entropies,
    equal_width_bins,
)
from disentax.typing import Array, ArrayLike, PRNGKey

__all__ = ["mig", "mig_from_mutual_info", "mig_sampled"]


def _check_two_codes(codes: Array, name: str) -> None:
    if codes.shape[1] < 2:
        raise ValueError(
            f"{name} must have at least 2 codes (columns) for a gap, got {codes.shape}"
        )


def mig_from_mutual_info(mutual_info: Array, factor_entropy: Array) -> Array:
    """``mean_k (top1_i m[i, k] - top2_i m[i, k]) / H_k`` over factors with ``H_k > 0``.

    Args:
      mutual_info: ``[L, F]`` mutual information between codes and factors (``L >= 2``).
      factor_entropy: ``[F]`` factor entropies.

    Returns:
      scalar; ``NaN`` only if no factor has positive entropy (checked before XLA by the
      public metrics when the input is concrete).
    """
    top2 = jax.lax.top_k(mutual_info.T, 2)[0]  # [F, 2]
    valid = factor_entropy > 0
    gap = (top2[:, 0] - top2[:, 1]) / jnp.where(valid, factor_entropy, 1.0)
    return jnp.sum(jnp.where(valid, gap, 0.0)) / jnp.sum(valid)


def mig(codes: ArrayLike, factors: ArrayLike, *, num_bins: int = 20) -> Array:
    """Histogram-discretised MIG (disentanglement_lib's ``discrete_mig``).

    Args:
      codes: ``[N, L]`` codes (``L >= 2``), e.g. posterior means.
      factors: ``[N, F]`` int factor values (used as given, not binned).
      num_bins: static number of equal-width bins per code.

    Returns:
      scalar MIG in ``[0, 1]``.
    """
    codes = check_codes(codes)
    factors = check_factors(factors)
    check_same_num_points(("codes", codes), ("factors", factors))
    check_histogram_bins(num_bins, codes.shape[0])
    _check_two_codes(codes, "codes")
    single_valued_factors(factors, metric="MIG")
    return _mig(codes, factors, num_bins=int(num_bins))


@functools.partial(jax.jit, static_argnames=("num_bins",))
def _mig(codes: Array, factors: Array, *, num_bins: int) -> Array:
    bins = equal_width_bins(codes, num_bins=num_bins)
    mutual_info = binned_mutual_info(bins, factors, num_bins=num_bins)
    return mig_from_mutual_info(mutual_info, entropies(factors))


def mig_sampled(
    key: PRNGKey,
    mean: ArrayLike,
    logvar: ArrayLike,
    factors: ArrayLike,
    *,
    num_samples: int = 1000,
) -> Array:
    """Chen et al.'s MIG from Gaussian posteriors over a whole labelled set.

    ``num_samples`` points ``s`` are drawn without replacement from the ``N`` points and
    one ``z_s ~ N(mean_s, exp(logvar_s))`` each. Then, per latent ``j``,
    ``H(z_j) = -mean_s log(1/N sum_n q(z_sj | x_n))`` and, per factor ``k``,
    ``H(z_j | v_k) = -mean_s log(1/N_v sum_{n: v_nk = v_sk} q(z_sj | x_n))`` (the sample
    mean weights each factor value by its frequency); ``I = H(z_j) - H(z_j | v_k)`` and
    ``MIG = mean_k (I_(1)k - I_(2)k) / H(v_k)``, ``H(v_k)`` the empirical factor entropy.
    Chen et al. run this on the full factor grid (each factor uniform); pass such a set to
    reproduce their numbers. Cost ``O(num_samples * N * L * F)``.

    Args:
      key: PRNG key for the sample choice and the reparameterised samples.
      mean: ``[N, L]`` posterior means (``L >= 2``).
      logvar: ``[N, L]`` posterior log-variances.
      factors: ``[N, F]`` int factor values.
      num_samples: static number of Monte-Carlo points (``<= N``).

    Returns:
      scalar MIG estimate (MI estimates are clipped at 0).
    """
    mean = check_codes(mean, name="mean")
    logvar = check_codes(logvar, name="logvar")
    factors = check_factors(factors)
    check_same_num_points(("mean", mean), ("logvar", logvar), ("factors", factors))
    if mean.shape != logvar.shape:
        raise ValueError(
            f"mean and logvar must have the same shape, got {mean.shape}, {logvar.shape}"
        )
    _check_two_codes(mean, "mean")
    check_num_bins(num_samples, mean.shape[0], name="num_samples")
    single_valued_factors(factors, metric="MIG")
    return _mig_sampled(key, mean, logvar, factors, num_samples=int(num_samples))


@functools.partial(jax.jit, static_argnames=("num_samples",))
def _mig_sampled(key, mean, logvar, factors, *, num_samples: int) -> Array:
    n = mean.shape[0]
    pick_key, noise_key = jax.random.split(key)
    picks = jax.random.permutation(pick_key, n)[:num_samples]
    noise = jax.random.normal(noise_key, (num_samples, mean.shape[1]))
    z = mean[picks] + jnp.exp(0.5 * logvar[picks]) * noise  # [S, L]
    same = factors[picks][:, None, :] == factors[None, :, :]  # [S, N, F]
    counts = same.sum(axis=1).astype(jnp.float32)  # [S, F]

    def per_latent(args):
        z_j, mean_j, logvar_j = args  # [S], [N], [N]
        inv_var = jnp.exp(-logvar_j)
        log_q = -0.5 * (
            jnp.log(2 * jnp.pi)
            + logvar_j[None]
            + (z_j[:, None] - mean_j[None]) ** 2 * inv_var[None]
        )  # [S, N]
        # One exponential per (sample, point); the per-factor sums reuse it. The point a
        # sample was drawn from is in every one of its sums, so they do not underflow.
        shift = log_q.max(axis=1, keepdims=True)
        density = jnp.exp(log_q - shift)  # [S, N]
        marginal = jnp.log(density.sum(1)) + shift[:, 0] - jnp.log(n)  # [S]
        sums = jnp.einsum("sn,snf->sf", density, same.astype(jnp.float32), precision="highest")
        conditional = jnp.log(sums) + shift - jnp.log(counts)  # [S, F]
        return conditional.mean(0) - marginal.mean(0)  # H(z_j) - H(z_j | v_k), [F]

    mutual_info = jax.lax.map(per_latent, (z.T, mean.T, logvar.T))  # [L, F]
    return mig_from_mutual_info(jnp.maximum(mutual_info, 0.0), entropies(factors))
