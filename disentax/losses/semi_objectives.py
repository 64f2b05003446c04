"""Semi-supervised objectives: an unsupervised objective plus a supervised regulariser.

Each step sees a batch of ``N`` unlabelled images and ``N`` labelled rows of a fixed
labelled subset (``batch="labelled"``, :func:`disentax.data.labelled.labelled_batch`):
``images``, ``labelled_images``, ``labels [N,F']`` and ``label_sizes [N,F']``. The forward
pass encodes both (one encoder call), samples and decodes the unlabelled images as the
standard pass does, and keeps the posterior means of the labelled ones
(:class:`SemiPass`). The loss, as disentanglement_lib's ``BaseS2VAE``:

``recon + R_unsup + anneal(gamma_sup, step) S(labelled_mean, labels)``, with ``R_unsup``
the unsupervised model's regulariser, ``S`` a supervised regulariser
(:mod:`disentax.losses.semi_supervised`) and its weight annealed; the fully supervised
VAE (:func:`supervised_vae`) is the baseline. The labelled batch is configured by the batch
hyperparameters (:func:`disentax.data.labelled.check_labelled_options`). The learned
parameters of ``l2`` and ``embed`` (:func:`init_objective_params`) live in the VAE's tree
as ``params["vae"]["objective"]`` and arrive as ``objective_params`` (called without them,
``l2`` uses its initial scale 1 and ``embed`` is refused). Semantics and deliberate
differences from the reference: docs/guides/semi_supervision.md.

References:
    Locatello, Tschannen, Bauer, Rätsch, Schölkopf, Bachem, "Disentangling Factors of
    Variation Using Few Labels", ICLR 2020; disentanglement_lib,
    ``methods/semi_supervised/semi_supervised_vae.py``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from disentax.losses.declaration import (
    ModelFns,
    elbo_aux,
    nonnegative,
    objective,
    one_of,
    vae_terms,
)
from disentax.losses.divergence import dip_covariance, dip_penalties
from disentax.losses.semi_hyperparameters import LABELLED_HYPER, SUPERVISED_HYPER
from disentax.losses.semi_supervised import anneal, init_regulariser_params, supervised_loss
from disentax.losses.total_correlation import total_correlation
from disentax.typing import Array, PRNGKey

__all__ = [
    "LABELLED_INPUTS",
    "SemiPass",
    "init_objective_params",
    "s2_beta_tcvae",
    "s2_beta_vae",
    "s2_dip_vae",
    "s2_factor_vae",
    "supervised_vae",
]

#: The batch entries the objectives read besides ``images``.
LABELLED_INPUTS = ("labels", "label_sizes")
#: The aux keys every semi-supervised objective adds: the regulariser and its weight.
_AUX = ("supervised/loss", "supervised/weight")


class SemiPass(NamedTuple):
    """The forward pass of a semi-supervised batch (a ``ForwardPass`` of the unlabelled rows).

    Attributes:
        mean, logvar, z: ``[N,L]`` posterior and sample of the unlabelled images.
        logits: ``[N,H,W,C]`` the decoder's logits of ``z``.
        labelled_mean: ``[N,L]`` posterior means of the labelled images.
    """

    mean: Array
    logvar: Array
    z: Array
    logits: Array
    labelled_mean: Array


def _semi_forward(detach_decoder: bool):
    """The ``forward`` of the S² objectives (``detach_decoder`` for the supervised VAE)."""

    def forward(model: ModelFns, batch, **_: Any) -> SemiPass:
        images = batch["images"]
        n = images.shape[0]
        mean, logvar = model.encode(jnp.concatenate([images, batch["labelled_images"]]))
        mean_u, logvar_u = mean[:n], logvar[:n]
        # stream 0: the standard pass's noise, so the unsupervised part samples as there
        z = mean_u + jnp.exp(0.5 * logvar_u) * model.noise(0, n)
        logits = model.decode(jax.lax.stop_gradient(z) if detach_decoder else z)
        return SemiPass(mean_u, logvar_u, z, logits, mean[n:])

    return forward


_DECLARED = dict(
    batch="labelled",
    batch_hyperparameters=tuple(LABELLED_HYPER),
    inputs=LABELLED_INPUTS,
)
_OPTIONS = ("learn_scale", "sigma", "learn_sigma", "use_order")


def _supervised(out: SemiPass, labels, label_sizes, params, hyper) -> Array:
    options = {k: hyper[k] for k in _OPTIONS}
    name = hyper["regulariser"]
    return supervised_loss(name, out.labelled_mean, labels, label_sizes, params, **options)


def _semi_terms(images, out, step, reconstruction, inputs, hyper):
    """``(recon, kl, supervised, weight)`` of a semi-supervised batch."""
    recon, kl = vae_terms(images, out, reconstruction)
    supervised = _supervised(out, *inputs, hyper)
    weight = anneal(
        hyper["annealer"],
        hyper["gamma_sup"],
        step,
        iteration_threshold=hyper["iteration_threshold"],
    )
    return recon, kl, supervised, weight


def _aux(loss, recon, kl, supervised, weight, **extra):
    named = {"supervised/loss": supervised, "supervised/weight": weight, **extra}
    return elbo_aux(loss, recon, kl, **named)


def label_shape(factor_sizes, *, labeller="perfect", num_bins=5, num_observed_factors=2, **_):
    """``(F', K)``: the label columns and the largest label size a labeller gives.

    Examples:
        >>> from disentax.losses.semi_objectives import label_shape
        >>> label_shape((3, 6, 40), labeller="binned", num_bins=5)
        (3, 5)
    """
    sizes = tuple(int(s) for s in factor_sizes)
    width = num_observed_factors if labeller == "partial" else len(sizes)
    largest = min(max(sizes), num_bins) if labeller == "binned" else max(sizes)
    return width, largest


def init_objective_params(key: PRNGKey, dataset, **hyper: Any) -> dict[str, Array]:
    """The learned parameters of a semi-supervised objective's regulariser, initialised.

    Their shapes follow the labels the labelled batch gives for ``dataset``
    (:func:`label_shape` of its ``factor_sizes``).

    Args:
        key: typed PRNG key.
        dataset: the ground-truth dataset trained on (its ``factor_sizes``).
        **hyper: the objective's hyperparameters (``regulariser`` and its options, the
            labeller and its options; others are ignored; defaults as declared).

    Returns:
        ``init_regulariser_params(...)``: ``{}`` for ``xent`` and ``cov``.

    Examples:
        >>> import jax
        >>> from disentax.data import Identity
        >>> from disentax.losses.semi_objectives import init_objective_params
        >>> params = init_objective_params(jax.random.key(0), Identity((3, 5)), regulariser="embed")
        >>> params["embedding"].shape
        (2, 5)
    """
    defaults = {k: v[0] for k, v in {**SUPERVISED_HYPER, **LABELLED_HYPER}.items()}
    hyper = {**defaults, **hyper}
    num_factors, max_size = label_shape(dataset.factor_sizes, **hyper)
    options = {k: hyper[k] for k in _OPTIONS}
    return init_regulariser_params(
        key, hyper["regulariser"], num_factors=num_factors, max_size=max_size, **options
    )


# ------------------------------------------------------------------- the objectives


def _semi(hyperparameters, **declared):
    """``@objective`` of a semi-supervised objective: its own and the shared declarations."""
    return objective(
        {**hyperparameters, **SUPERVISED_HYPER, **LABELLED_HYPER},
        aux=_AUX + declared.pop("aux", ()),
        forward=_semi_forward(declared.pop("detach_decoder", False)),
        init_params=init_objective_params,
        **declared,
        **_DECLARED,
    )


@_semi({"beta": (4.0, nonnegative)})
def s2_beta_vae(
    images,
    out: SemiPass,
    *,
    step=0,
    reconstruction="bernoulli",
    labels,
    label_sizes,
    objective_params=None,
    beta,
    **hyper,
):
    """S²-β-VAE: ``recon + β kl + anneal(gamma_sup, step) S(labelled_mean, labels)``.

    Hyperparameters: ``beta``; the supervised ones (``gamma_sup``, ``annealer``,
    ``iteration_threshold``, ``regulariser``, ``learn_scale``, ``sigma``, ``learn_sigma``,
    ``use_order``)
    and the labelled batch's (``num_labels``, ``train_fraction``, ``labeller``,
    ``num_bins``, ``prob_random``, ``num_observed_factors``), as every S² objective.
    ``aux["supervised/loss"]`` is ``S``, ``aux["supervised/weight"]`` its weight.

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.losses.semi_objectives import SemiPass, s2_beta_vae
        >>> images = jnp.zeros((2, 1, 1, 4))  # N = 2 images of 4 pixels
        >>> zeros = jnp.zeros((2, 3))  # L = 3 latents, every posterior N(0, 1)
        >>> out = SemiPass(zeros, zeros, zeros, images, labelled_mean=zeros)
        >>> labels, sizes = jnp.zeros((2, 2), jnp.int32), jnp.full((2, 2), 5)
        >>> loss, aux = s2_beta_vae(images, out, labels=labels, label_sizes=sizes)
        >>> round(float(aux["supervised/loss"]), 4)  # xent: 4 entries of log 2
        2.7726
        >>> float(aux["supervised/weight"])  # gamma_sup under the fixed annealer
        4.0
    """
    inputs = (labels, label_sizes, objective_params)
    recon, kl, sup, weight = _semi_terms(images, out, step, reconstruction, inputs, hyper)
    return _aux(recon + beta * kl + weight * sup, recon, kl, sup, weight)


@_semi({"beta": (6.0, nonnegative)}, aux=("tc",))
def s2_beta_tcvae(
    images,
    out: SemiPass,
    *,
    step=0,
    reconstruction="bernoulli",
    labels,
    label_sizes,
    objective_params=None,
    beta,
    **hyper,
):
    """S²-β-TCVAE: ``recon + kl + (β - 1) tc + anneal(gamma_sup, step) S``.

    ``tc`` is the minibatch-weighted estimate on the unlabelled batch without its constant
    (``total_correlation(..., estimator="mws")``, as the reference). ``aux["tc"]``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.losses.semi_objectives import SemiPass, s2_beta_tcvae
        >>> images, zeros = jnp.zeros((2, 1, 1, 4)), jnp.zeros((2, 3))
        >>> out = SemiPass(zeros, zeros, zeros, images, labelled_mean=zeros)
        >>> labels, sizes = jnp.zeros((2, 2), jnp.int32), jnp.full((2, 2), 5)
        >>> loss, aux = s2_beta_tcvae(images, out, labels=labels, label_sizes=sizes)
        >>> round(float(aux["tc"]), 4)  # identical posteriors: -(L-1) log N
        -1.3863
    """
    inputs = (labels, label_sizes, objective_params)
    recon, kl, sup, weight = _semi_terms(images, out, step, reconstruction, inputs, hyper)
    tc = total_correlation(out.z, out.mean, out.logvar, estimator="mws")
    loss = recon + kl + (beta - 1.0) * tc + weight * sup
    return _aux(loss, recon, kl, sup, weight, tc=tc)


@_semi(
    {"gamma": (10.0, nonnegative)},
    aux=("tc", "discriminator/tc"),
    needs_discriminator=True,
)
def s2_factor_vae(
    images,
    out: SemiPass,
    *,
    step=0,
    reconstruction="bernoulli",
    labels,
    label_sizes,
    objective_params=None,
    discriminator_logits=None,
    gamma,
    **hyper,
):
    """S²-FactorVAE: ``recon + kl + γ mean(D(z)_0 - D(z)_1) + anneal(gamma_sup, step) S``.

    The discriminator is FactorVAE's (``discriminator_logits [N,2]`` on the unlabelled
    ``z``, trained by the step with ``factor_vae_discriminator_loss``). ``aux["tc"]``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.losses.semi_objectives import SemiPass, s2_factor_vae
        >>> images, zeros = jnp.zeros((2, 1, 1, 4)), jnp.zeros((2, 3))
        >>> out = SemiPass(zeros, zeros, zeros, images, labelled_mean=zeros)
        >>> labels, sizes = jnp.zeros((2, 2), jnp.int32), jnp.full((2, 2), 5)
        >>> logits = jnp.zeros((2, 2))  # the discriminator cannot tell
        >>> loss, aux = s2_factor_vae(
        ...     images, out, labels=labels, label_sizes=sizes, discriminator_logits=logits
        ... )
        >>> float(aux["tc"])
        0.0
    """
    if discriminator_logits is None:
        raise ValueError("s2_factor_vae needs discriminator_logits [N, 2] (the discriminator on z)")
    logits = jnp.asarray(discriminator_logits)
    if logits.shape != (out.z.shape[0], 2):
        raise ValueError(
            f"discriminator_logits must have shape [{out.z.shape[0]}, 2], got {logits.shape}"
        )
    inputs = (labels, label_sizes, objective_params)
    recon, kl, sup, weight = _semi_terms(images, out, step, reconstruction, inputs, hyper)
    tc = jnp.mean(logits[:, 0] - logits[:, 1])
    loss = recon + kl + gamma * tc + weight * sup
    return _aux(loss, recon, kl, sup, weight, tc=tc, **{"discriminator/tc": tc})


@_semi(
    {
        "lambda_od": (10.0, nonnegative),
        "lambda_d_factor": (10.0, nonnegative),
        "dip_type": ("i", one_of(("i", "ii"))),
    },
    aux=("dip/offdiag", "dip/diag"),
)
def s2_dip_vae(
    images,
    out: SemiPass,
    *,
    step=0,
    reconstruction="bernoulli",
    labels,
    label_sizes,
    objective_params=None,
    lambda_od,
    lambda_d_factor,
    dip_type,
    **hyper,
):
    """S²-DIP-VAE: ``recon + kl + λ_od offdiag + λ_d diag + anneal(gamma_sup, step) S``.

    ``dip_type`` ``"i"`` (covariance of the means) or ``"ii"`` (plus the mean posterior
    variance), ``λ_d = lambda_d_factor λ_od``, on the unlabelled batch, as DIP-VAE-I/II.

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.losses.semi_objectives import SemiPass, s2_dip_vae
        >>> images, zeros = jnp.zeros((2, 1, 1, 4)), jnp.zeros((2, 3))
        >>> out = SemiPass(zeros, zeros, zeros, images, labelled_mean=zeros)
        >>> labels, sizes = jnp.zeros((2, 2), jnp.int32), jnp.full((2, 2), 5)
        >>> loss, aux = s2_dip_vae(images, out, labels=labels, label_sizes=sizes)
        >>> float(aux["dip/diag"])  # Cov(mean) = 0: L (0 - 1)^2
        3.0
    """
    inputs = (labels, label_sizes, objective_params)
    recon, kl, sup, weight = _semi_terms(images, out, step, reconstruction, inputs, hyper)
    logvar = out.logvar if dip_type == "ii" else None
    offdiag, diag = dip_penalties(dip_covariance(out.mean, logvar))
    loss = recon + kl + lambda_od * offdiag + lambda_d_factor * lambda_od * diag + weight * sup
    return _aux(loss, recon, kl, sup, weight, **{"dip/offdiag": offdiag, "dip/diag": diag})


@objective(
    {**{k: SUPERVISED_HYPER[k] for k in ("regulariser", *_OPTIONS)}, **LABELLED_HYPER},
    aux=("supervised/loss",),
    forward=_semi_forward(True),
    init_params=init_objective_params,
    **_DECLARED,
)
def supervised_vae(
    images,
    out: SemiPass,
    *,
    step=0,
    reconstruction="bernoulli",
    labels,
    label_sizes,
    objective_params=None,
    **hyper,
):
    """Fully supervised VAE: ``recon(decoder(stop_gradient(z))) + S(labelled_mean, labels)``.

    The encoder learns from the supervised regulariser alone (no KL term, no weight, no
    annealing); the decoder learns to reconstruct from the detached sample, so the codes
    can be visualised. ``aux["kl"]`` is reported, not trained on.

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.losses.semi_objectives import SemiPass, supervised_vae
        >>> images, zeros = jnp.zeros((2, 1, 1, 4)), jnp.zeros((2, 3))
        >>> out = SemiPass(zeros, zeros, zeros, images, labelled_mean=zeros)
        >>> labels, sizes = jnp.zeros((2, 2), jnp.int32), jnp.full((2, 2), 5)
        >>> loss, aux = supervised_vae(images, out, labels=labels, label_sizes=sizes)
        >>> round(float(loss - aux["recon"]), 4)  # xent: 4 entries of log 2
        2.7726
    """
    del step
    recon, kl = vae_terms(images, out, reconstruction)
    sup = _supervised(out, labels, label_sizes, objective_params, hyper)
    return elbo_aux(recon + sup, recon, kl, **{"supervised/loss": sup})
