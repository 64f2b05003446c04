"""Weakly-supervised objectives: GroupVAE and ML-VAE on pairs that share some factors.

Each example is a pair of images whose factors differ in a few factors (the pairs of
``disentax.data.pairs``). Both images are encoded; for each latent dimension the pair
either keeps its two posteriors apart or replaces both by one aggregate of the two:

* GroupVAE (:func:`group_vae`): the arithmetic mean, ``mean = (m1 + m2) / 2`` and
  ``var = (v1 + v2) / 2`` (the variances are averaged, not the log-variances);
* ML-VAE (:func:`ml_vae`): the product-of-experts mean ``(m1/v1 + m2/v2) / (1/v1 + 1/v2)``
  with variance ``2 v1 v2 / (v1 + v2)``, twice the product's variance (the harmonic mean
  of the two variances), as the reference computes it.

Which dimensions stay apart (``aggregation``):

* ``"labels"``: the dimension whose index is the pair's changed factor (the sampler's
  ``changed``); when that index is not a latent dimension (``changed >= L``) every
  dimension stays apart, as the reference's all-zero one-hot row gives;
* ``"argmax"`` (Ada-GVAE, Ada-ML-VAE): the dimensions in the upper bin of a two-bin,
  equal-width histogram of the per-dimension ``KL(q(z|x1) || q(z|x2))`` over that pair's
  ``L`` dimensions: ``floor(2 (kl - min) / (max - min)) >= 1``, i.e. ``kl >=`` the midpoint
  of the pair's smallest and largest value (:func:`adaptive_mask`).

Each image is then decoded from its own sample (independent noise) of its (partly
aggregated) posterior. The loss, as the reference's: ``recon + β kl`` with ``recon`` and
``kl`` each the average of the two images' batch means (reconstruction summed over pixels,
KL to the prior summed over latents).

References:
  Locatello, Poole, Rätsch, Schölkopf, Bachem, Tschannen. "Weakly-Supervised
  Disentanglement Without Compromises", ICML 2020 (Ada-GVAE, Ada-ML-VAE; the reference
  code: disentanglement_lib ``methods/weak/weak_vae.py``).
  Hosoya, "Group-based Learning of Disentangled Representations with Generalizability
  for Novel Contents", IJCAI 2019 (GroupVAE). Bouchacourt, Tomioka, Nowozin, "Multi-Level
  Variational Autoencoder", AAAI 2018 (ML-VAE).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from disentax.losses.declaration import (
    ModelFns,
    elbo_aux,
    nonnegative,
    objective,
    one_of,
    vae_terms,
)
from disentax.typing import Array

__all__ = [
    "AGGREGATIONS",
    "PairPass",
    "Pass",
    "adaptive_mask",
    "aggregate",
    "group_posterior",
    "group_vae",
    "label_mask",
    "ml_posterior",
    "ml_vae",
    "pair_kl",
]

#: How the dimensions kept apart are chosen: by the changed factor or adaptively.
AGGREGATIONS = ("labels", "argmax")


class Pass(NamedTuple):
    """One image's pass: its (aggregated) posterior, sample and logits (a ``ForwardPass``)."""

    mean: Array
    logvar: Array
    z: Array
    logits: Array


class PairPass(NamedTuple):
    """The forward pass of a pair batch: both images and the dimensions kept apart.

    Attributes:
        first: :class:`Pass` of ``images``.
        second: :class:`Pass` of ``images_2``.
        apart: ``[N,L]`` bool, True where the pair keeps its own posteriors.
    """

    first: Pass
    second: Pass
    apart: Array


def pair_kl(mean_1, logvar_1, mean_2, logvar_2) -> Array:
    """Per-dimension ``KL(N(mean_1, exp logvar_1) || N(mean_2, exp logvar_2))``, ``[N,L]``.

    The reference computes twice this value (it omits the 1/2); the adaptive threshold is
    the same for both, the histogram's bins scaling with the values.

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.losses.weak import pair_kl
        >>> zero = jnp.zeros((1, 1))
        >>> float(pair_kl(zero + 1.0, zero, zero, zero)[0, 0])  # means 1 apart, unit variances
        0.5
    """
    ratio = jnp.exp(logvar_1 - logvar_2)
    return 0.5 * (
        ratio + jnp.square(mean_2 - mean_1) * jnp.exp(-logvar_2) - 1.0 - (logvar_1 - logvar_2)
    )


def adaptive_mask(kl: Array) -> Array:
    """``[N,L]`` bool: the dimensions in the upper bin of each row's two-bin histogram.

    Row ``i``'s bins split ``[min_i, max_i]`` in two equal halves; a value at the midpoint
    or above is in the upper bin. A row whose values are all equal has one bin only: every
    dimension is in the lower one (all aggregated; such a row's two posteriors, when equal,
    aggregate to themselves).

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.losses.weak import adaptive_mask
        >>> adaptive_mask(jnp.array([[0.0, 0.1, 5.0, 10.0]])).tolist()  # midpoint 5.0
        [[False, False, True, True]]
    """
    low = jnp.min(kl, axis=-1, keepdims=True)
    high = jnp.max(kl, axis=-1, keepdims=True)
    width = high - low
    scaled = (kl - low) / jnp.where(width > 0, width, 1.0)
    return (jnp.floor(2.0 * scaled) >= 1.0) & (width > 0)


def label_mask(changed: Array, num_latents: int) -> Array:
    """``[N,L]`` bool: True at dimension ``changed[i]``; every dimension when it is ``>= L``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.losses.weak import label_mask
        >>> label_mask(jnp.array([1, 5]), 3).tolist()
        [[False, True, False], [True, True, True]]
    """
    changed = jnp.asarray(changed, jnp.int32)
    hit = jnp.arange(num_latents, dtype=jnp.int32) == changed[:, None]
    return hit | (changed >= num_latents)[:, None]


def group_posterior(mean_1, logvar_1, mean_2, logvar_2) -> tuple[Array, Array]:
    """GroupVAE's aggregate: mean of the means, log of the mean of the variances.

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.losses.weak import group_posterior
        >>> lv_1, lv_2 = jnp.log(jnp.array([1.0])), jnp.log(jnp.array([3.0]))
        >>> mean, logvar = group_posterior(jnp.zeros(1), lv_1, jnp.full(1, 2.0), lv_2)
        >>> float(mean[0]), round(float(jnp.exp(logvar[0])), 5)
        (1.0, 2.0)
    """
    return 0.5 * (mean_1 + mean_2), jnp.logaddexp(logvar_1, logvar_2) - jnp.log(2.0)


def ml_posterior(mean_1, logvar_1, mean_2, logvar_2) -> tuple[Array, Array]:
    """ML-VAE's aggregate: product-of-experts mean, variance ``2 v1 v2 / (v1 + v2)``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.losses.weak import ml_posterior
        >>> lv_1, lv_2 = jnp.log(jnp.array([1.0])), jnp.log(jnp.array([3.0]))
        >>> mean, logvar = ml_posterior(jnp.zeros(1), lv_1, jnp.full(1, 3.0), lv_2)
        >>> round(float(mean[0]), 5), round(float(jnp.exp(logvar[0])), 5)  # (0/1 + 3/3) * 1.5 / 2
        (0.75, 1.5)
    """
    # the weight of mean_1 is v2 / (v1 + v2); written with sigmoids to stay finite
    weight_1 = jax.nn.sigmoid(logvar_2 - logvar_1)
    mean = weight_1 * mean_1 + (1.0 - weight_1) * mean_2
    return mean, jnp.log(2.0) - jnp.logaddexp(-logvar_1, -logvar_2)


def aggregate(apart, mean, logvar, new_mean, new_logvar) -> tuple[Array, Array]:
    """The posterior of one image: its own where ``apart``, the aggregate elsewhere."""
    return jnp.where(apart, mean, new_mean), jnp.where(apart, logvar, new_logvar)


_POSTERIORS = {"group": group_posterior, "ml": ml_posterior}


def _pair_forward(posterior: str):
    """The ``forward`` of a weak objective whose aggregate is ``_POSTERIORS[posterior]``."""

    def forward(model: ModelFns, batch, *, aggregation="argmax", **_: Any) -> PairPass:
        images, images_2 = batch["images"], batch["images_2"]
        n = images.shape[0]
        mean, logvar = model.encode(jnp.concatenate([images, images_2]))  # one encoder call
        m1, lv1, m2, lv2 = mean[:n], logvar[:n], mean[n:], logvar[n:]
        if aggregation == "argmax":
            apart = adaptive_mask(pair_kl(m1, lv1, m2, lv2))
        else:
            apart = label_mask(batch["changed"], m1.shape[1])
        new_mean, new_logvar = _POSTERIORS[posterior](m1, lv1, m2, lv2)
        passes = []
        for stream, (m, lv) in enumerate(((m1, lv1), (m2, lv2))):
            m, lv = aggregate(apart, m, lv, new_mean, new_logvar)
            # this shard's n rows of noise drawn for the global batch: any layout, same z
            passes.append((m, lv, m + jnp.exp(0.5 * lv) * model.noise(stream, n)))
        logits = model.decode(jnp.concatenate([passes[0][2], passes[1][2]]))
        first = Pass(*passes[0], logits=logits[:n])
        second = Pass(*passes[1], logits=logits[n:])
        return PairPass(first, second, apart)

    return forward


def _k(key: str, value: Any) -> None:
    integer = isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    if not integer or not (value == -1 or value >= 1):
        raise ValueError(
            f"{key} must be -1 (a random k per pair) or an int in [1, number of factors], "
            f"got {value!r}"
        )


def _weak_loss(images, out: PairPass, images_2, reconstruction, beta):
    recon_1, kl_1 = vae_terms(images, out.first, reconstruction)
    recon_2, kl_2 = vae_terms(images_2, out.second, reconstruction)
    recon, kl = 0.5 * (recon_1 + recon_2), 0.5 * (kl_1 + kl_2)
    apart = jnp.mean(jnp.sum(out.apart, axis=1, dtype=jnp.float32))
    return elbo_aux(recon + beta * kl, recon, kl, apart=apart)


_HYPER = {
    "beta": (1.0, nonnegative),
    "aggregation": ("argmax", one_of(AGGREGATIONS)),
    "k": (-1, _k),
}
_DECLARED = dict(aux=("apart",), batch="pairs", batch_hyperparameters=("k",), inputs=("images_2",))


@objective(_HYPER, forward=_pair_forward("group"), **_DECLARED)
def group_vae(
    images, out: PairPass, *, step=0, reconstruction="bernoulli", images_2, beta, aggregation
):
    """GroupVAE on pairs (``aggregation="argmax"``: Ada-GVAE): ``recon + β kl``.

    Hyperparameters: ``beta``; ``aggregation`` (``"labels"`` or ``"argmax"``); ``k``, the
    pairs' number of re-drawn factors (-1: random per pair; read by the batch sampler).
    ``out`` is the :class:`PairPass` of the pair forward; ``aux["apart"]`` is the mean
    number of latent dimensions a pair keeps apart.

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.losses.weak import PairPass, Pass, group_vae
        >>> images = jnp.zeros((2, 1, 1, 4))
        >>> zeros = jnp.zeros((2, 3))  # every posterior N(0, 1): KL 0
        >>> one = Pass(zeros, zeros, zeros, images)
        >>> out = PairPass(one, one, jnp.zeros((2, 3), bool))
        >>> loss, aux = group_vae(images, out, images_2=images, beta=1.0)
        >>> round(float(aux["recon"]), 4), float(aux["kl"]), float(aux["apart"])
        (2.7726, 0.0, 0.0)
    """
    del step, aggregation
    return _weak_loss(images, out, images_2, reconstruction, beta)


@objective(_HYPER, forward=_pair_forward("ml"), **_DECLARED)
def ml_vae(
    images, out: PairPass, *, step=0, reconstruction="bernoulli", images_2, beta, aggregation
):
    """ML-VAE on pairs (``aggregation="argmax"``: Ada-ML-VAE): ``recon + β kl``.

    Hyperparameters and ``out`` as :func:`group_vae`; the aggregate is the product of
    experts (:func:`ml_posterior`).

    Examples:
        >>> from disentax.losses import OBJECTIVES
        >>> OBJECTIVES["ml_vae"].needs_pairs, OBJECTIVES["ml_vae"].defaults
        (True, {'beta': 1.0, 'aggregation': 'argmax', 'k': -1})
    """
    del step, aggregation
    return _weak_loss(images, out, images_2, reconstruction, beta)
