"""Reconstruction negative log-likelihoods, per example ``[N]`` (summed over pixels).

References:
    Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning of
    Disentangled Representations", ICML 2019 (disentanglement_lib ``losses.py``:
    ``bernoulli_loss`` and ``l2_loss``).
"""

import math

import jax
import jax.numpy as jnp

from disentax.typing import Array, ArrayLike

#: The reconstruction losses :func:`reconstruction_nll` accepts by name.
RECONSTRUCTIONS = ("bernoulli", "gaussian", "l2")


def _check_pair(images: Array, other: Array, other_name: str) -> None:
    if images.shape != other.shape or images.ndim < 2:
        raise ValueError(
            f"images and {other_name} must have the same shape [N, ...], got "
            f"{tuple(images.shape)} and {tuple(other.shape)}"
        )


def bernoulli_nll(images: ArrayLike, logits: ArrayLike, *, subtract_entropy: bool = False) -> Array:
    """Bernoulli negative log-likelihood of ``images`` under ``sigmoid(logits)``.

    ``sum_pixels [softplus(l) - l*x]`` (``softplus(l) = max(l, 0) + log(1 + exp(-|l|))``
    evaluated stably), the sigmoid cross-entropy. Grey-level targets ``x`` in [0, 1] are
    allowed (the usual relaxation); then the minimum over logits is the targets' entropy,
    which ``subtract_entropy`` removes (disentanglement_lib's
    ``subtract_true_image_entropy``, with the same clip of the targets to [1e-6, 1 - 1e-6]).

    Args:
        images: ``[N,H,W,C]`` (or ``[N,D]``) targets in [0, 1].
        logits: same shape, decoder outputs.
        subtract_entropy: subtract the Bernoulli entropy of the targets.

    Returns:
        ``[N]`` per-example negative log-likelihood in nats.

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.losses import bernoulli_nll
        >>> images = jnp.zeros((2, 1, 1, 4))
        >>> nll = bernoulli_nll(images, jnp.zeros_like(images))  # logit 0: log 2 per pixel
        >>> [round(x, 4) for x in nll.tolist()]
        [2.7726, 2.7726]
        >>> grey = jnp.full((2, 1, 1, 4), 0.5)  # at its minimum the NLL is the entropy
        >>> nll = bernoulli_nll(grey, jnp.zeros_like(grey), subtract_entropy=True)
        >>> [round(x, 4) for x in nll.tolist()]
        [0.0, 0.0]
    """
    images, logits = jnp.asarray(images), jnp.asarray(logits)
    _check_pair(images, logits, "logits")
    xent = jax.nn.softplus(logits) - logits * images
    # The pixel sum as a product with ones: the same float32 sum in another order, faster
    # than XLA:CPU's fused reduction (docs/performance/models.md); "highest" precision so
    # TPUs and GPUs do no bfloat16/TF32 passes.
    flat = xent.reshape(xent.shape[0], -1)
    loss = jnp.matmul(flat, jnp.ones((flat.shape[1],), flat.dtype), precision="highest")
    if subtract_entropy:
        p = jnp.clip(images, 1e-6, 1 - 1e-6)
        entropy = -(p * jnp.log(p) + (1 - p) * jnp.log1p(-p))
        loss = loss - jnp.sum(entropy.reshape(entropy.shape[0], -1), axis=1)
    return loss


def gaussian_nll(images: ArrayLike, predictions: ArrayLike, *, scale: float = 1.0) -> Array:
    """Gaussian negative log-likelihood with fixed standard deviation ``scale``.

    ``sum_pixels [(x - mu)^2 / (2 scale^2) + log(scale) + log(2 pi) / 2]`` (constants
    included, so it is a true NLL in nats).

    Args:
        images: ``[N,H,W,C]`` (or ``[N,D]``) targets.
        predictions: same shape, the Gaussian means ``mu``.
        scale: positive standard deviation (a Python float or a traced scalar).

    Returns:
        ``[N]`` per-example negative log-likelihood.

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.losses import gaussian_nll
        >>> images = jnp.zeros((2, 1, 1, 4))
        >>> nll = gaussian_nll(images, images)  # a perfect fit leaves 4 x log(2 pi) / 2
        >>> [round(x, 4) for x in nll.tolist()]
        [3.6758, 3.6758]
    """
    images, predictions = jnp.asarray(images), jnp.asarray(predictions)
    _check_pair(images, predictions, "predictions")
    if not isinstance(scale, jax.core.Tracer) and not float(scale) > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    sq = jnp.sum(jnp.square(images - predictions).reshape(images.shape[0], -1), axis=1)
    num_pixels = math.prod(images.shape[1:])
    const = num_pixels * (jnp.log(scale) + 0.5 * math.log(2 * math.pi))
    return sq / (2 * jnp.square(scale)) + const


def reconstruction_nll(images: ArrayLike, logits: ArrayLike, kind: str = "bernoulli") -> Array:
    """Per-example reconstruction loss ``[N]`` of decoder ``logits`` by name.

    Args:
        images: ``[N,H,W,C]`` targets in [0, 1].
        logits: ``[N,H,W,C]`` decoder outputs.
        kind: ``"bernoulli"`` (:func:`bernoulli_nll` on the logits), ``"gaussian"``
            (:func:`gaussian_nll` with ``scale=1`` and means ``sigmoid(logits)``) or ``"l2"``
            (disentanglement_lib's ``l2_loss``: ``sum (x - sigmoid(logits))^2``).

    Returns:
        ``[N]``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.losses import RECONSTRUCTIONS, reconstruction_nll
        >>> images = jnp.full((2, 1, 1, 4), 0.5)
        >>> logits = jnp.zeros((2, 1, 1, 4))  # sigmoid(0) = 0.5
        >>> for kind in RECONSTRUCTIONS:
        ...     nll = reconstruction_nll(images, logits, kind)
        ...     print(kind, [round(x, 4) for x in nll.tolist()])
        bernoulli [2.7726, 2.7726]
        gaussian [3.6758, 3.6758]
        l2 [0.0, 0.0]
    """
    if kind == "bernoulli":
        return bernoulli_nll(images, logits)
    if kind == "gaussian":
        return gaussian_nll(images, jax.nn.sigmoid(jnp.asarray(logits)))
    if kind == "l2":
        images, logits = jnp.asarray(images), jnp.asarray(logits)
        _check_pair(images, logits, "logits")
        diff = jnp.square(images - jax.nn.sigmoid(logits))
        return jnp.sum(diff.reshape(diff.shape[0], -1), axis=1)
    raise ValueError(f"reconstruction must be one of {RECONSTRUCTIONS}, got {kind!r}")
