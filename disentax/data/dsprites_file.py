"""Reader of the published dSprites files (``.npz`` and its ``.hdf5`` twin).

Published layout (deepmind/dsprites-dataset README and reloading notebook):

* ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` with ``imgs`` ``[737280, 64, 64]``
  uint8 (0/1), ``latents_classes`` and ``latents_values`` ``[737280, 6]`` over (color,
  shape, scale, orientation, posX, posY), and ``metadata`` (a pickled dict, needs
  ``allow_pickle``; its ``latents_sizes`` is ``[1, 3, 6, 40, 32, 32]``);
* ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.hdf5`` with ``imgs``,
  ``latents/classes`` and ``latents/values``.

The colour factor (a single value) is dropped, giving disentanglement_lib's five
factors. The images are streamed from the file, bit-packed (8 pixels a byte: 377 MB for
the whole grid instead of 2.8 GB) and kept on the device; ``observations`` unpacks only
the rows it is asked for.

References:
  Matthey et al. dSprites, https://github.com/deepmind/dsprites-dataset, 2017.
"""

from __future__ import annotations

import pathlib

import jax.numpy as jnp
import numpy as np

from disentax.data import files
from disentax.data.dsprites import FACTOR_NAMES
from disentax.data.files import DatasetFormatError
from disentax.data.ground_truth import FactorSpace
from disentax.data.resident import ArrayData, cached, grid_order, pack_bits, values_tuple

NPZ_NAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
HDF5_NAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.hdf5"
SOURCE = "https://github.com/deepmind/dsprites-dataset"
_ALL_NAMES = ("color", *FACTOR_NAMES)
_CHUNK = 8192


def load(data_dir=None, *, path: str | pathlib.Path | None = None) -> ArrayData:
    """The published dSprites file as a device-resident dataset (5 factors, 64x64x1).

    Args:
      data_dir: folder holding the file (default ``$DISENTAX_DATA`` or ``~/disentax_data``).
      path: the file itself (``.npz`` or ``.hdf5``), overriding ``data_dir``.

    Raises:
      DatasetNotFoundError: the file is not there (the message says where to get it).
      DatasetFormatError: the file is truncated or not the published layout.
    """
    if path is None:
        path = files.find_file(
            [NPZ_NAME, HDF5_NAME], dataset="dsprites", data_dir=data_dir, source=SOURCE
        )
    path = pathlib.Path(path)
    if not path.is_file():
        raise files.DatasetNotFoundError(f"dataset 'dsprites_file': no such file {path}")
    reader = _read_hdf5 if path.suffix in (".hdf5", ".h5") else _read_npz
    return cached(path, ("dsprites",), lambda: _build(path, *reader(path)))


def _read_npz(path: pathlib.Path):
    shape, dtype = files.npz_header(path, "imgs")
    classes = files.load_npz_array(path, "latents_classes")
    values = files.load_npz_array(path, "latents_values")
    sizes = None
    try:
        metadata = files.load_npz_array(path, "metadata", allow_pickle=True)
        meta = metadata.item() if metadata.dtype == object else None
        if isinstance(meta, dict):
            meta = {k.decode() if isinstance(k, bytes) else k: v for k, v in meta.items()}
            if "latents_sizes" in meta:
                sizes = tuple(int(s) for s in np.asarray(meta["latents_sizes"]))
    except Exception:  # noqa: BLE001 - metadata is optional (a pickle of a Python 2
        pass  # dict); without it the grid is read off the labels

    def chunks():
        yield from files.iter_npz_rows(path, "imgs", _CHUNK)

    return shape, dtype, classes, values, sizes, chunks


def _read_hdf5(path: pathlib.Path):
    with files.open_hdf5(path) as h5:
        imgs = files.hdf5_dataset(h5, "imgs", path)
        shape, dtype = tuple(imgs.shape), np.dtype(imgs.dtype)
        classes = np.asarray(files.hdf5_dataset(h5, "latents/classes", path))
        values = np.asarray(files.hdf5_dataset(h5, "latents/values", path))

    def chunks():
        with files.open_hdf5(path) as h5:
            imgs = h5["imgs"]
            for start in range(0, shape[0], _CHUNK):
                try:
                    yield np.asarray(imgs[start : start + _CHUNK])
                except OSError as err:
                    raise DatasetFormatError(f"{path}: cannot read imgs[{start}:] ({err})") from err

    return shape, dtype, classes, values, None, chunks


def _build(path, shape, dtype, classes, values, sizes, chunks) -> ArrayData:
    if len(shape) != 3 or dtype != np.uint8 or shape[0] == 0:
        raise DatasetFormatError(
            f"{path}: imgs must be uint8 [N, H, W] binary images with N > 0, got {dtype} "
            f"{list(shape)}"
        )
    if classes.ndim != 2 or classes.shape[1] != 6 or values.shape != classes.shape:
        raise DatasetFormatError(
            f"{path}: latents_classes and latents_values must both be [N, 6] over "
            f"{_ALL_NAMES}, got {classes.shape} and {values.shape}"
        )
    if sizes is None:
        sizes = tuple(int(s) for s in classes.max(axis=0) + 1)
    if len(sizes) != 6 or sizes[0] != 1:
        raise DatasetFormatError(f"{path}: expected 6 factor sizes with one colour, got {sizes}")
    grid = FactorSpace(sizes[1:], FACTOR_NAMES)
    if classes.shape[0] != shape[0]:
        raise DatasetFormatError(
            f"{path}: {shape[0]} images but {classes.shape[0]} rows of latents_classes"
        )
    order = grid_order(classes[:, 1:], grid, path)
    packed = np.empty((shape[0], (shape[1] * shape[2] + 7) // 8), np.uint8)
    start = 0
    for chunk in chunks():
        if chunk.size and chunk.max() > 1:
            raise DatasetFormatError(
                f"{path}: imgs must be binary (0/1), found value {int(chunk.max())} "
                f"in rows {start}..{start + len(chunk) - 1}"
            )
        packed[start : start + len(chunk)] = pack_bits(chunk)
        start += len(chunk)
    if start != shape[0]:
        raise DatasetFormatError(f"{path}: imgs ended after {start} of {shape[0]} rows")
    if order is not None:
        packed = packed[order]
        values = values[order]
    table = [np.unique(values[:, 1 + i]) for i in range(5)]
    table = [t if len(t) == n else None for t, n in zip(table, grid.sizes, strict=True)]
    return ArrayData(
        name="dsprites_file",
        images=jnp.asarray(packed),
        grid=grid,
        observation_shape=(shape[1], shape[2], 1),
        packed=True,
        values=values_tuple(table),
    )
