"""Reader of the published Shapes3D file ``3dshapes.h5``.

Published layout (deepmind/3d-shapes README): ``images`` ``[480000, 64, 64, 3]`` uint8
and ``labels`` ``[480000, 6]`` float64 holding factor **values** (hues 0.0..0.9, scale
``linspace(0.75, 1.25, 8)``, shape 0..3, orientation ``linspace(-30, 30, 15)``) over
floor_hue 10, wall_hue 10, object_hue 10, scale 8, shape 4, orientation 15, orientation
varying fastest. Values are mapped to class indices by rank within each factor (as the
TFDS builder does); the grid read off the labels must be complete. The images stay
uint8 on the device (5.9 GB for the full file).

References:
  Burgess, Kim. 3D Shapes Dataset. https://github.com/deepmind/3d-shapes, 2018.
  Kim, Mnih. Disentangling by Factorising. ICML 2018.
"""

from __future__ import annotations

import pathlib

import jax.numpy as jnp
import numpy as np

from disentax.data import files
from disentax.data.files import DatasetFormatError
from disentax.data.ground_truth import FactorSpace
from disentax.data.resident import ArrayData, cached, grid_order, values_tuple

FILENAME = "3dshapes.h5"
SOURCE = "https://github.com/deepmind/3d-shapes (Google Cloud Storage bucket 3d-shapes)"
FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
_CHUNK = 16384


def load(data_dir=None, *, path: str | pathlib.Path | None = None) -> ArrayData:
    """The published ``3dshapes.h5`` as a device-resident dataset (6 factors, 64x64x3).

    Args:
      data_dir: folder holding the file (default ``$DISENTAX_DATA`` or ``~/disentax_data``).
      path: the file itself, overriding ``data_dir``.

    Raises:
      DatasetNotFoundError: the file is not there (the message says where to get it).
      DatasetFormatError: the file is truncated or not the published layout.
    """
    if path is None:
        path = files.find_file(FILENAME, dataset="shapes3d", data_dir=data_dir, source=SOURCE)
    path = pathlib.Path(path)
    if not path.is_file():
        raise files.DatasetNotFoundError(f"dataset 'shapes3d': no such file {path}")
    return cached(path, ("shapes3d",), lambda: _read(path))


def labels_to_classes(labels: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Float label values ``[N, F]`` -> class indices by rank, and the sorted values."""
    classes = np.empty(labels.shape, np.int32)
    values = []
    for i in range(labels.shape[1]):
        # Round to float32 first so that 0.30000000000000004 and 0.3 are one value.
        column = labels[:, i].astype(np.float32)
        unique, inverse = np.unique(column, return_inverse=True)
        classes[:, i] = inverse.reshape(-1)
        values.append(unique)
    return classes, values


def _read(path: pathlib.Path) -> ArrayData:
    with files.open_hdf5(path) as h5:
        images = files.hdf5_dataset(h5, "images", path)
        labels = np.asarray(files.hdf5_dataset(h5, "labels", path))
        if images.ndim != 4 or images.dtype != np.uint8 or images.shape[-1] != 3:
            raise DatasetFormatError(
                f"{path}: images must be uint8 [N, H, W, 3], got {images.dtype} {images.shape}"
            )
        if labels.ndim != 2 or labels.shape != (images.shape[0], len(FACTOR_NAMES)):
            raise DatasetFormatError(
                f"{path}: labels must be [{images.shape[0]}, 6] factor values over "
                f"{FACTOR_NAMES}, got {labels.shape}"
            )
        classes, values = labels_to_classes(labels)
        grid = FactorSpace(tuple(len(v) for v in values), FACTOR_NAMES)
        if grid.num_points != images.shape[0]:
            raise DatasetFormatError(
                f"{path}: labels take {grid.sizes} distinct values per factor "
                f"({grid.num_points} combinations) but the file holds {images.shape[0]} "
                f"images; the published grid is {FACTOR_SIZES} (truncated file?)"
            )
        order = grid_order(classes, grid, path)
        data = np.empty(images.shape, np.uint8)
        for start in range(0, images.shape[0], _CHUNK):
            try:
                data[start : start + _CHUNK] = images[start : start + _CHUNK]
            except OSError as err:
                raise DatasetFormatError(f"{path}: cannot read images[{start}:] ({err})") from err
    if order is not None:
        data = data[order]
    return ArrayData(
        name="shapes3d",
        images=jnp.asarray(data),
        grid=grid,
        observation_shape=tuple(data.shape[1:]),
        values=values_tuple(values),
    )
