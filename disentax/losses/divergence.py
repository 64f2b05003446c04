"""Gaussian KL divergence, log densities and the DIP-VAE moment-matching terms.

References:
    Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014 (Appendix B).
    Kumar et al., "Variational Inference of Disentangled Latent Concepts from Unlabeled
    Observations", ICLR 2018 (DIP-VAE; covariances as in disentanglement_lib).
"""

import math

import jax.numpy as jnp

from disentax.typing import Array, ArrayLike

_LOG_2PI = math.log(2 * math.pi)


def _check_latents(mean: Array, logvar: Array) -> None:
    if mean.ndim != 2 or mean.shape != logvar.shape:
        raise ValueError(
            f"mean and logvar must both have shape [N, L], got {tuple(mean.shape)} and "
            f"{tuple(logvar.shape)}"
        )


def gaussian_kl(mean: ArrayLike, logvar: ArrayLike) -> Array:
    """``KL(N(mean, exp(logvar)) || N(0, 1))`` per example and latent.

    Closed form ``(mean^2 + exp(logvar) - logvar - 1) / 2``.

    Args:
        mean: ``[N,L]`` posterior means.
        logvar: ``[N,L]`` posterior log-variances.

    Returns:
        ``[N,L]`` (sum over ``L`` and mean over ``N`` give the reference KL term).

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.losses import gaussian_kl
        >>> float(gaussian_kl(jnp.zeros((2, 3)), jnp.zeros((2, 3))).sum())  # posterior = prior
        0.0
        >>> gaussian_kl(jnp.array([[1.0, 0.0]]), jnp.zeros((1, 2))).tolist()  # mean^2 / 2
        [[0.5, 0.0]]
    """
    mean, logvar = jnp.asarray(mean), jnp.asarray(logvar)
    _check_latents(mean, logvar)
    return 0.5 * (jnp.square(mean) + jnp.exp(logvar) - logvar - 1.0)


def gaussian_log_density(z: ArrayLike, mean: ArrayLike, logvar: ArrayLike) -> Array:
    """Elementwise ``log N(z; mean, exp(logvar))`` (broadcasting, no reduction).

    ``-(log(2 pi) + logvar + (z - mean)^2 exp(-logvar)) / 2``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.losses import gaussian_log_density
        >>> z = jnp.zeros((4, 1, 3))  # [B, 1, L] against [1, B, L] posteriors: [B, B, L]
        >>> gaussian_log_density(z, jnp.zeros((1, 4, 3)), jnp.zeros((1, 4, 3))).shape
        (4, 4, 3)
        >>> round(float(gaussian_log_density(0.0, 0.0, 0.0)), 4)  # -log(2 pi) / 2
        -0.9189
    """
    z, mean, logvar = jnp.asarray(z), jnp.asarray(mean), jnp.asarray(logvar)
    return -0.5 * (_LOG_2PI + logvar + jnp.square(z - mean) * jnp.exp(-logvar))


def dip_covariance(mean: ArrayLike, logvar: ArrayLike | None = None) -> Array:
    """Covariance that DIP-VAE matches to the identity, ``[L,L]``.

    DIP-VAE-I (``logvar=None``): the batch covariance of the posterior means,
    ``E[mu mu^T] - E[mu] E[mu]^T`` (divided by ``N``, as disentanglement_lib).
    DIP-VAE-II: that plus ``diag(mean_n exp(logvar_n))``, the covariance of the
    aggregate posterior ``q(z)`` of the batch.

    Args:
        mean: ``[N,L]``.
        logvar: ``[N,L]`` or ``None``.

    Returns:
        ``[L,L]`` symmetric matrix.

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.losses import dip_covariance
        >>> mean = jnp.array([[1.0, 0.0], [-1.0, 0.0]])
        >>> dip_covariance(mean).tolist()  # DIP-VAE-I
        [[1.0, 0.0], [0.0, 0.0]]
        >>> dip_covariance(mean, jnp.zeros((2, 2))).tolist()  # DIP-VAE-II adds E[exp(logvar)]
        [[2.0, 0.0], [0.0, 1.0]]
    """
    mean = jnp.asarray(mean)
    if mean.ndim != 2:
        raise ValueError(f"mean must have shape [N, L], got {tuple(mean.shape)}")
    centred = mean - jnp.mean(mean, axis=0)
    cov = centred.T @ centred / mean.shape[0]
    if logvar is not None:
        logvar = jnp.asarray(logvar)
        _check_latents(mean, logvar)
        cov = cov + jnp.diag(jnp.mean(jnp.exp(logvar), axis=0))
    return cov


def dip_penalties(covariance: ArrayLike) -> tuple[Array, Array]:
    """DIP-VAE penalty parts ``(sum_{i!=j} C_ij^2, sum_i (C_ii - 1)^2)``, unweighted.

    The DIP-VAE objectives add ``lambda_od * offdiag + lambda_d * diag``.

    Args:
        covariance: ``[L,L]``.

    Returns:
        Two scalars: the off-diagonal and the diagonal penalty.

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.losses import dip_penalties
        >>> [float(p) for p in dip_penalties(jnp.eye(3))]  # the target: no penalty
        [0.0, 0.0]
        >>> [float(p) for p in dip_penalties(jnp.array([[1.0, 0.5], [0.5, 3.0]]))]
        [0.5, 4.0]
    """
    covariance = jnp.asarray(covariance)
    if covariance.ndim != 2 or covariance.shape[0] != covariance.shape[1]:
        raise ValueError(f"covariance must be square [L, L], got {tuple(covariance.shape)}")
    diag = jnp.diagonal(covariance)
    offdiag = covariance * (1.0 - jnp.eye(covariance.shape[0], dtype=covariance.dtype))
    return jnp.sum(jnp.square(offdiag)), jnp.sum(jnp.square(diag - 1.0))
