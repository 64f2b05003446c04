"""Latent traversal grids: change one latent, hold the others, decode.

A traversal grid has one row per latent and one column per value of that latent; every
other latent is held at a seed image's posterior mean. Rows are ordered by the latent's
average KL divergence from the prior (the most informative first), and latents whose
average KL is at most ``kl_threshold`` (default :data:`KL_THRESHOLD` = 0.1 nats) are
marked inactive. The average KL bounds the information a latent carries about the input,
``E_x KL(q(z_l|x) || p(z_l)) = I(x; z_l) + KL(q(z_l) || p(z_l)) >= I(x; z_l)`` (Hoffman &
Johnson 2016), so an inactive latent carries under 0.1 nats (0.14 bits) and the decoder
learns to ignore it: its row stays (nearly) constant.

Value ranges (``value_range``), per latent ``l`` and ``K = num_steps`` columns:

* ``"prior"`` (default): ``K`` quantiles of the N(0, 1) prior spaced evenly in
  probability between the ``±sigmas`` quantiles, ``Φ⁻¹(linspace(Φ(-σ), Φ(σ), K))``; the
  end columns sit at ``±σ``.
* ``"interval"``: ``linspace(-σ, σ, K)`` (disentanglement_lib's fixed interval).
* ``"posterior"``: ``linspace(min, max, K)`` of the posterior means of latent ``l`` over
  the reference batch (disentanglement_lib's ``minmax_interval``).

Everything is decoded by one jitted program per grid shape (``decoding.decode_latents``).

References:
  Higgins et al., "beta-VAE: Learning basic visual concepts with a constrained
  variational framework", ICLR 2017 (traversal figures).
  Hoffman & Johnson, "ELBO surgery: yet another way to carve up the variational
  evidence lower bound", NIPS 2016 Workshop on Advances in Approximate Bayesian
  Inference.
  Locatello et al., "Challenging common assumptions in the unsupervised learning of
  disentangled representations", ICML 2019; disentanglement_lib
  ``visualize/visualize_model.py`` (value ranges and the posterior summaries).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr, ndtri

from disentax.typing import Array, ArrayLike, PyTree
from disentax.viz import decoding

__all__ = [
    "KL_THRESHOLD",
    "VALUE_RANGES",
    "Posterior",
    "Traversal",
    "check_latents",
    "encode_posterior",
    "grid_latents",
    "order_rows",
    "posterior_of",
    "latent_kl",
    "traversal_latents",
    "traversal_values",
    "traverse",
]

#: The value ranges of :func:`traversal_values` (defined in the module docstring).
VALUE_RANGES = ("prior", "interval", "posterior")
KL_THRESHOLD = 0.1  # nats: latents with at most this average KL are marked inactive
_BATCH_SIZE = 512  # latent vectors decoded per chunk inside a grid's program


class Traversal(NamedTuple):
    """A decoded traversal grid.

    Attributes:
      images: ``[S, R, K, H, W, C]`` float32 in [0, 1]: seed ``s``, row ``r`` (latent
        ``latents[r]``), column ``k`` (value ``values[r, k]``).
      latents: ``[R]`` int32 latent index of each row (NumPy).
      values: ``[R, K]`` float32 value given to the row's latent in each column.
      kl: ``[R]`` float32 average KL (nats) of each row's latent over the reference
        batch (NumPy).
      active: ``[R]`` bool, ``kl > kl_threshold`` (NumPy).
    """

    images: Array
    latents: np.ndarray
    values: Array
    kl: np.ndarray
    active: np.ndarray


class Posterior(NamedTuple):
    """Posterior summaries used to lay out traversals and animations.

    Attributes:
      seed_mean: ``[S, L]`` posterior means of the seed images (the held values).
      mean: ``[N, L]`` posterior means of the reference batch.
      logvar: ``[N, L]`` posterior log-variances of the reference batch.
      kl: ``[L]`` average KL (nats) of each latent over the reference batch.
    """

    seed_mean: Array
    mean: Array
    logvar: Array
    kl: Array


@jax.jit
def latent_kl(mean: ArrayLike, logvar: ArrayLike) -> Array:
    """Average KL(q(z_l|x) || N(0, 1)) of each latent over a batch.

    Args:
      mean: ``[N, L]`` posterior means.
      logvar: ``[N, L]`` posterior log-variances.

    Returns:
      ``[L]`` average KL in nats.
    """
    mean = jnp.asarray(mean, dtype=jnp.float32)
    logvar = jnp.asarray(logvar, dtype=jnp.float32)
    # Closed form KL(N(m, e^v) || N(0, 1)) = (m^2 + e^v - v - 1) / 2 (Kingma & Welling
    # 2014, appendix B), the per-latent term of ``disentax.losses.gaussian_kl``.
    return jnp.mean(0.5 * (jnp.square(mean) + jnp.exp(logvar) - logvar - 1.0), axis=0)


def check_latents(latents: Sequence[int] | ArrayLike | None, num_latents: int) -> np.ndarray:
    """Validates latent indices; ``None`` means all of them.

    Args:
      latents: indices in ``[0, num_latents)`` (no duplicates), or ``None``.
      num_latents: the model's number of latents ``L``.

    Returns:
      ``[R]`` int32 NumPy array of indices.

    Raises:
      ValueError: an index is out of range (the message gives the valid range), repeated,
        or not an integer.
    """
    if latents is None:
        return np.arange(num_latents, dtype=np.int32)
    array = np.asarray(latents)
    if array.ndim == 0:
        array = array[None]
    if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"latents: expected a non-empty sequence of integers, got {latents!r}")
    bad = [int(i) for i in array if not 0 <= i < num_latents]
    if bad:
        raise ValueError(
            f"latents: index {bad[0]} is out of range; valid latent indices are "
            f"0..{num_latents - 1} (the model has {num_latents} latents)"
        )
    if len(set(array.tolist())) != array.size:
        raise ValueError(f"latents: expected distinct indices, got {array.tolist()}")
    return array.astype(np.int32)


def check_value_range(num_steps: int, value_range: str, sigmas: float) -> None:
    """Checks the static arguments of :func:`traversal_values`."""
    if num_steps < 2:
        raise ValueError(f"num_steps: expected at least 2 columns, got {num_steps}")
    if value_range not in VALUE_RANGES:
        raise ValueError(f"value_range: expected one of {VALUE_RANGES}, got {value_range!r}")
    if not sigmas > 0:
        raise ValueError(f"sigmas: expected a positive number of standard deviations, got {sigmas}")


def traversal_values(
    mean: ArrayLike, *, num_steps: int = 10, value_range: str = "prior", sigmas: float = 2.0
) -> Array:
    """Values swept by each latent (see the module docstring for the ranges).

    Args:
      mean: ``[N, L]`` posterior means of the reference batch (only ``"posterior"`` reads
        its values; the others use its ``L``).
      num_steps: number of columns ``K`` (>= 2).
      value_range: ``"prior"``, ``"interval"`` or ``"posterior"``.
      sigmas: half-width of the prior ranges in prior standard deviations (> 0).

    Returns:
      ``[L, K]`` float32 values, increasing along ``K``.
    """
    mean = jnp.asarray(mean, dtype=jnp.float32)
    if mean.ndim != 2:
        raise ValueError(f"mean: expected posterior means [N, L], got shape {mean.shape}")
    check_value_range(num_steps, value_range, sigmas)
    num_latents = mean.shape[1]
    if value_range == "posterior":
        low, high = jnp.min(mean, axis=0), jnp.max(mean, axis=0)
        steps = jnp.linspace(0.0, 1.0, num_steps)
        return low[:, None] + (high - low)[:, None] * steps[None, :]
    if value_range == "prior":
        probs = jnp.linspace(ndtr(-sigmas), ndtr(sigmas), num_steps)
        row = ndtri(probs)
    else:
        row = jnp.linspace(-sigmas, sigmas, num_steps)
    return jnp.broadcast_to(row.astype(jnp.float32), (num_latents, num_steps))


def traversal_latents(seed_mean: ArrayLike, latents: ArrayLike, values: ArrayLike) -> Array:
    """Latent vectors of a traversal grid.

    ``z[s, r, k] = seed_mean[s]`` with component ``latents[r]`` replaced by
    ``values[r, k]``.

    Args:
      seed_mean: ``[S, L]`` held values.
      latents: ``[R]`` int indices of the traversed latents.
      values: ``[R, K]`` values per row.

    Returns:
      ``[S, R, K, L]`` float32.
    """
    seed_mean = jnp.asarray(seed_mean, dtype=jnp.float32)
    values = jnp.asarray(values, dtype=jnp.float32)
    onehot = jax.nn.one_hot(jnp.asarray(latents), seed_mean.shape[-1], dtype=jnp.float32)
    held = seed_mean[:, None, None, :] * (1.0 - onehot)[None, :, None, :]
    return held + values[None, :, :, None] * onehot[None, :, None, :]


def check_inputs(images: ArrayLike, reference_images: ArrayLike | None) -> tuple[Array, Array]:
    """Validates seed and reference images; ``None`` references default to the seeds."""
    seeds = decoding.check_images(images, "images")
    reference = seeds
    if reference_images is not None:
        reference = decoding.check_images(reference_images, "reference_images")
    if reference.shape[1:] != seeds.shape[1:]:
        raise ValueError(
            f"reference_images: expected images of shape {seeds.shape[1:]} like images, "
            f"got {reference.shape[1:]}"
        )
    return seeds, reference


def static_latents(latents: Sequence[int] | ArrayLike | None) -> tuple[int, ...] | None:
    """``latents`` as a hashable tuple (a static jit argument); ranges are checked later."""
    if latents is None:
        return None
    array = np.asarray(latents)
    if array.ndim == 0:
        array = array[None]
    if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"latents: expected a non-empty sequence of integers, got {latents!r}")
    return tuple(int(i) for i in array)


def check_order(order: str) -> None:
    if order not in ("kl", "index"):
        raise ValueError(f"order: expected 'kl' or 'index', got {order!r}")


def posterior_of(model, params: PyTree, seeds: Array, reference: Array) -> Posterior:
    """Traceable: encodes seeds and reference in one batch; see :class:`Posterior`."""
    from disentax.models import vae

    mean, logvar = vae.encode(model, params, jnp.concatenate([seeds, reference]))
    num = seeds.shape[0]
    return Posterior(mean[:num], mean[num:], logvar[num:], latent_kl(mean[num:], logvar[num:]))


_posterior = jax.jit(posterior_of, static_argnames=("model",))


def encode_posterior(
    model, params: PyTree, images: ArrayLike, reference_images: ArrayLike | None = None
) -> Posterior:
    """Encodes seed images and a reference batch in one program; see :class:`Posterior`.

    Args:
      model: a ``disentax.models.VAE`` module.
      params: its parameters.
      images: ``[S, H, W, C]`` seed images.
      reference_images: ``[N, H, W, C]`` batch for the KL and the posterior ranges;
        ``None`` uses the seed images.
    """
    return _posterior(model, params, *check_inputs(images, reference_images))


def order_rows(kl: Array, latents: tuple[int, ...] | None, order: str) -> Array:
    """Traceable: the row latents, by decreasing average KL (``"kl"``) or as given.

    Raises ValueError (at trace time, before anything runs) for an out-of-range index.
    """
    selected = jnp.asarray(check_latents(latents, kl.shape[0]))
    if order == "index":
        return selected
    return selected[jnp.argsort(-kl[selected], stable=True)]


def grid_latents(
    posterior: Posterior, rows: Array, *, num_steps: int, value_range: str, sigmas: float
) -> tuple[Array, Array]:
    """Traceable: ``(z [S, R, K, L], values [R, K])`` of a traversal grid."""
    values = traversal_values(
        posterior.mean, num_steps=num_steps, value_range=value_range, sigmas=sigmas
    )[rows]
    return traversal_latents(posterior.seed_mean, rows, values), values


def traverse(
    model,
    params: PyTree,
    images: ArrayLike,
    *,
    reference_images: ArrayLike | None = None,
    num_steps: int = 10,
    value_range: str = "prior",
    sigmas: float = 2.0,
    latents: Sequence[int] | None = None,
    order: str = "kl",
    kl_threshold: float = KL_THRESHOLD,
    output: str = "sigmoid",
) -> Traversal:
    """Decodes a latent traversal grid for several seed images (one jitted program).

    Args:
      model: a ``disentax.models.VAE`` module.
      params: its parameters.
      images: ``[S, H, W, C]`` seed images in [0, 1]; the others latents are held at
        their posterior means.
      reference_images: ``[N, H, W, C]`` batch for the average KL and the
        ``"posterior"`` range (default: the seed images; use a few hundred images).
      num_steps: columns ``K`` per row.
      value_range: ``"prior"`` (default), ``"interval"`` or ``"posterior"``.
      sigmas: half-width of the prior ranges in standard deviations.
      latents: indices to traverse (default all); out-of-range indices raise.
      order: ``"kl"`` (rows by decreasing average KL) or ``"index"`` (as given).
      kl_threshold: latents with average KL at or below this (nats) are inactive.
      output: ``"sigmoid"`` for Bernoulli logits, ``"clip"`` for intensities.

    Returns:
      A :class:`Traversal` with ``images [S, R, K, H, W, C]``.
    """
    decoding.check_output(output)
    check_value_range(num_steps, value_range, sigmas)
    check_order(order)
    seeds, reference = check_inputs(images, reference_images)
    decoded, rows, values, kl = _traverse(
        model,
        params,
        seeds,
        reference,
        latents=static_latents(latents),
        order=order,
        num_steps=int(num_steps),
        value_range=value_range,
        sigmas=float(sigmas),
        output=output,
    )
    kl = np.asarray(kl)
    return Traversal(decoded, np.asarray(rows), values, kl, kl > kl_threshold)


@functools.partial(
    jax.jit,
    static_argnames=("model", "latents", "order", "num_steps", "value_range", "sigmas", "output"),
)
def _traverse(
    model, params, seeds, reference, *, latents, order, num_steps, value_range, sigmas, output
):
    posterior = posterior_of(model, params, seeds, reference)
    rows = order_rows(posterior.kl, latents, order)
    z, values = grid_latents(
        posterior, rows, num_steps=num_steps, value_range=value_range, sigmas=sigmas
    )
    images = decoding.decode_in_chunks(model, params, z, output, _BATCH_SIZE)
    return images, rows, values, posterior.kl[rows]
