"""Reader of the published MPI3D files (``mpi3d_toy``, ``mpi3d_realistic``, ``mpi3d_real``).

Published layout (rr-learning/disentanglement_dataset README): ``mpi3d_<variant>.npz``
with one array ``images`` of 1,036,800 uint8 images 64x64x3, stored in factor order so
that ``images.reshape([6, 6, 2, 3, 3, 40, 40, 64, 64, 3])`` indexes object_color,
object_shape, object_size, camera_height, background_color, horizontal_axis,
vertical_axis (the last fastest). The files carry no labels: the factor of an image is
its position. The original download links died; the files are mirrored on Hugging Face
(``waleedgondal/mpi3d``). The images stay uint8 on the device (12.7 GB for a file), so
the full dataset needs an accelerator with that much memory (or host RAM on CPU).

disentanglement_lib's ``mpi3d_toy`` is an earlier challenge file with factor sizes
``(4, 4, 2, 3, 3, 40, 40)``; read such a file with ``factor_sizes=(4, 4, 2, 3, 3, 40, 40)``.

References:
  Gondal et al. On the Transfer of Inductive Bias from Simulation to the Real World: a
  New Disentanglement Dataset. NeurIPS 2019.
"""

from __future__ import annotations

import pathlib

import jax.numpy as jnp
import numpy as np

from disentax.data import files
from disentax.data.files import DatasetFormatError
from disentax.data.ground_truth import FactorSpace
from disentax.data.resident import ArrayData, cached

VARIANTS = ("toy", "realistic", "real")
SOURCE = (
    "https://github.com/rr-learning/disentanglement_dataset (files now mirrored at "
    "https://huggingface.co/datasets/waleedgondal/mpi3d)"
)
FACTOR_NAMES = (
    "object_color",
    "object_shape",
    "object_size",
    "camera_height",
    "background_color",
    "horizontal_axis",
    "vertical_axis",
)
FACTOR_SIZES = (6, 6, 2, 3, 3, 40, 40)
_CHUNK = 16384


def load(
    variant: str = "toy",
    data_dir=None,
    *,
    path: str | pathlib.Path | None = None,
    factor_sizes: tuple[int, ...] = FACTOR_SIZES,
) -> ArrayData:
    """An MPI3D file as a device-resident dataset (7 factors, 64x64x3).

    Args:
      variant: ``"toy"``, ``"realistic"`` or ``"real"`` (file ``mpi3d_<variant>.npz``).
      data_dir: folder holding the file (default ``$DISENTAX_DATA`` or ``~/disentax_data``).
      path: the file itself, overriding ``variant``'s file name and ``data_dir``.
      factor_sizes: the grid the file holds (default the published 6,6,2,3,3,40,40).

    Raises:
      ValueError: unknown variant or bad factor_sizes.
      DatasetNotFoundError: the file is not there (the message says where to get it).
      DatasetFormatError: the file is truncated or not the published layout.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    name = f"mpi3d_{variant}"
    grid = FactorSpace(tuple(factor_sizes), FACTOR_NAMES)  # validates the sizes
    if path is None:
        path = files.find_file(f"{name}.npz", dataset="mpi3d", data_dir=data_dir, source=SOURCE)
    path = pathlib.Path(path)
    if not path.is_file():
        raise files.DatasetNotFoundError(f"dataset {name!r}: no such file {path}")
    return cached(path, (name, grid.sizes), lambda: _read(path, name, grid))


def _read(path: pathlib.Path, name: str, grid: FactorSpace) -> ArrayData:
    shape, dtype = files.npz_header(path, "images")
    if dtype != np.uint8 or len(shape) not in (4, 10) or shape[-1] != 3:
        raise DatasetFormatError(
            f"{path}: images must be uint8 [N, 64, 64, 3] (or the 10-d factor layout), "
            f"got {dtype} {list(shape)}"
        )
    num = int(np.prod(shape[:-3]))
    if num != grid.num_points:
        raise DatasetFormatError(
            f"{path}: holds {num} images but the factor grid {grid.sizes} has "
            f"{grid.num_points} (truncated file, or pass factor_sizes for another grid)"
        )
    image_shape = tuple(shape[-3:])
    data = np.empty((num, *image_shape), np.uint8)
    start = 0
    rows = _CHUNK if len(shape) == 4 else 1
    for chunk in files.iter_npz_rows(path, "images", rows):
        chunk = chunk.reshape(-1, *image_shape)
        data[start : start + len(chunk)] = chunk
        start += len(chunk)
    if start != num:
        raise DatasetFormatError(f"{path}: images ended after {start} of {num}")
    return ArrayData(name=name, images=jnp.asarray(data), grid=grid, observation_shape=image_shape)
