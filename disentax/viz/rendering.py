"""Everything a run's pictures need, decoded by one jitted program.

:func:`render` encodes seed and reference images once, orders the latents by average
KL, builds the latent vectors of the traversal grid, of every animation cycle and of the
reconstructions, and decodes them all as one batch (in equal chunks inside the program).
Compiling a convolutional decoder dominates the cost on CPU, so one program instead of
one per picture is what keeps ``disentax traverse`` short.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from disentax.typing import Array, ArrayLike, PyTree
from disentax.viz import animations, decoding, traversals

__all__ = ["Rendering", "render"]

_BATCH_SIZE = 512  # latent vectors per decoder chunk inside the program


class Rendering(NamedTuple):
    """The arrays behind a run's pictures.

    Attributes:
      traversal: the grid (:class:`traversals.Traversal`).
      animations: ``{cycle: Animation}`` in the order asked for.
      reconstructions: ``[M, H, W, C]`` decoded posterior means of the first ``M``
        reference images.
      kl: ``[L]`` average KL of every latent (index order, NumPy).
    """

    traversal: traversals.Traversal
    animations: dict
    reconstructions: Array
    kl: np.ndarray


def render(
    model,
    params: PyTree,
    images: ArrayLike,
    *,
    reference_images: ArrayLike,
    num_steps: int = 10,
    value_range: str = "prior",
    sigmas: float = 2.0,
    cycles: Sequence[str] = ("fixed_interval", "std_gaussian", "fitted_gaussian"),
    num_frames: int = 20,
    num_reconstructions: int = 16,
    latents: Sequence[int] | None = None,
    kl_threshold: float = traversals.KL_THRESHOLD,
    output: str = "sigmoid",
) -> Rendering:
    """Traversal grid, animations and reconstructions from one program.

    Args:
      model: a ``disentax.models.VAE`` module.
      params: its parameters.
      images: ``[S, H, W, C]`` seed images in [0, 1].
      reference_images: ``[N, H, W, C]`` batch for the KL, the ranges and the
        reconstructions (``N >= num_reconstructions``).
      num_steps: columns of the grid.
      value_range: the grid's range (``traversals.VALUE_RANGES``).
      sigmas: half-width of the prior ranges.
      cycles: animation cycles (``animations.CYCLES``).
      num_frames: frames per cycle.
      num_reconstructions: reference images to reconstruct.
      latents: indices to show (default all), rows ordered by decreasing KL.
      kl_threshold: latents at or below it (nats) are inactive.
      output: ``"sigmoid"`` or ``"clip"``.

    Returns:
      A :class:`Rendering`.
    """
    decoding.check_output(output)
    traversals.check_value_range(num_steps, value_range, sigmas)
    cycles = tuple(cycles)
    if any(c not in animations.CYCLES for c in cycles):
        raise ValueError(f"cycles: expected names from {animations.CYCLES}, got {list(cycles)}")
    if num_frames < 2:
        raise ValueError(f"num_frames: expected at least 2 frames, got {num_frames}")
    seeds, reference = traversals.check_inputs(images, reference_images)
    if not 0 <= num_reconstructions <= reference.shape[0]:
        raise ValueError(
            f"num_reconstructions: expected 0..{reference.shape[0]} (the reference images), "
            f"got {num_reconstructions}"
        )
    out = _render(
        model,
        params,
        seeds,
        reference,
        latents=traversals.static_latents(latents),
        num_steps=int(num_steps),
        value_range=value_range,
        sigmas=float(sigmas),
        cycles=cycles,
        num_frames=int(num_frames),
        num_reconstructions=int(num_reconstructions),
        output=output,
    )
    grid, grid_values, frames, cycle_values, recons, rows, kl = out
    rows, kl = np.asarray(rows), np.asarray(kl)
    active = kl[rows] > kl_threshold
    traversal = traversals.Traversal(grid, rows, grid_values, kl[rows], active)
    animated = {
        cycle: animations.Animation(frames[i], rows, cycle_values[i], kl[rows], active)
        for i, cycle in enumerate(cycles)
    }
    return Rendering(traversal, animated, recons, kl)


@functools.partial(
    jax.jit,
    static_argnames=(
        "model",
        "latents",
        "num_steps",
        "value_range",
        "sigmas",
        "cycles",
        "num_frames",
        "num_reconstructions",
        "output",
    ),
)
def _render(
    model,
    params,
    seeds,
    reference,
    *,
    latents,
    num_steps,
    value_range,
    sigmas,
    cycles,
    num_frames,
    num_reconstructions,
    output,
):
    posterior = traversals.posterior_of(model, params, seeds, reference)
    rows = traversals.order_rows(posterior.kl, latents, "kl")
    grid_z, grid_values = traversals.grid_latents(
        posterior, rows, num_steps=num_steps, value_range=value_range, sigmas=sigmas
    )
    pairs = [animations.cycle_latents(posterior, rows, c, num_frames) for c in cycles]
    parts = [grid_z, *(z for z, _ in pairs), posterior.mean[:num_reconstructions]]
    num_latents = posterior.mean.shape[1]
    flat = jnp.concatenate([p.reshape(-1, num_latents) for p in parts])
    decoded = decoding.decode_in_chunks(model, params, flat, output, _BATCH_SIZE)
    pieces, start = [], 0
    for part in parts:
        size = math.prod(part.shape[:-1])
        pieces.append(decoded[start : start + size].reshape(*part.shape[:-1], *decoded.shape[1:]))
        start += size
    grid, *cycle_images, recons = pieces
    frames = [jnp.transpose(f, (2, 1, 0, 3, 4, 5)) for f in cycle_images]  # [T, R, S, ...]
    values = [v for _, v in pairs]
    return grid, grid_values, frames, values, recons, rows, posterior.kl
