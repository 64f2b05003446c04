"""Reader of the published smallNORB files (NYU binary-matrix ``.mat`` format).

Published layout (cs.nyu.edu/~ylclab/data/norb-v1.0-small): per split (``training``,
``testing``) three files ``smallnorb-5x{46789,01235}x9x18x6x2x96x96-<split>-{dat,cat,info}.mat``.
Each starts with a little-endian int32 header: a magic number giving the element type
(``0x1E3D4C55`` uint8, ``0x1E3D4C54`` int32), the number of dimensions ``ndim``, then
``max(ndim, 3)`` int32 dimensions; the data follows. ``dat`` holds ``[24300, 2, 96, 96]``
uint8 stereo pairs, ``cat`` ``[24300]`` categories (5), ``info`` ``[24300, 4]`` instance,
elevation (9), azimuth (0, 2, ..., 34: 18 values) and lighting (6).

Following disentanglement_lib, both splits are concatenated (10 instances), the first
image of each stereo pair is kept and resized to 64x64 with a Lanczos filter, and the
exposed factors are category 5, elevation 9, azimuth 18 and lighting 6; the instance is
a nuisance factor drawn per image (``observations(factors, key=None)``: see
:class:`disentax.data.resident.ArrayData`).

References:
  LeCun, Huang, Bottou. Learning Methods for Generic Object Recognition with
  Invariance to Pose and Lighting. CVPR 2004.
"""

from __future__ import annotations

import pathlib

import jax.numpy as jnp
import numpy as np

from disentax._extras import require
from disentax.data import files
from disentax.data.files import DatasetFormatError
from disentax.data.ground_truth import FactorSpace
from disentax.data.resident import ArrayData, cached, grid_order, values_tuple

SOURCE = "https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/"
PREFIXES = {
    "training": "smallnorb-5x46789x9x18x6x2x96x96-training",
    "testing": "smallnorb-5x01235x9x18x6x2x96x96-testing",
}
STORED_NAMES = ("category", "instance", "elevation", "azimuth", "lighting")
LATENT_INDICES = (0, 2, 3, 4)
MAGIC = {0x1E3D4C55: np.dtype("<u1"), 0x1E3D4C54: np.dtype("<i4")}
IMAGE_SIZE = 64


def read_matrix(path: pathlib.Path) -> np.ndarray:
    """Reads one NYU binary-matrix file (uint8 or int32 element type).

    Raises:
      DatasetFormatError: unknown magic number, bad header or truncated data.
    """
    raw = np.fromfile(path, np.uint8)
    if raw.size < 20:
        raise DatasetFormatError(f"{path}: {raw.size} bytes, too short for a binary-matrix header")
    magic, ndim = (int(v) for v in raw[:8].view("<i4"))
    if magic not in MAGIC:
        raise DatasetFormatError(
            f"{path}: magic number {magic:#x} is not a uint8 (0x1e3d4c55) or int32 "
            "(0x1e3d4c54) binary matrix"
        )
    if not 1 <= ndim <= 8:
        raise DatasetFormatError(f"{path}: header announces {ndim} dimensions")
    header_dims = max(ndim, 3)
    offset = 8 + 4 * header_dims
    dims = tuple(int(v) for v in raw[8:offset].view("<i4")[:ndim])
    dtype = MAGIC[magic]
    count = int(np.prod(dims))
    if raw.size - offset != count * dtype.itemsize:
        raise DatasetFormatError(
            f"{path}: header announces {list(dims)} {dtype.name} values "
            f"({count * dtype.itemsize} bytes) but {raw.size - offset} data bytes follow"
        )
    return raw[offset:].view(dtype).reshape(dims)


def load(data_dir=None, *, splits: tuple[str, ...] = ("training", "testing")) -> ArrayData:
    """The smallNORB files as a device-resident dataset (4 factors + instance nuisance, 64x64x1).

    Args:
      data_dir: folder holding the ``.mat`` files (default ``$DISENTAX_DATA`` or
        ``~/disentax_data``; also looked for in its ``smallnorb/`` sub-folder).
      splits: which published splits to concatenate (default both, as disentanglement_lib).

    Raises:
      DatasetNotFoundError: a file is not there (the message says where to get it).
      DatasetFormatError: a file is truncated or not in the binary-matrix format.
    """
    if not splits or any(s not in PREFIXES for s in splits):
        raise ValueError(f"splits must be a non-empty subset of {tuple(PREFIXES)}, got {splits}")
    paths = []
    for split in splits:
        for part in ("dat", "cat", "info"):
            name = f"{PREFIXES[split]}-{part}.mat"
            found = files.find_file(name, dataset="smallnorb", data_dir=data_dir, source=SOURCE)
            paths.append(found)
    return cached(paths[0], ("smallnorb", tuple(splits)), lambda: _read(paths))


def _read(paths: list[pathlib.Path]) -> ArrayData:
    images, labels = [], []
    for dat_path, cat_path, info_path in zip(paths[0::3], paths[1::3], paths[2::3], strict=True):
        dat, cat, info = read_matrix(dat_path), read_matrix(cat_path), read_matrix(info_path)
        if dat.ndim != 4 or dat.shape[1] != 2 or dat.dtype != np.uint8:
            raise DatasetFormatError(
                f"{dat_path}: expected uint8 stereo pairs [N, 2, H, W], got {dat.dtype} {dat.shape}"
            )
        n = dat.shape[0]
        if cat.reshape(-1).shape != (n,) or info.shape != (n, 4):
            raise DatasetFormatError(
                f"{cat_path} / {info_path}: expected [{n}] categories and [{n}, 4] info "
                f"(instance, elevation, azimuth, lighting), got {cat.shape} and {info.shape}"
            )
        labels.append(np.concatenate([cat.reshape(n, 1), info], axis=1))
        images.append(dat[:, 0])
    labels = np.concatenate(labels)
    classes, values = np.empty(labels.shape, np.int32), []
    for i in range(labels.shape[1]):
        unique, inverse = np.unique(labels[:, i], return_inverse=True)
        classes[:, i] = inverse.reshape(-1)
        values.append(unique)
    grid = FactorSpace(tuple(len(v) for v in values), STORED_NAMES)
    order = grid_order(classes, grid, paths[0])
    resized = np.stack([_resize(img) for img in np.concatenate(images)])
    if order is not None:
        resized = resized[order]
    return ArrayData(
        name="smallnorb",
        images=jnp.asarray(resized[..., None]),
        grid=grid,
        observation_shape=(IMAGE_SIZE, IMAGE_SIZE, 1),
        latent_indices=LATENT_INDICES,
        values=values_tuple([values[i] for i in LATENT_INDICES]),
    )


def _resize(image: np.ndarray) -> np.ndarray:
    if image.shape == (IMAGE_SIZE, IMAGE_SIZE):
        return image
    image_module = require("PIL.Image", "files", "reading smallNORB")  # resizing (Lanczos)
    resized = image_module.fromarray(image).resize(
        (IMAGE_SIZE, IMAGE_SIZE), image_module.Resampling.LANCZOS
    )
    return np.asarray(resized)
