"""Unsupervised scores of a representation: no factors needed.

With ``C = cov(codes)`` (``ddof=1``, as ``np.cov``):

* ``gaussian_total_correlation = 1/2 (sum_i log C_ii - log det C)``: the total
  correlation (KL between the joint and the product of marginals) of ``N(0, C)``.
* ``gaussian_wasserstein_correlation = 2 tr C - 2 tr sqrtm(C diag(C))``: the squared
  2-Wasserstein distance between ``N(0, C)`` and ``N(0, diag C)``; ``_norm`` divides it by
  ``tr C``. ``sqrtm(D C)`` has the spectrum of the symmetric ``X^2 = D^1/2 C D^1/2``
  (``D = diag C``), whose root ``X`` comes from one ``eigh``; and since
  ``(X^2)_ii = C_ii^2``, ``C_ii - X_ii = sum_{k != i} X_ik^2 / (C_ii + X_ii)``, which
  gives the distance without the cancellation of ``2 tr C - 2 tr X`` in float32.
* ``mutual_info_score``: mean pairwise mutual information of the histogram-binned codes,
  ``sum_{i != j} I(c_i; c_j) / (L^2 - L)``.

Degenerate input: a constant code is independent of the others, so it is left out of the
Gaussian total correlation (the reference's ``log 0 - log det`` would be undefined) and
adds nothing to the Wasserstein form; if every code is constant, both Gaussian scores are
0 and the normalised one is 0 (not ``0/0``). A single code gives total correlation 0 and
a mutual-information score of 0.

References:
  Locatello et al., ICML 2019 (disentanglement_lib ``unsupervised_metrics.py``).
  Watanabe, "Information theoretical analysis of multivariate correlation", 1960.
  Dowson & Landau, "The Frechet distance between multivariate normal distributions",
  J. Multivariate Anal. 1982.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from disentax.metrics.checks import check_codes
from disentax.metrics.information import (
    binned_pairwise_mutual_info,
    check_histogram_bins,
    equal_width_bins,
)
from disentax.typing import Array, ArrayLike

__all__ = [
    "gaussian_total_correlation",
    "gaussian_wasserstein_correlation",
    "gaussian_wasserstein_correlation_norm",
    "mutual_info_score",
    "unsupervised_scores",
]

_CONSTANT_VARIANCE = 1e-12


def _covariance(codes: Array) -> Array:
    centred = codes - codes.mean(0)
    return jnp.matmul(centred.T, centred, precision="highest") / (codes.shape[0] - 1)


def _total_correlation(cov: Array) -> Array:
    variance = jnp.diagonal(cov)
    active = variance > _CONSTANT_VARIANCE
    both = active[:, None] & active[None, :]
    # Constant codes become independent unit-variance codes: they contribute 0.
    cov = jnp.where(both, cov, jnp.eye(cov.shape[0], dtype=cov.dtype))
    _, logdet = jnp.linalg.slogdet(cov)
    return 0.5 * (jnp.sum(jnp.log(jnp.diagonal(cov))) - logdet)


def _wasserstein(cov: Array) -> tuple[Array, Array]:
    variance = jnp.diagonal(cov)
    active = variance > _CONSTANT_VARIANCE
    variance = jnp.where(active, variance, 0.0)
    scale = jnp.sqrt(variance)
    symmetric = scale[:, None] * cov * scale[None, :]  # D^1/2 C D^1/2, diagonal C_ii^2
    eigenvalues, eigenvectors = jnp.linalg.eigh(symmetric)
    scaled = eigenvectors * jnp.sqrt(jnp.maximum(eigenvalues, 0.0))
    root = jnp.matmul(scaled, eigenvectors.T, precision="highest")
    # 2 tr C - 2 tr root without cancellation: (root^2)_ii = C_ii^2 gives
    # C_ii - root_ii = sum_{k != i} root_ik^2 / (C_ii + root_ii).
    off_diagonal = jnp.sum(root * root, axis=1) - jnp.diagonal(root) ** 2
    denominator = jnp.where(active, variance + jnp.diagonal(root), 1.0)
    gaps = jnp.where(active, off_diagonal / denominator, 0.0)
    distance = 2 * jnp.sum(gaps)
    trace = jnp.sum(variance)
    return distance, jnp.where(trace > 0, distance / jnp.where(trace > 0, trace, 1.0), 0.0)


def _mutual_info_score(codes: Array, num_bins: int) -> Array:
    num_codes = codes.shape[1]
    if num_codes < 2:
        return jnp.float32(0.0)
    bins = equal_width_bins(codes, num_bins=num_bins)
    pairwise = binned_pairwise_mutual_info(bins, num_bins=num_bins)
    off_diagonal = pairwise * (1.0 - jnp.eye(num_codes, dtype=pairwise.dtype))
    return jnp.sum(off_diagonal) / (num_codes**2 - num_codes)


@jax.jit
def _jit_total_correlation(codes: Array) -> Array:
    return _total_correlation(_covariance(codes))


@jax.jit
def _jit_wasserstein(codes: Array) -> tuple[Array, Array]:
    return _wasserstein(_covariance(codes))


def _checked(codes: ArrayLike) -> Array:
    return check_codes(codes, min_points=2)


def gaussian_total_correlation(codes: ArrayLike) -> Array:
    """Total correlation of a Gaussian with the codes' covariance (nats).

    Args:
      codes: ``[N, L]`` codes, ``N >= 2``.

    Returns:
      scalar ``>= 0`` (0 for independent codes).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from disentax.metrics import gaussian_total_correlation
      >>> noise = jax.random.normal(jax.random.key(0), (600, 2))
      >>> bool(gaussian_total_correlation(noise) < 0.05)  # independent codes
      True
      >>> codes = jnp.stack([noise[:, 0], noise[:, 0] + 0.1 * noise[:, 1]], axis=1)
      >>> bool(gaussian_total_correlation(codes) > 1.0)  # nearly duplicated codes
      True
    """
    return _jit_total_correlation(_checked(codes))


def gaussian_wasserstein_correlation(codes: ArrayLike) -> Array:
    """``W_2^2(N(0, C), N(0, diag C))`` for the codes' covariance ``C``; scalar ``>= 0``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from disentax.metrics import gaussian_wasserstein_correlation
      >>> noise = jax.random.normal(jax.random.key(0), (600, 2))
      >>> bool(gaussian_wasserstein_correlation(noise) < 0.05)  # independent codes
      True
      >>> codes = jnp.stack([noise[:, 0], noise[:, 0]], axis=1)  # a duplicated code
      >>> bool(gaussian_wasserstein_correlation(codes) > 0.5)
      True
    """
    return _jit_wasserstein(_checked(codes))[0]


def gaussian_wasserstein_correlation_norm(codes: ArrayLike) -> Array:
    """``gaussian_wasserstein_correlation / tr C``; scalar in ``[0, 2)``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from disentax.metrics import gaussian_wasserstein_correlation_norm
      >>> noise = jax.random.normal(jax.random.key(0), (600, 2))
      >>> bool(gaussian_wasserstein_correlation_norm(noise) < 0.05)  # independent codes
      True
      >>> codes = jnp.stack([noise[:, 0], noise[:, 0]], axis=1)  # a duplicated code
      >>> round(float(gaussian_wasserstein_correlation_norm(codes)), 2)  # 2 - sqrt(2)
      0.59
    """
    return _jit_wasserstein(_checked(codes))[1]


def mutual_info_score(codes: ArrayLike, *, num_bins: int = 20) -> Array:
    """Mean mutual information (nats) between distinct pairs of histogram-binned codes.

    Args:
      codes: ``[N, L]`` codes.
      num_bins: static number of equal-width bins per code.

    Returns:
      scalar ``>= 0``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from disentax.metrics import mutual_info_score
      >>> noise = jax.random.normal(jax.random.key(0), (600, 2))
      >>> duplicated = jnp.stack([noise[:, 0], noise[:, 0]], axis=1)
      >>> bool(mutual_info_score(duplicated) > 2 * mutual_info_score(noise))
      True
    """
    codes = _checked(codes)
    check_histogram_bins(num_bins, codes.shape[0])
    return _jit_mutual_info_score(codes, num_bins=int(num_bins))


@functools.partial(jax.jit, static_argnames=("num_bins",))
def _jit_mutual_info_score(codes: Array, *, num_bins: int) -> Array:
    return _mutual_info_score(codes, num_bins)


def unsupervised_scores(codes: ArrayLike, *, num_bins: int = 20) -> dict[str, Array]:
    """All four unsupervised scores in one program, keyed as in the reference.

    Returns:
      ``{"gaussian_total_correlation", "gaussian_wasserstein_correlation",
      "gaussian_wasserstein_correlation_norm", "mutual_info_score"}`` scalars.

    Examples:
      >>> import jax
      >>> from disentax.metrics import unsupervised_scores
      >>> scores = unsupervised_scores(jax.random.normal(jax.random.key(0), (600, 3)))
      >>> for name in sorted(scores):
      ...     print(name, bool(scores[name] >= 0))
      gaussian_total_correlation True
      gaussian_wasserstein_correlation True
      gaussian_wasserstein_correlation_norm True
      mutual_info_score True
    """
    codes = _checked(codes)
    check_histogram_bins(num_bins, codes.shape[0])
    return _unsupervised_scores(codes, num_bins=int(num_bins))


@functools.partial(jax.jit, static_argnames=("num_bins",))
def _unsupervised_scores(codes: Array, *, num_bins: int) -> dict[str, Array]:
    cov = _covariance(codes)
    distance, normalised = _wasserstein(cov)
    return {
        "gaussian_total_correlation": _total_correlation(cov),
        "gaussian_wasserstein_correlation": distance,
        "gaussian_wasserstein_correlation_norm": normalised,
        "mutual_info_score": _mutual_info_score(codes, num_bins),
    }
