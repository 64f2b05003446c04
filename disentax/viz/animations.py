"""Animated traversals: every latent cycles through its range, all rows move together.

Frame ``t`` of an animation is a grid with one row per latent and one column per seed
image; in row ``r`` only latent ``latents[r]`` differs from the seed's posterior mean,
and it takes the ``t``-th value of its cycle. Each cycle starts at the seed's own value,
rises to the top of the range, falls to the bottom and returns (a triangle wave with a
period of ``num_frames`` frames), so the GIF loops without a jump.

Cycles (the variants of disentanglement_lib ``visualize/visualize_model.py``; ``m`` and
``v`` are the posterior means and variances of the reference batch):

* ``"fixed_interval"``: linearly through [-2, 2].
* ``"std_gaussian"``: evenly through the probabilities of N(0, 1), i.e. through its
  quantiles, clipped to the [0.001, 0.999] quantiles.
* ``"fitted_gaussian"``: the same through N(mean(m), mean(v) + var(m)), the moment-matched
  Gaussian of the aggregate posterior.
* ``"conf_interval"``: linearly through that fitted Gaussian's mean ± 2 std.
* ``"minmax_interval"``: linearly through [min(m), max(m)].
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr, ndtri
from PIL import Image, ImageDraw

from disentax.typing import Array, ArrayLike, HostArray, PyTree
from disentax.viz import decoding, grids, traversals

__all__ = [
    "CYCLES",
    "Animation",
    "animate",
    "animate_cycles",
    "cycle_latents",
    "cycle_gaussian",
    "cycle_interval",
    "cycle_values",
    "gif_frames",
    "write_gif",
]

_BATCH_SIZE = 512  # latent vectors decoded per chunk inside an animation's program
_MIN_GIF_CELL = 16  # pixels: a vector dataset's observations are enlarged to this
#: The animation cycles of :func:`animate` (defined in the module docstring).
CYCLES = ("fixed_interval", "std_gaussian", "fitted_gaussian", "conf_interval", "minmax_interval")


class Animation(NamedTuple):
    """Decoded animation frames.

    Attributes:
      frames: ``[T, R, S, H, W, C]`` float32 in [0, 1]: frame ``t``, row ``r`` (latent
        ``latents[r]``), seed ``s``.
      latents: ``[R]`` int32 latent index of each row (NumPy).
      values: ``[S, R, T]`` float32 value of the row's latent in each frame.
      kl: ``[R]`` average KL (nats) of each row's latent (NumPy).
      active: ``[R]`` bool, ``kl > kl_threshold`` (NumPy).
    """

    frames: Array
    latents: np.ndarray
    values: Array
    kl: np.ndarray
    active: np.ndarray


def _triangle(start01: Array, num_frames: int) -> Array:
    """``[..., T]`` positions in [0, 1]: up from ``start01`` to 1, down to 0, back."""
    phase = jnp.mod(start01[..., None] + 2.0 * jnp.arange(num_frames) / num_frames, 2.0)
    return 1.0 - jnp.abs(1.0 - phase)


def cycle_interval(start: ArrayLike, num_frames: int, low: ArrayLike, high: ArrayLike) -> Array:
    """Cycles linearly through ``[low, high]`` starting from ``start``.

    Args:
      start: ``[...]`` starting values (clipped into the interval).
      num_frames: frames ``T`` per cycle (>= 2).
      low: lower ends, broadcastable to ``start``.
      high: upper ends (``> low``), broadcastable to ``start``.

    Returns:
      ``[..., T]`` float32; frame 0 is ``start`` (clipped), frame ``T/2`` its mirror.
    """
    start, low, high = (jnp.asarray(a, dtype=jnp.float32) for a in (start, low, high))
    start, low, high = jnp.broadcast_arrays(start, low, high)
    width = high - low
    safe = jnp.where(width > 0, width, 1.0)
    start01 = jnp.clip((start - low) / safe, 0.0, 1.0)
    return low[..., None] + width[..., None] * _triangle(start01, num_frames)


def cycle_gaussian(
    start: ArrayLike, num_frames: int, loc: ArrayLike = 0.0, scale: ArrayLike = 1.0
) -> Array:
    """Cycles evenly through the quantiles of N(loc, scale²) starting from ``start``.

    Args:
      start: ``[...]`` starting values.
      num_frames: frames ``T`` per cycle (>= 2).
      loc: Gaussian means, broadcastable to ``start``.
      scale: Gaussian standard deviations (> 0), broadcastable to ``start``.

    Returns:
      ``[..., T]`` float32 values, between the 0.001 and 0.999 quantiles.
    """
    start, loc, scale = (jnp.asarray(a, dtype=jnp.float32) for a in (start, loc, scale))
    start, loc, scale = jnp.broadcast_arrays(start, loc, scale)
    probs = _triangle(ndtr((start - loc) / scale), num_frames)
    return loc[..., None] + scale[..., None] * ndtri(jnp.clip(probs, 0.001, 0.999))


def cycle_values(
    cycle: str, seed_mean: ArrayLike, mean: ArrayLike, logvar: ArrayLike, num_frames: int
) -> Array:
    """Values of every latent of every seed through one cycle.

    Args:
      cycle: one of :data:`CYCLES`.
      seed_mean: ``[S, L]`` starting values (the seeds' posterior means).
      mean: ``[N, L]`` posterior means of the reference batch.
      logvar: ``[N, L]`` posterior log-variances of the reference batch.
      num_frames: frames ``T`` per cycle (>= 2).

    Returns:
      ``[S, L, T]`` float32.
    """
    if cycle not in CYCLES:
        raise ValueError(f"cycle: expected one of {CYCLES}, got {cycle!r}")
    if num_frames < 2:
        raise ValueError(f"num_frames: expected at least 2 frames, got {num_frames}")
    mean = jnp.asarray(mean, dtype=jnp.float32)
    logvar = jnp.asarray(logvar, dtype=jnp.float32)
    if cycle == "fixed_interval":
        return cycle_interval(seed_mean, num_frames, -2.0, 2.0)
    if cycle == "std_gaussian":
        return cycle_gaussian(seed_mean, num_frames)
    if cycle == "minmax_interval":
        return cycle_interval(seed_mean, num_frames, mean.min(axis=0), mean.max(axis=0))
    loc = mean.mean(axis=0)
    scale = jnp.sqrt(jnp.exp(logvar).mean(axis=0) + mean.var(axis=0))
    if cycle == "fitted_gaussian":
        return cycle_gaussian(seed_mean, num_frames, loc, scale)
    return cycle_interval(seed_mean, num_frames, loc - 2.0 * scale, loc + 2.0 * scale)


def cycle_latents(
    posterior: traversals.Posterior, rows: Array, cycle: str, num_frames: int
) -> tuple[Array, Array]:
    """Traceable: ``(z [S, R, T, L], values [S, R, T])`` of one animation cycle."""
    values = cycle_values(cycle, posterior.seed_mean, posterior.mean, posterior.logvar, num_frames)
    values = values[:, rows]
    onehot = jax.nn.one_hot(rows, posterior.mean.shape[1], dtype=jnp.float32)  # [R, L]
    held = posterior.seed_mean[:, None, None, :] * (1.0 - onehot)[None, :, None, :]
    return held + values[..., None] * onehot[None, :, None, :], values


def animate_cycles(
    model,
    params: PyTree,
    images: ArrayLike,
    *,
    cycles: Sequence[str] = ("fixed_interval", "std_gaussian", "fitted_gaussian"),
    num_frames: int = 20,
    reference_images: ArrayLike | None = None,
    latents: Sequence[int] | None = None,
    order: str = "kl",
    kl_threshold: float = traversals.KL_THRESHOLD,
    output: str = "sigmoid",
) -> dict[str, Animation]:
    """Decodes several animated traversals at once (one program for all their frames).

    Args:
      model: a ``disentax.models.VAE`` module.
      params: its parameters.
      images: ``[S, H, W, C]`` seed images in [0, 1].
      cycles: names from :data:`CYCLES`.
      num_frames: frames ``T`` per cycle.
      reference_images: ``[N, H, W, C]`` batch for the KL and the fitted cycles
        (default: the seed images).
      latents: indices to animate (default all); out-of-range indices raise.
      order: ``"kl"`` (rows by decreasing average KL) or ``"index"``.
      kl_threshold: latents with average KL at or below this (nats) are inactive.
      output: ``"sigmoid"`` or ``"clip"``.

    Returns:
      ``{cycle: Animation}`` with ``frames [T, R, S, H, W, C]`` each.
    """
    decoding.check_output(output)
    traversals.check_order(order)
    cycles = tuple(cycles)
    unknown = [c for c in cycles if c not in CYCLES]
    if unknown or not cycles:
        raise ValueError(f"cycles: expected names from {CYCLES}, got {list(cycles)}")
    if num_frames < 2:
        raise ValueError(f"num_frames: expected at least 2 frames, got {num_frames}")
    seeds, reference = traversals.check_inputs(images, reference_images)
    frames, rows, values, kl = _animate(
        model,
        params,
        seeds,
        reference,
        cycles=cycles,
        latents=traversals.static_latents(latents),
        order=order,
        num_frames=int(num_frames),
        output=output,
    )
    rows, kl = np.asarray(rows), np.asarray(kl)
    return {
        cycle: Animation(frames[i], rows, values[i], kl, kl > kl_threshold)
        for i, cycle in enumerate(cycles)
    }


def animate(
    model,
    params: PyTree,
    images: ArrayLike,
    *,
    cycle: str = "fixed_interval",
    **kwargs,
) -> Animation:
    """Decodes the frames of one animated traversal (one program for all frames).

    Args:
      model: a ``disentax.models.VAE`` module.
      params: its parameters.
      images: ``[S, H, W, C]`` seed images in [0, 1].
      cycle: one of :data:`CYCLES`.
      **kwargs: ``num_frames``, ``reference_images``, ``latents``, ``order``,
        ``kl_threshold``, ``output`` as in :func:`animate_cycles`.

    Returns:
      An :class:`Animation` with ``frames [T, R, S, H, W, C]``.
    """
    if cycle not in CYCLES:
        raise ValueError(f"cycle: expected one of {CYCLES}, got {cycle!r}")
    return animate_cycles(model, params, images, cycles=(cycle,), **kwargs)[cycle]


@functools.partial(
    jax.jit, static_argnames=("model", "cycles", "latents", "order", "num_frames", "output")
)
def _animate(model, params, seeds, reference, *, cycles, latents, order, num_frames, output):
    posterior = traversals.posterior_of(model, params, seeds, reference)
    rows = traversals.order_rows(posterior.kl, latents, order)
    pairs = [cycle_latents(posterior, rows, cycle, num_frames) for cycle in cycles]
    z = jnp.stack([pair[0] for pair in pairs])  # [Cy, S, R, T, L]
    decoded = decoding.decode_in_chunks(model, params, z, output, _BATCH_SIZE)
    frames = jnp.transpose(decoded, (0, 3, 2, 1, 4, 5, 6))  # [Cy, T, R, S, H, W, C]
    return frames, rows, jnp.stack([pair[1] for pair in pairs]), posterior.kl[rows]


def gif_frames(
    animation: Animation, *, pad: int = 2, row_labels: Sequence[str] | None = None
) -> HostArray:
    """Tiles each frame into one uint8 image, optionally with a label left of each row.

    Args:
      animation: from :func:`animate`.
      pad: border in pixels between the cells.
      row_labels: ``R`` short strings (e.g. ``"z3"``) drawn in a white strip on the left.

    Returns:
      ``[T, H', W', C]`` uint8 frames (``C`` = 1 for greyscale, else 3; labels force 3).
      Observations with other channel counts are drawn as
      :func:`disentax.viz.grids.displayable` lays them out, at least 16 pixels a side.
    """
    cells = grids.displayable(animation.frames, min_size=_MIN_GIF_CELL)
    frames = grids.to_uint8(np.stack([grids.tile(frame, pad=pad) for frame in cells]))
    if row_labels is None:
        return frames
    num_rows, height = cells.shape[1], cells.shape[3]
    if len(row_labels) != num_rows:
        raise ValueError(f"row_labels: expected {num_rows} labels, got {len(row_labels)}")
    strip = Image.new("RGB", (8 + 7 * max(len(s) for s in row_labels), frames.shape[1]), "white")
    draw = ImageDraw.Draw(strip)
    for r, label in enumerate(row_labels):
        draw.text((4, pad + r * (height + pad) + height // 2 - 5), label, fill=(0, 0, 0))
    strip_array = np.broadcast_to(np.asarray(strip), (frames.shape[0], *np.asarray(strip).shape))
    return np.concatenate([strip_array, grids.to_rgb(frames)], axis=2)


def write_gif(path, frames: ArrayLike, *, fps: float = 10.0) -> None:
    """Writes uint8 frames as a looping GIF with Pillow.

    Pillow stores identical consecutive frames as one frame with the summed duration, so
    a GIF of a model whose every latent is inactive can hold fewer frames than given.

    Args:
      path: output file.
      frames: ``[T, H, W]`` or ``[T, H, W, C]`` uint8 (``C`` in {1, 3}).
      fps: frames per second (> 0).
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4) or frames.shape[0] < 1:
        raise ValueError(
            f"frames: expected uint8 frames [T, H, W(, C)], got {frames.dtype} {frames.shape}"
        )
    if not fps > 0:
        raise ValueError(f"fps: expected a positive frame rate, got {fps}")
    if frames.ndim == 4 and frames.shape[-1] == 1:
        frames = frames[..., 0]
    pictures = [Image.fromarray(frame) for frame in frames]
    pictures[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=pictures[1:],
        duration=max(1, round(1000.0 / fps)),
        loop=0,
    )
