"""Jitted encoding and decoding of whole image grids, and reconstructions.

Every visualisation decodes many latent vectors at once (a traversal grid, all frames of
an animation). They are flattened into one batch and decoded by one jitted program per
(model, batch shape, output); past ``batch_size`` vectors the program maps the decoder
over fixed-size chunks (``lax.map``) so memory stays bounded without a Python loop.

The model and its parameters follow the ``disentax.models.vae`` contract:
``encode(model, params, images) -> (mean, logvar)`` and ``decode(model, params, z) ->
logits``. ``output`` says how decoder outputs become pixel intensities in [0, 1]:
``"sigmoid"`` for Bernoulli logits (the default objective), ``"clip"`` for decoders that
predict intensities directly. disentanglement_lib infers the same from its
``reconstruction_loss.activation`` setting (``visualize/visualize_model.py``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from disentax.typing import Array, ArrayLike, HostArray, PyTree

__all__ = [
    "OUTPUTS",
    "check_images",
    "decode_in_chunks",
    "decode_latents",
    "encode_images",
    "reconstruct",
    "reconstruction_grid",
]

OUTPUTS = {
    "sigmoid": jax.nn.sigmoid,
    "clip": lambda x: jnp.clip(x, 0.0, 1.0),
}


def check_images(images: ArrayLike, name: str = "images") -> Array:
    """Checks ``images`` is ``[N,H,W,C]`` with ``N >= 1`` and returns it as float32."""
    shape = jnp.shape(images)
    if len(shape) != 4 or shape[0] < 1:
        raise ValueError(f"{name}: expected a batch of images [N,H,W,C] with N >= 1, got {shape}")
    return jnp.asarray(images, dtype=jnp.float32)


def check_output(output: str) -> None:
    if output not in OUTPUTS:
        raise ValueError(f"output: expected one of {sorted(OUTPUTS)}, got {output!r}")


@functools.partial(jax.jit, static_argnames=("model",))
def _encode(model, params: PyTree, images: Array) -> tuple[Array, Array]:
    from disentax.models import vae

    return vae.encode(model, params, images)


def encode_images(model, params: PyTree, images: ArrayLike) -> tuple[Array, Array]:
    """Posterior parameters of a batch of images (one jitted program).

    Args:
      model: a ``disentax.models.VAE`` module.
      params: its parameters.
      images: ``[N,H,W,C]`` float32 in [0, 1].

    Returns:
      ``(mean, logvar)``, each ``[N,L]``.
    """
    return _encode(model, params, check_images(images))


def decode_in_chunks(model, params: PyTree, z: Array, output: str, batch_size: int) -> Array:
    """Traceable body of :func:`decode_latents`: ``z [..., L] -> images [..., H, W, C]``.

    Call it inside a jitted function to fuse decoding with the code computing ``z``.
    """
    from disentax.models import vae

    def decode_chunk(chunk: Array) -> Array:
        return OUTPUTS[output](vae.decode(model, params, chunk))

    lead = z.shape[:-1]
    flat = z.reshape(-1, z.shape[-1])
    num = flat.shape[0]
    if num <= batch_size:
        images = decode_chunk(flat)
    else:
        num_chunks = -(-num // batch_size)
        size = -(-num // num_chunks)  # equal chunks, padding below num_chunks vectors
        padded = jnp.pad(flat, ((0, num_chunks * size - num), (0, 0)))
        chunks = padded.reshape(num_chunks, size, flat.shape[-1])
        images = jax.lax.map(decode_chunk, chunks)
        images = images.reshape(num_chunks * size, *images.shape[2:])[:num]
    return images.reshape(*lead, *images.shape[1:])


_decode = jax.jit(decode_in_chunks, static_argnames=("model", "output", "batch_size"))


def check_decode_args(z: ArrayLike, output: str, batch_size: int) -> None:
    check_output(output)
    shape = jnp.shape(z)
    if len(shape) < 1 or shape[-1] < 1:
        raise ValueError(f"z: expected latent vectors [..., L] with L >= 1, got {shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size}")


def decode_latents(
    model,
    params: PyTree,
    z: ArrayLike,
    *,
    output: str = "sigmoid",
    batch_size: int = 512,
) -> Array:
    """Decodes latent vectors of any leading shape into images in [0, 1].

    Args:
      model: a ``disentax.models.VAE`` module.
      params: its parameters.
      z: ``[..., L]`` latent vectors; all leading axes are decoded as one batch.
      output: ``"sigmoid"`` (Bernoulli logits) or ``"clip"`` (intensities).
      batch_size: the decoder runs on chunks of this many vectors inside the program.

    Returns:
      ``[..., H, W, C]`` float32 images in [0, 1].
    """
    check_decode_args(z, output, batch_size)
    z = jnp.asarray(z, dtype=jnp.float32)
    return _decode(model, params, z, output=output, batch_size=int(batch_size))


def reconstruct(model, params: PyTree, images: ArrayLike, *, output: str = "sigmoid") -> Array:
    """Decodes the posterior mean of each image (a deterministic reconstruction).

    Args:
      model: a ``disentax.models.VAE`` module.
      params: its parameters.
      images: ``[N,H,W,C]`` float32 in [0, 1].
      output: ``"sigmoid"`` or ``"clip"`` (see the module docstring).

    Returns:
      ``[N,H,W,C]`` float32 reconstructions in [0, 1].
    """
    check_output(output)
    return _reconstruct(model, params, check_images(images), output=output)


@functools.partial(jax.jit, static_argnames=("model", "output"))
def _reconstruct(model, params: PyTree, images: Array, *, output: str) -> Array:
    from disentax.models import vae

    mean, _ = vae.encode(model, params, images)
    return OUTPUTS[output](vae.decode(model, params, mean))


def reconstruction_grid(
    images: ArrayLike, reconstructions: ArrayLike, *, columns: int = 8
) -> HostArray:
    """Arranges inputs above their reconstructions: ``[2*ceil(N/columns), columns, H,W,C]``.

    Row ``2r`` holds inputs ``r*columns ... r*columns + columns - 1`` and row ``2r + 1``
    their reconstructions; the last block is padded with white images.

    Args:
      images: ``[N,H,W,C]`` inputs.
      reconstructions: ``[N,H,W,C]`` reconstructions of ``images``.
      columns: images per row (>= 1).

    Returns:
      ``[2*R, columns, H, W, C]`` float32 NumPy grid (``R = ceil(N / columns)``).
    """
    images = np.asarray(images, dtype=np.float32)
    reconstructions = np.asarray(reconstructions, dtype=np.float32)
    if images.shape != reconstructions.shape or images.ndim != 4:
        raise ValueError(
            "reconstructions: expected the shape of images [N,H,W,C], got "
            f"{reconstructions.shape} for images {images.shape}"
        )
    if columns < 1:
        raise ValueError(f"columns: expected a positive integer, got {columns}")
    num = images.shape[0]
    rows = -(-num // columns)
    pad = ((0, rows * columns - num), (0, 0), (0, 0), (0, 0))
    top = np.pad(images, pad, constant_values=1.0).reshape(rows, columns, *images.shape[1:])
    bottom = np.pad(reconstructions, pad, constant_values=1.0).reshape(top.shape)
    return np.stack([top, bottom], axis=1).reshape(2 * rows, columns, *images.shape[1:])
