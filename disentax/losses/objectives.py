"""The six objectives of the reference study, as pure functions with their declarations.

Every objective is an :class:`Objective`: a function ``objective(images, out, *, step=0,
reconstruction="bernoulli", **hyper) -> (loss, aux)`` together with what it declares, its
hyperparameters (defaults and checks), its own ``aux`` keys and whether it needs a
discriminator. ``images [N,H,W,C]``, ``out`` a forward pass with fields ``mean, logvar,
z [N,L]`` and ``logits [N,H,W,C]`` (``disentax.models.VAEOutput``), ``step`` the training
step (may be traced). Reductions follow disentanglement_lib: sum over pixels and latents,
mean over the batch. ``aux`` holds ``loss``, ``recon``, ``kl``, ``elbo = -(recon + kl)``
(``COMMON_AUX``) and the objective's own terms. Hyperparameters are keyword-only and may be
traced scalars (e.g. ``jax.vmap`` over β); concrete values are checked before use, missing
ones take the declared defaults. ``disentax.losses.OBJECTIVES`` maps names to them.

A new objective is a function decorated with :func:`objective` (in any losses module,
built from :func:`vae_terms` and :func:`elbo_aux`), its entry in ``OBJECTIVES`` and its
config in ``disentax/configs``.

References:
    Higgins et al., "β-VAE", ICLR 2017. Burgess et al., "Understanding disentangling in
    β-VAE", 2018 (AnnealedVAE). Chen et al., "Isolating Sources of Disentanglement in
    VAEs", NeurIPS 2018 (β-TCVAE). Kim & Mnih, "Disentangling by Factorising", ICML 2018
    (FactorVAE). Kumar et al., "Variational Inference of Disentangled Latent Concepts from
    Unlabeled Observations", ICLR 2018 (DIP-VAE). Locatello et al., ICML 2019 (the study,
    its hyperparameter grids and disentanglement_lib).
"""

from typing import Any

import jax
import jax.numpy as jnp

from disentax.losses.declaration import (  # noqa: F401 -- re-exported: the declaration API
    COMMON_AUX,
    Check,
    ForwardPass,
    Hyperparameter,
    Objective,
    ObjectiveFn,
    elbo_aux,
    nonnegative,
    objective,
    one_of,
    positive,
    vae_terms,
)
from disentax.losses.divergence import dip_covariance, dip_penalties
from disentax.losses.total_correlation import ESTIMATORS, check_dataset_size, total_correlation
from disentax.typing import Array


def _dataset_size(key: str, value: Any) -> None:
    del key
    check_dataset_size(value)


@objective({"beta": (4.0, nonnegative)})
def beta_vae(images, out: ForwardPass, *, step=0, reconstruction="bernoulli", beta):
    """β-VAE: ``recon + β kl``. Hyperparameter: ``beta`` (β=1 is the VAE).

    Examples:
        >>> import types
        >>> import jax.numpy as jnp
        >>> from disentax.losses import beta_vae
        >>> images = jnp.zeros((2, 1, 1, 4))  # N = 2 images of 4 pixels
        >>> zeros = jnp.zeros((2, 3))  # L = 3 latents, every posterior N(0, 1)
        >>> out = types.SimpleNamespace(mean=zeros, logvar=zeros, z=zeros, logits=images)
        >>> loss, aux = beta_vae(images, out, beta=4.0)
        >>> sorted(aux)
        ['elbo', 'kl', 'loss', 'recon']
        >>> round(float(aux["recon"]), 4), float(aux["kl"])  # 4 log 2 nats; KL(N(0,1)||N(0,1))
        (2.7726, 0.0)
    """
    del step
    recon, kl = vae_terms(images, out, reconstruction)
    return elbo_aux(recon + beta * kl, recon, kl)


@objective(
    {
        "c_max": (25.0, nonnegative),
        "gamma": (1000.0, nonnegative),
        "iteration_threshold": (100000, positive),
    },
    aux=("capacity",),
)
def annealed_vae(
    images,
    out: ForwardPass,
    *,
    step=0,
    reconstruction="bernoulli",
    c_max,
    gamma,
    iteration_threshold,
):
    """AnnealedVAE: ``recon + γ |kl - C(step)|``, ``C = min(c_max, c_max step / threshold)``.

    Hyperparameters: ``c_max``, ``gamma``, ``iteration_threshold``. ``aux["capacity"]`` is C.

    Examples:
        >>> import types
        >>> import jax.numpy as jnp
        >>> from disentax.losses import annealed_vae
        >>> images = jnp.zeros((2, 1, 1, 4))  # N = 2 images of 4 pixels
        >>> zeros = jnp.zeros((2, 3))  # L = 3 latents, every posterior N(0, 1)
        >>> out = types.SimpleNamespace(mean=zeros, logvar=zeros, z=zeros, logits=images)
        >>> loss, aux = annealed_vae(images, out, step=50_000)  # half-way to the threshold
        >>> float(aux["capacity"])
        12.5
        >>> round(float(loss), 4)  # recon + gamma |0 - 12.5|
        12502.7725
    """
    recon, kl = vae_terms(images, out, reconstruction)
    step = jnp.asarray(step, recon.dtype)
    capacity = jnp.minimum(c_max, c_max * step / iteration_threshold)
    loss = recon + gamma * jnp.abs(kl - capacity)
    return elbo_aux(loss, recon, kl, capacity=capacity)


@objective(
    {
        "beta": (6.0, nonnegative),
        "estimator": ("mws", one_of(ESTIMATORS)),
        "dataset_size": (None, _dataset_size),
    },
    aux=("tc",),
)
def beta_tcvae(
    images, out: ForwardPass, *, step=0, reconstruction="bernoulli", beta, estimator, dataset_size
):
    """β-TCVAE: ``recon + kl + (β - 1) tc`` with a minibatch TC estimate on ``out.z``.

    Hyperparameters: ``beta``, ``estimator`` ("mws" | "mss"), ``dataset_size`` (see
    ``total_correlation``: with the default ``None`` and "mws" the constant
    ``(L-1) log(N B)`` is omitted, as in disentanglement_lib). ``aux["tc"]``.

    Examples:
        >>> import types
        >>> import jax.numpy as jnp
        >>> from disentax.losses import beta_tcvae
        >>> images = jnp.zeros((2, 1, 1, 4))  # N = 2 images of 4 pixels
        >>> zeros = jnp.zeros((2, 3))  # L = 3 latents, every posterior N(0, 1)
        >>> out = types.SimpleNamespace(mean=zeros, logvar=zeros, z=zeros, logits=images)
        >>> loss, aux = beta_tcvae(images, out)
        >>> sorted(aux)
        ['elbo', 'kl', 'loss', 'recon', 'tc']
        >>> round(float(aux["tc"]), 4)  # identical posteriors: -(L-1) log N
        -1.3863
    """
    del step
    recon, kl = vae_terms(images, out, reconstruction)
    tc = total_correlation(
        out.z, out.mean, out.logvar, estimator=estimator, dataset_size=dataset_size
    )
    return elbo_aux(recon + kl + (beta - 1.0) * tc, recon, kl, tc=tc)


@objective({"gamma": (10.0, nonnegative)}, aux=("tc", "discriminator/tc"), needs_discriminator=True)
def factor_vae(
    images,
    out: ForwardPass,
    *,
    step=0,
    reconstruction="bernoulli",
    discriminator_logits=None,
    gamma,
):
    """FactorVAE: ``recon + kl + γ mean(D(z)_0 - D(z)_1)`` (VAE side).

    ``discriminator_logits [N,2]`` are the discriminator's logits on ``out.z`` computed
    with the discriminator's parameters held fixed for this loss (differentiate this loss
    w.r.t. the VAE parameters only); the discriminator is trained by
    :func:`factor_vae_discriminator_loss` on ``stop_gradient(z)`` and its permutation.
    Column 0 scores "from q(z)", so ``logit_0 - logit_1`` estimates the density ratio
    ``log q(z) / prod_l q(z_l)`` and its mean the TC. Hyperparameter: ``gamma``.
    ``aux["tc"]`` (also as ``aux["discriminator/tc"]``).

    Examples:
        >>> import types
        >>> import jax.numpy as jnp
        >>> from disentax.losses import factor_vae
        >>> images = jnp.zeros((2, 1, 1, 4))  # N = 2 images of 4 pixels
        >>> zeros = jnp.zeros((2, 3))  # L = 3 latents, every posterior N(0, 1)
        >>> out = types.SimpleNamespace(mean=zeros, logvar=zeros, z=zeros, logits=images)
        >>> loss, aux = factor_vae(images, out, discriminator_logits=jnp.zeros((2, 2)))
        >>> sorted(aux)
        ['discriminator/tc', 'elbo', 'kl', 'loss', 'recon', 'tc']
        >>> float(aux["tc"])  # the discriminator cannot tell q(z) from its permutation
        0.0
    """
    del step
    if discriminator_logits is None:
        raise ValueError("factor_vae needs discriminator_logits [N, 2] (the discriminator on z)")
    logits = jnp.asarray(discriminator_logits)
    if logits.shape != (out.z.shape[0], 2):
        raise ValueError(
            f"discriminator_logits must have shape [{out.z.shape[0]}, 2], got {logits.shape}"
        )
    recon, kl = vae_terms(images, out, reconstruction)
    tc = jnp.mean(logits[:, 0] - logits[:, 1])
    return elbo_aux(recon + kl + gamma * tc, recon, kl, tc=tc, **{"discriminator/tc": tc})


def factor_vae_discriminator_loss(logits_z, logits_permuted) -> tuple[Array, dict[str, Array]]:
    """Discriminator cross-entropy: class 0 for ``z ~ q(z)``, class 1 for permuted ``z``.

    ``-(mean log softmax(logits_z)_0 + mean log softmax(logits_permuted)_1) / 2``, as
    disentanglement_lib (which clips probabilities to [1e-6, 1 - 1e-6]; this uses the
    exact log-softmax instead). Feed it logits of ``stop_gradient(z)`` so no gradient
    reaches the VAE. The reference trains it with Adam(1e-4, b1=0.5, b2=0.9).

    Args:
        logits_z: ``[N,2]`` discriminator logits on ``z``.
        logits_permuted: ``[N,2]`` logits on ``permute_dims(key, z)``.

    Returns:
        ``(loss, aux)`` with ``discriminator/loss`` and ``discriminator/accuracy``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.losses import factor_vae_discriminator_loss
        >>> loss, aux = factor_vae_discriminator_loss(jnp.zeros((4, 2)), jnp.zeros((4, 2)))
        >>> round(float(loss), 4)  # chance: log 2
        0.6931
        >>> sorted(aux)
        ['discriminator/accuracy', 'discriminator/loss']
    """
    logits_z, logits_permuted = jnp.asarray(logits_z), jnp.asarray(logits_permuted)
    for name, arr in (("logits_z", logits_z), ("logits_permuted", logits_permuted)):
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise ValueError(f"{name} must have shape [N, 2], got {tuple(arr.shape)}")
    log_p = jax.nn.log_softmax(logits_z, axis=-1)
    log_p_perm = jax.nn.log_softmax(logits_permuted, axis=-1)
    loss = -0.5 * (jnp.mean(log_p[:, 0]) + jnp.mean(log_p_perm[:, 1]))
    accuracy = 0.5 * (
        jnp.mean(logits_z[:, 0] > logits_z[:, 1])
        + jnp.mean(logits_permuted[:, 1] >= logits_permuted[:, 0])
    )
    return loss, {"discriminator/loss": loss, "discriminator/accuracy": accuracy}


def _dip(images, out: ForwardPass, reconstruction: str, logvar, lambda_od, lambda_d_factor):
    recon, kl = vae_terms(images, out, reconstruction)
    offdiag, diag = dip_penalties(dip_covariance(out.mean, logvar))
    lambda_d = lambda_d_factor * lambda_od
    loss = recon + kl + lambda_od * offdiag + lambda_d * diag
    return elbo_aux(loss, recon, kl, **{"dip/offdiag": offdiag, "dip/diag": diag})


@objective(
    {"lambda_od": (10.0, nonnegative), "lambda_d_factor": (10.0, nonnegative)},
    aux=("dip/offdiag", "dip/diag"),
)
def dip_vae_i(
    images, out: ForwardPass, *, step=0, reconstruction="bernoulli", lambda_od, lambda_d_factor
):
    """DIP-VAE-I: ``recon + kl + λ_od Σ_{i≠j} Cov_ij² + λ_d Σ_i (Cov_ii - 1)²``.

    ``Cov`` is the batch covariance of ``out.mean``; ``λ_d = lambda_d_factor * lambda_od``.
    Hyperparameters: ``lambda_od``, ``lambda_d_factor``. ``aux["dip/offdiag"]``,
    ``aux["dip/diag"]`` are the unweighted penalties.

    Examples:
        >>> import types
        >>> import jax.numpy as jnp
        >>> from disentax.losses import dip_vae_i
        >>> images = jnp.zeros((2, 1, 1, 4))  # N = 2 images of 4 pixels
        >>> zeros = jnp.zeros((2, 3))  # L = 3 latents, every posterior N(0, 1)
        >>> out = types.SimpleNamespace(mean=zeros, logvar=zeros, z=zeros, logits=images)
        >>> loss, aux = dip_vae_i(images, out)
        >>> sorted(aux)
        ['dip/diag', 'dip/offdiag', 'elbo', 'kl', 'loss', 'recon']
        >>> float(aux["dip/offdiag"]), float(aux["dip/diag"])  # Cov(mean) = 0: L (0 - 1)^2
        (0.0, 3.0)
    """
    del step
    return _dip(images, out, reconstruction, None, lambda_od, lambda_d_factor)


@objective(
    {"lambda_od": (10.0, nonnegative), "lambda_d_factor": (1.0, nonnegative)},
    aux=("dip/offdiag", "dip/diag"),
)
def dip_vae_ii(
    images, out: ForwardPass, *, step=0, reconstruction="bernoulli", lambda_od, lambda_d_factor
):
    """DIP-VAE-II: as DIP-VAE-I with ``Cov = Cov(mean) + diag(mean_n exp(logvar_n))``.

    Examples:
        >>> import types
        >>> import jax.numpy as jnp
        >>> from disentax.losses import dip_vae_ii
        >>> images = jnp.zeros((2, 1, 1, 4))  # N = 2 images of 4 pixels
        >>> zeros = jnp.zeros((2, 3))  # L = 3 latents, every posterior N(0, 1)
        >>> out = types.SimpleNamespace(mean=zeros, logvar=zeros, z=zeros, logits=images)
        >>> loss, aux = dip_vae_ii(images, out)
        >>> float(aux["dip/offdiag"]), float(aux["dip/diag"])  # Cov = I: no penalty
        (0.0, 0.0)
    """
    del step
    return _dip(images, out, reconstruction, out.logvar, lambda_od, lambda_d_factor)
