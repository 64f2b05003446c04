"""Rendering and encoding a factor array in chunks, inside a jitted program.

The interventional metrics of this package (fairness, the strong downstream task) build
arrays of factors (sampled, then intervened on) and need their codes; this renders
``dataset.observations`` and applies the representation function chunk by chunk
(``lax.map``) so that memory stays bounded whatever the number of points.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from disentax.typing import Array

__all__ = ["encode_factors"]


def encode_factors(dataset, represent, factors: Array, *, points_per_chunk: int = 500) -> Array:
    """Codes ``[N, L]`` of the images of ``factors [N, F]``; call it inside ``jit``.

    Args:
      dataset: a ground-truth dataset with a jittable ``observations``.
      represent: ``images [M, H, W, C] -> codes [M, L]``, jittable.
      factors: ``[N, F]`` int32 factors (N static).
      points_per_chunk: images rendered and encoded at a time (static).

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.data import Identity
      >>> from disentax.metrics.encoding import encode_factors
      >>> flat = lambda images: images.reshape(images.shape[0], -1)
      >>> encode_factors(Identity((3, 5)), flat, jnp.array([[2, 4], [0, 0]]), points_per_chunk=1)
      Array([[1., 1.],
             [0., 0.]], dtype=float32)
    """
    num = factors.shape[0]
    per_chunk = max(1, min(int(points_per_chunk), num))
    num_chunks = -(-num // per_chunk)
    pad = num_chunks * per_chunk - num
    padded = jnp.concatenate([factors, jnp.zeros((pad, factors.shape[1]), factors.dtype)])
    chunks = padded.reshape(num_chunks, per_chunk, factors.shape[1])
    codes = jax.lax.map(lambda f: represent(dataset.observations(f)), chunks)
    return codes.reshape(num_chunks * per_chunk, -1)[:num]
