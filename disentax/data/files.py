"""Finding and opening the published dataset files.

Files are looked for in one folder: the ``data_dir`` argument (``--data_dir`` on the
command line), else ``$DISENTAX_DATA``, else ``~/disentax_data``; a file may sit in
that folder or in a sub-folder named after the dataset (``<data_dir>/<dataset>/``).
Nothing is ever downloaded. A missing file raises :class:`DatasetNotFoundError` naming
the file, the folders searched and where the file is published; a truncated or
malformed file raises :class:`DatasetFormatError` naming the file and the defect.
"""

from __future__ import annotations

import os
import pathlib
import zipfile
from collections.abc import Iterator, Sequence

import numpy as np

ENV_VAR = "DISENTAX_DATA"
DEFAULT_DIR = "~/disentax_data"


class DatasetNotFoundError(FileNotFoundError):
    """A published dataset file is not in the data folder.

    A ``FileNotFoundError``; the message names the file, the folders searched and where
    the file is published (see :func:`disentax.data.get`).

    Examples:
      >>> from disentax.data import DatasetNotFoundError
      >>> issubclass(DatasetNotFoundError, FileNotFoundError)
      True
    """


class DatasetFormatError(ValueError):
    """A dataset file exists but is truncated or not in the expected format.

    Examples:
      >>> from disentax.data import DatasetFormatError
      >>> issubclass(DatasetFormatError, ValueError)
      True
    """


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """``data_dir`` if given, else ``$DISENTAX_DATA``, else ``~/disentax_data``.

    Examples:
      >>> from disentax.data import resolve_data_dir
      >>> resolve_data_dir("/data/disentax").as_posix()
      '/data/disentax'
    """
    if data_dir is None:
        data_dir = os.environ.get(ENV_VAR) or DEFAULT_DIR
    return pathlib.Path(data_dir).expanduser()


def find_file(
    filenames: str | Sequence[str],
    *,
    dataset: str,
    data_dir: str | os.PathLike | None,
    source: str,
) -> pathlib.Path:
    """The first of ``filenames`` found in the data folder or its ``dataset`` sub-folder.

    Args:
      filenames: accepted file (or folder) names, in order of preference.
      dataset: the dataset's name (also the sub-folder looked in).
      data_dir: the folder to search (``None``: ``$DISENTAX_DATA`` or ``~/disentax_data``).
      source: where the file is published, quoted in the error.

    Raises:
      DatasetNotFoundError: none of the names exists in the folders searched.
    """
    names = [filenames] if isinstance(filenames, str) else list(filenames)
    root = resolve_data_dir(data_dir)
    folders = [root, root / dataset]
    for name in names:
        for folder in folders:
            path = folder / name
            if path.exists():
                return path
    how = "--data_dir / data_dir=" if data_dir is not None else f"${ENV_VAR} or {DEFAULT_DIR}"
    raise DatasetNotFoundError(
        f"dataset {dataset!r}: file {' or '.join(names)} not found in "
        f"{' or '.join(str(f) for f in folders)} (folder from {how}). "
        f"Get it from {source} and place it there; nothing is downloaded automatically."
    )


def _read_header(fp, version):
    """(shape, fortran_order, dtype) of a .npy stream positioned after its magic string."""
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fp)
    return np.lib.format.read_array_header_2_0(fp)


def _npz_member(npz: zipfile.ZipFile, key: str, path: pathlib.Path) -> str:
    member = f"{key}.npy"
    if member not in npz.namelist():
        keys = sorted(n.removesuffix(".npy") for n in npz.namelist())
        raise DatasetFormatError(f"{path}: no array {key!r} in the npz file (it holds {keys})")
    return member


def npz_header(path: pathlib.Path, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of array ``key`` in an ``.npz`` file, without reading the data."""
    try:
        with zipfile.ZipFile(path) as npz, npz.open(_npz_member(npz, key, path)) as fp:
            version = np.lib.format.read_magic(fp)
            shape, _, dtype = _read_header(fp, version)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        if isinstance(err, DatasetFormatError):
            raise
        raise DatasetFormatError(f"{path}: not a readable .npz file ({err})") from err
    return tuple(shape), np.dtype(dtype)


def iter_npz_rows(path: pathlib.Path, key: str, rows_per_chunk: int) -> Iterator[np.ndarray]:
    """Streams array ``key`` of an ``.npz`` file in chunks of leading-axis rows.

    Decompresses on the fly, so a 2.8 GB image array is never whole in memory.

    Raises:
      DatasetFormatError: the archive or the array is truncated or malformed.
    """
    try:
        with zipfile.ZipFile(path) as npz, npz.open(_npz_member(npz, key, path)) as fp:
            version = np.lib.format.read_magic(fp)
            shape, fortran, dtype = _read_header(fp, version)
            if fortran and len(shape) > 1:
                raise DatasetFormatError(f"{path}: array {key!r} is Fortran-ordered")
            dtype = np.dtype(dtype)
            row_bytes = dtype.itemsize * int(np.prod(shape[1:], dtype=np.int64))
            for start in range(0, shape[0], rows_per_chunk):
                n = min(rows_per_chunk, shape[0] - start)
                buf = fp.read(n * row_bytes)
                if len(buf) != n * row_bytes:
                    raise DatasetFormatError(
                        f"{path}: array {key!r} is truncated: {shape[0]} rows announced, "
                        f"data ends within row {start + len(buf) // max(row_bytes, 1)}"
                    )
                yield np.frombuffer(buf, dtype).reshape((n, *shape[1:]))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        if isinstance(err, DatasetFormatError):
            raise
        raise DatasetFormatError(f"{path}: not a readable .npz file ({err})") from err


def load_npz_array(path: pathlib.Path, key: str, *, allow_pickle: bool = False) -> np.ndarray:
    """Loads one (small) array of an ``.npz`` file with a clear error on failure."""
    try:
        with np.load(path, allow_pickle=allow_pickle, encoding="latin1") as npz:
            if key not in npz.files:
                raise DatasetFormatError(
                    f"{path}: no array {key!r} in the npz file (it holds {sorted(npz.files)})"
                )
            return npz[key]
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        if isinstance(err, DatasetFormatError):
            raise
        raise DatasetFormatError(f"{path}: not a readable .npz file ({err})") from err


def open_hdf5(path: pathlib.Path):
    """Opens an HDF5 file read-only, turning h5py's errors into DatasetFormatError."""
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise DatasetFormatError(f"{path}: not a readable HDF5 file ({err})") from err


def hdf5_dataset(h5, key: str, path: pathlib.Path):
    """The dataset ``key`` of an open HDF5 file, or DatasetFormatError naming the keys."""
    if key not in h5:
        keys = []
        h5.visit(keys.append)
        raise DatasetFormatError(f"{path}: no dataset {key!r} in the HDF5 file (it holds {keys})")
    return h5[key]
