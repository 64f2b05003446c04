"""Host-side image grids: tiling batches of images and converting them for files.

Everything here takes NumPy or JAX arrays of images in ``[0, 1]`` and returns NumPy
arrays; nothing is traced. Layout conventions (batch-major, NHWC): a grid is an array
``[R, K, H, W, C]`` of ``R`` rows and ``K`` columns of images, and :func:`tile` turns it
into one image ``[R*H + (R+1)*pad, K*W + (K+1)*pad, C]`` with a ``pad``-pixel border
between and around the cells.

Observations need not be pictures: :func:`displayable` draws any channel count other
than 1 (grey) or 3 (RGB), e.g. the 4-vectors of a synthetic dataset, as grey cells side
by side, one per channel, so every picture of a run can be drawn.
"""

from __future__ import annotations

import numpy as np

from disentax.typing import ArrayLike, HostArray

__all__ = ["displayable", "tile", "to_rgb", "to_uint8"]


def displayable(images: ArrayLike, *, min_size: int = 1) -> HostArray:
    """Observations as pictures: pictures pass through, other channel counts in grey.

    Images with 1 or 3 channels are returned as they are. Any other channel count ``C``
    (a vector dataset's ``[1, 1, 4]`` observations, or ``[H, W, 2]``) becomes one grey
    channel with the ``C`` channels side by side, ``[..., H, W, C] -> [..., H, W*C, 1]``,
    enlarged (nearest neighbour) until its height and width reach ``min_size`` pixels.

    Args:
      images: ``[..., H, W, C]`` floats in [0, 1].
      min_size: the smallest height and width of laid-out observations, in pixels.

    Returns:
      ``[..., H', W', C']`` float32 with ``C'`` in {1, 3}.

    Example:
      >>> displayable(np.zeros((2, 1, 1, 4)), min_size=8).shape
      (2, 8, 32, 1)
    """
    array = np.asarray(images, dtype=np.float32)
    if array.ndim < 3:
        raise ValueError(f"images: expected [..., H, W, C], got shape {array.shape}")
    if array.shape[-1] in (1, 3):
        return array
    *lead, height, width, channels = array.shape
    array = array.reshape(*lead, height, width * channels, 1)
    zoom = max(1, -(-min_size // min(height, width * channels)))
    return array.repeat(zoom, axis=-3).repeat(zoom, axis=-2)


def _as_images(images: ArrayLike, ndim: int, name: str) -> HostArray:
    array = np.asarray(images, dtype=np.float32)
    if array.ndim != ndim:
        raise ValueError(f"{name}: expected an array of rank {ndim}, got shape {array.shape}")
    return displayable(array)


def tile(grid: ArrayLike, *, pad: int = 2, pad_value: float = 1.0) -> HostArray:
    """Tiles a grid of images into one image with a border between the cells.

    Args:
      grid: ``[R, K, H, W, C]`` float images in [0, 1] (``R`` rows, ``K`` columns); a
        channel count other than 1 or 3 is drawn as :func:`displayable` lays it out.
      pad: border width in pixels between and around the cells (>= 0).
      pad_value: border intensity in [0, 1] (1 = white).

    Returns:
      ``[R*H + (R+1)*pad, K*W + (K+1)*pad, C]`` float32 image.

    Raises:
      ValueError: ``grid`` is not rank 5, or ``pad`` is negative.
    """
    cells = _as_images(grid, 5, "grid")
    if pad < 0:
        raise ValueError(f"pad: expected a non-negative number of pixels, got {pad}")
    rows, cols, height, width, channels = cells.shape
    # Border above and left of every cell, then one more row/column of border at the end.
    framed = np.pad(
        cells,
        ((0, 0), (0, 0), (pad, 0), (pad, 0), (0, 0)),
        constant_values=pad_value,
    )
    stacked = framed.transpose(0, 2, 1, 3, 4).reshape(
        rows * (height + pad), cols * (width + pad), channels
    )
    return np.pad(stacked, ((0, pad), (0, pad), (0, 0)), constant_values=pad_value)


def to_uint8(image: ArrayLike) -> HostArray:
    """Converts float images in [0, 1] to uint8 in [0, 255] (values clipped, rounded).

    Args:
      image: any-shaped float array, nominally in [0, 1].

    Returns:
      uint8 array of the same shape.
    """
    array = np.asarray(image, dtype=np.float32)
    return np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)


def to_rgb(image: ArrayLike) -> HostArray:
    """Repeats a single channel three times (``[..., 1] -> [..., 3]``); RGB passes through.

    Args:
      image: ``[..., C]`` array with ``C`` in {1, 3}.

    Returns:
      ``[..., 3]`` array of the same dtype.
    """
    array = np.asarray(image)
    if array.shape[-1] == 3:
        return array
    if array.shape[-1] != 1:
        raise ValueError(f"image: expected 1 or 3 channels, got shape {array.shape}")
    return np.repeat(array, 3, axis=-1)
