"""The six objectives of the reference study, as pure functions.

Every objective has the signature ``objective(images, out, *, step,
reconstruction="bernoulli", **hyper) -> (loss, aux)``: ``images [N,H,W,C]``, ``out`` a
forward pass with fields ``mean, logvar, z [N,L]`` and ``logits [N,H,W,C]``
(``disentax.models.VAEOutput``), ``step`` the training step (may be traced). Reductions
follow disentanglement_lib: sum over pixels and latents, mean over the batch. ``aux``
holds ``loss``, ``recon``, ``kl``, ``elbo = -(recon + kl)`` and the objective's own terms.
Hyperparameters are keyword-only and may be traced scalars (e.g. ``jax.vmap`` over β);
concrete values are checked by :func:`validate_hyperparameters`.

References:
    Higgins et al., "β-VAE", ICLR 2017. Burgess et al., "Understanding disentangling in
    β-VAE", 2018 (AnnealedVAE). Chen et al., "Isolating Sources of Disentanglement in
    VAEs", NeurIPS 2018 (β-TCVAE). Kim & Mnih, "Disentangling by Factorising", ICML 2018
    (FactorVAE). Kumar et al., "Variational Inference of Disentangled Latent Concepts from
    Unlabeled Observations", ICLR 2018 (DIP-VAE). Locatello et al., ICML 2019 (the study,
    its hyperparameter grids and disentanglement_lib).
"""

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from disentax.losses.divergence import dip_covariance, dip_penalties, gaussian_kl
from disentax.losses.reconstruction import RECONSTRUCTIONS, reconstruction_nll
from disentax.losses.total_correlation import ESTIMATORS, check_dataset_size, total_correlation
from disentax.typing import Array


class ForwardPass(Protocol):
    mean: Array
    logvar: Array
    z: Array
    logits: Array


ObjectiveFn = Callable[..., tuple[Array, dict[str, Array]]]

# Defaults inside the study's grids (Locatello et al. 2019, Table 2).
DEFAULT_HYPERPARAMETERS: dict[str, dict[str, Any]] = {
    "beta_vae": {"beta": 4.0},
    "annealed_vae": {"c_max": 25.0, "gamma": 1000.0, "iteration_threshold": 100000},
    "beta_tcvae": {"beta": 6.0, "estimator": "mws", "dataset_size": None},
    "factor_vae": {"gamma": 10.0},
    "dip_vae_i": {"lambda_od": 10.0, "lambda_d_factor": 10.0},
    "dip_vae_ii": {"lambda_od": 10.0, "lambda_d_factor": 1.0},
}

_NONNEGATIVE = ("beta", "c_max", "gamma", "lambda_od", "lambda_d_factor")


def validate_hyperparameters(name: str, hyper: Mapping[str, Any]) -> None:
    """Raises ValueError naming the objective or hyperparameter that is not acceptable.

    Checks: ``name`` is in ``OBJECTIVES``; every key is a hyperparameter of it; β, γ,
    ``c_max``, ``lambda_od``, ``lambda_d_factor`` are finite and >= 0;
    ``iteration_threshold`` > 0; ``estimator`` in ("mws", "mss"); ``dataset_size`` None
    or a positive integer. Traced values (inside ``jit``/``vmap``) are not checked.
    """
    if name not in DEFAULT_HYPERPARAMETERS:
        raise ValueError(
            f"objective must be one of {sorted(DEFAULT_HYPERPARAMETERS)}, got {name!r}"
        )
    allowed = DEFAULT_HYPERPARAMETERS[name]
    for key, value in hyper.items():
        if key not in allowed:
            raise ValueError(
                f"{key!r} is not a hyperparameter of {name!r}; expected some of {sorted(allowed)}"
            )
        if isinstance(value, jax.core.Tracer):
            continue
        if key in _NONNEGATIVE or key == "iteration_threshold":
            arr = np.asarray(value)
            if arr.ndim != 0 or not np.issubdtype(arr.dtype, np.number) or arr.dtype == bool:
                raise ValueError(f"{key} must be a real scalar, got {value!r}")
            v = float(arr)
            if key == "iteration_threshold" and not v > 0:
                raise ValueError(f"iteration_threshold must be > 0, got {value!r}")
            if not (v >= 0 and v < float("inf")):
                raise ValueError(f"{key} must be finite and >= 0, got {value!r}")
        elif key == "estimator" and value not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {ESTIMATORS}, got {value!r}")
        elif key == "dataset_size":
            check_dataset_size(value)


def _resolve(name: str, hyper: Mapping[str, Any]) -> dict[str, Any]:
    validate_hyperparameters(name, hyper)
    return {**DEFAULT_HYPERPARAMETERS[name], **hyper}


def _vae_terms(images, out: ForwardPass, reconstruction: str) -> tuple[Array, Array]:
    if reconstruction not in RECONSTRUCTIONS:
        raise ValueError(f"reconstruction must be one of {RECONSTRUCTIONS}, got {reconstruction!r}")
    recon = jnp.mean(reconstruction_nll(images, out.logits, reconstruction))
    kl = jnp.mean(jnp.sum(gaussian_kl(out.mean, out.logvar), axis=1))
    return recon, kl


def _aux(loss, recon, kl, **extra) -> tuple[Array, dict[str, Array]]:
    return loss, {"loss": loss, "recon": recon, "kl": kl, "elbo": -(recon + kl), **extra}


def beta_vae(images, out: ForwardPass, *, step=0, reconstruction="bernoulli", **hyper):
    """β-VAE: ``recon + β kl``. Hyperparameter: ``beta`` (β=1 is the VAE)."""
    del step
    h = _resolve("beta_vae", hyper)
    recon, kl = _vae_terms(images, out, reconstruction)
    return _aux(recon + h["beta"] * kl, recon, kl)


def annealed_vae(images, out: ForwardPass, *, step=0, reconstruction="bernoulli", **hyper):
    """AnnealedVAE: ``recon + γ |kl - C(step)|``, ``C = min(c_max, c_max step / threshold)``.

    Hyperparameters: ``c_max``, ``gamma``, ``iteration_threshold``. ``aux["capacity"]`` is C.
    """
    h = _resolve("annealed_vae", hyper)
    recon, kl = _vae_terms(images, out, reconstruction)
    step = jnp.asarray(step, recon.dtype)
    capacity = jnp.minimum(h["c_max"], h["c_max"] * step / h["iteration_threshold"])
    loss = recon + h["gamma"] * jnp.abs(kl - capacity)
    return _aux(loss, recon, kl, capacity=capacity)


def beta_tcvae(images, out: ForwardPass, *, step=0, reconstruction="bernoulli", **hyper):
    """β-TCVAE: ``recon + kl + (β - 1) tc`` with a minibatch TC estimate on ``out.z``.

    Hyperparameters: ``beta``, ``estimator`` ("mws" | "mss"), ``dataset_size`` (see
    ``total_correlation``: with the default ``None`` and "mws" the constant
    ``(L-1) log(N B)`` is omitted, as in disentanglement_lib). ``aux["tc"]``.
    """
    del step
    h = _resolve("beta_tcvae", hyper)
    recon, kl = _vae_terms(images, out, reconstruction)
    tc = total_correlation(
        out.z, out.mean, out.logvar, estimator=h["estimator"], dataset_size=h["dataset_size"]
    )
    return _aux(recon + kl + (h["beta"] - 1.0) * tc, recon, kl, tc=tc)


def factor_vae(
    images,
    out: ForwardPass,
    *,
    step=0,
    reconstruction="bernoulli",
    discriminator_logits=None,
    **hyper,
):
    """FactorVAE: ``recon + kl + γ mean(D(z)_0 - D(z)_1)`` (VAE side).

    ``discriminator_logits [N,2]`` are the discriminator's logits on ``out.z`` computed
    with the discriminator's parameters held fixed for this loss (differentiate this loss
    w.r.t. the VAE parameters only); the discriminator is trained by
    :func:`factor_vae_discriminator_loss` on ``stop_gradient(z)`` and its permutation.
    Column 0 scores "from q(z)", so ``logit_0 - logit_1`` estimates the density ratio
    ``log q(z) / prod_l q(z_l)`` and its mean the TC. Hyperparameter: ``gamma``.
    ``aux["tc"]`` (also as ``aux["discriminator/tc"]``).
    """
    del step
    h = _resolve("factor_vae", hyper)
    if discriminator_logits is None:
        raise ValueError("factor_vae needs discriminator_logits [N, 2] (the discriminator on z)")
    logits = jnp.asarray(discriminator_logits)
    if logits.shape != (out.z.shape[0], 2):
        raise ValueError(
            f"discriminator_logits must have shape [{out.z.shape[0]}, 2], got {logits.shape}"
        )
    recon, kl = _vae_terms(images, out, reconstruction)
    tc = jnp.mean(logits[:, 0] - logits[:, 1])
    return _aux(recon + kl + h["gamma"] * tc, recon, kl, tc=tc, **{"discriminator/tc": tc})


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


def _dip(name: str, images, out: ForwardPass, reconstruction: str, hyper):
    h = _resolve(name, hyper)
    recon, kl = _vae_terms(images, out, reconstruction)
    logvar = out.logvar if name == "dip_vae_ii" else None
    offdiag, diag = dip_penalties(dip_covariance(out.mean, logvar))
    lambda_d = h["lambda_d_factor"] * h["lambda_od"]
    loss = recon + kl + h["lambda_od"] * offdiag + lambda_d * diag
    return _aux(loss, recon, kl, **{"dip/offdiag": offdiag, "dip/diag": diag})


def dip_vae_i(images, out: ForwardPass, *, step=0, reconstruction="bernoulli", **hyper):
    """DIP-VAE-I: ``recon + kl + λ_od Σ_{i≠j} Cov_ij² + λ_d Σ_i (Cov_ii - 1)²``.

    ``Cov`` is the batch covariance of ``out.mean``; ``λ_d = lambda_d_factor * lambda_od``.
    Hyperparameters: ``lambda_od``, ``lambda_d_factor``. ``aux["dip/offdiag"]``,
    ``aux["dip/diag"]`` are the unweighted penalties.
    """
    del step
    return _dip("dip_vae_i", images, out, reconstruction, hyper)


def dip_vae_ii(images, out: ForwardPass, *, step=0, reconstruction="bernoulli", **hyper):
    """DIP-VAE-II: as DIP-VAE-I with ``Cov = Cov(mean) + diag(mean_n exp(logvar_n))``."""
    del step
    return _dip("dip_vae_ii", images, out, reconstruction, hyper)


OBJECTIVES: dict[str, ObjectiveFn] = {
    "beta_vae": beta_vae,
    "annealed_vae": annealed_vae,
    "beta_tcvae": beta_tcvae,
    "factor_vae": factor_vae,
    "dip_vae_i": dip_vae_i,
    "dip_vae_ii": dip_vae_ii,
}
