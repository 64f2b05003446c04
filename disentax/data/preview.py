"""``disentax data show NAME`` (:func:`show`): a PNG grid of samples and the factor table."""

from __future__ import annotations

import math
import os
import pathlib

import jax
import numpy as np

from disentax._extras import require
from disentax.data.catalog import get
from disentax.data.ground_truth import check_num, factor_table

# The most samples one grid shows: a 64 x 64 grid of tiles (about 4,200 px a side for
# 64-px images); more would not be seen, only cost memory.
MAX_SHOW = 4096


def image_grid(images: np.ndarray, *, columns: int | None = None, pad: int = 1) -> np.ndarray:
    """Tiles ``images [N, H, W, C]`` (floats in [0, 1]) into one uint8 image.

    Images whose channel count is not 1 or 3 (e.g. synthetic vectors) are laid out as
    ``[H, W*C, 1]`` strips; small images are enlarged (nearest) to at least 32 px.

    Returns:
      ``[rows*(H'+pad)+pad, columns*(W'+pad)+pad, C']`` uint8, grey between tiles.

    Examples:
      >>> import numpy as np
      >>> from disentax.data import image_grid
      >>> grid = image_grid(np.zeros((4, 8, 8, 1)))  # 2 x 2 tiles, enlarged to 32 px
      >>> grid.shape, grid.dtype
      ((67, 67, 1), dtype('uint8'))
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 4:
        raise ValueError(f"images must be [N, H, W, C], got shape {images.shape}")
    n, h, w, c = images.shape
    if c not in (1, 3):
        images = images.reshape(n, h, w * c, 1)
        n, h, w, c = images.shape
    zoom = max(1, 32 // min(h, w))
    images = images.repeat(zoom, axis=1).repeat(zoom, axis=2)
    h, w = h * zoom, w * zoom
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    canvas = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), 0.5, np.float32)
    for i in range(n):
        r, col = divmod(i, columns)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        canvas[top : top + h, left : left + w] = images[i]
    return np.round(np.clip(canvas, 0.0, 1.0) * 255.0).astype(np.uint8)


def show(
    name: str,
    workdir: str | os.PathLike,
    *,
    data_dir: str | os.PathLike | None = None,
    num: int = 64,
    seed: int = 0,
) -> pathlib.Path:
    """Writes ``workdir/data_<name>.png`` (``num`` random samples) and prints the factors.

    Args:
      name: a dataset name (see :func:`disentax.data.names`).
      workdir: output folder (created if needed).
      data_dir: folder of the published files, for datasets read from files.
      num: number of samples in the grid.
      seed: sampling seed.

    Returns:
      The path of the PNG file.

    Raises:
      ValueError: ``num`` is above :data:`MAX_SHOW`, or an unknown dataset name.
      NotADirectoryError: ``workdir`` (or a folder above it) is a file.

    Examples:
      >>> import tempfile
      >>> from disentax.data import show
      >>> with tempfile.TemporaryDirectory() as workdir:  # doctest: +ELLIPSIS
      ...     path = show("synthetic_identity", workdir, num=4)
      dataset synthetic_identity: observation shape (1, 1, 4)
       #  factor            size  values
      ...
      wrote 4 samples (seed 0) to .../data_synthetic_identity.png
      >>> path.name
      'data_synthetic_identity.png'
    """
    num = check_num(num)
    if num > MAX_SHOW:
        raise ValueError(f"num: at most {MAX_SHOW} samples fit one grid, got {num}")
    workdir = pathlib.Path(workdir)
    for folder in (workdir, *workdir.parents):
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(f"workdir {workdir}: {folder} is a file, not a folder")
    dataset = get(name, data_dir=data_dir)
    factors = dataset.sample_factors(jax.random.key(seed), num)
    images = np.asarray(dataset.observations(factors))
    grid = image_grid(images)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"data_{name}.png"
    image_module = require("PIL.Image", "viz", "disentax.data.show")
    image_module.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path)
    values = getattr(dataset, "factor_values", None)
    print(f"dataset {name}: observation shape {tuple(dataset.observation_shape)}")
    print(factor_table(dataset.factor_names, dataset.factor_sizes, values))
    print(f"wrote {num} samples (seed {seed}) to {path}")
    return path
