"""The decoded image grid of a TFDS dataset, cached on disk so it is decoded once.

A TFDS dataset stores each image PNG-encoded; decoding the 737,280 images of dSprites
takes about a minute (see docs/performance/data.md), so the adapter keeps the decoded
uint8 grid (in grid order, bit-packed for binary images) as ``<key>.npy`` with a
``<key>.json`` beside it in ``cache_dir/tfds``. The key names the dataset, version and
split, and hashes the prepared folder's path, its ``dataset_info.json`` size and
modification time and the adapter's options, so a rebuilt dataset is decoded afresh.
Each file is written to a temporary name and renamed into place (atomic on one file
system); the ``.json`` is written last and records the array's shape, so a reader never
takes a half-written pair.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import warnings

import numpy as np

ENV_VAR = "DISENTAX_CACHE"
FORMAT = 1  # bumped when the cached layout changes
__all__ = ["cache_key", "read", "resolve_cache_dir", "write"]


def resolve_cache_dir(cache_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """The folder of the cached TFDS grids: ``<cache_dir>/tfds``.

    ``cache_dir`` defaults to ``$DISENTAX_CACHE``, else ``$XDG_CACHE_HOME/disentax``
    (``~/.cache/disentax``).

    Examples:
      >>> resolve_cache_dir("/scratch/cache").as_posix()
      '/scratch/cache/tfds'
    """
    if cache_dir is None:
        cache_dir = os.environ.get(ENV_VAR) or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or "~/.cache", "disentax"
        )
    return pathlib.Path(cache_dir).expanduser() / "tfds"


def cache_key(name: str, version: str, split: str, source: str, options: dict) -> str:
    """The file stem of a dataset's cached grid (readable prefix + a 16-hex digest).

    Args:
      name: the TFDS builder name.
      version: the prepared version.
      split: the split string read.
      source: the prepared version's folder (``dataset_info.data_dir``).
      options: whatever else changes the decoded grid (e.g. the resize).
    """
    info = pathlib.Path(source) / "dataset_info.json"
    stat = (info.stat().st_size, info.stat().st_mtime_ns) if info.is_file() else None
    identity = [FORMAT, name, version, split, str(source), stat, sorted(options.items())]
    digest = hashlib.sha256(json.dumps(identity, default=str).encode()).hexdigest()[:16]
    readable = re.sub(r"[^A-Za-z0-9_.+-]", "_", f"{name}-{version}-{split}")
    return f"{readable}-{digest}"


def read(folder: pathlib.Path, key: str) -> tuple[np.ndarray, dict] | None:
    """The cached ``(images, meta)`` for ``key``, or None when absent or inconsistent.

    The images are memory-mapped (read-only); a damaged or half-written pair is ignored
    and will be rewritten.
    """
    array_path, meta_path = folder / f"{key}.npy", folder / f"{key}.json"
    if not (array_path.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text())
        images = np.load(array_path, mmap_mode="r")
    except (OSError, ValueError):
        return None
    if images.dtype != np.uint8 or list(images.shape) != meta.get("shape"):
        return None
    return images, meta


def _replace(path: pathlib.Path, write_fn) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fp:
            write_fn(fp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write(folder: pathlib.Path, key: str, images: np.ndarray, meta: dict) -> pathlib.Path | None:
    """Stores ``images`` (uint8) and ``meta`` under ``key``; returns the ``.npy`` path.

    A folder that cannot be written (read-only, full) gives a warning and None: the
    dataset is still returned, only not cached.
    """
    meta = {**meta, "shape": list(images.shape)}
    array_path = folder / f"{key}.npy"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _replace(array_path, lambda fp: np.save(fp, images, allow_pickle=False))
        _replace(folder / f"{key}.json", lambda fp: fp.write(json.dumps(meta).encode()))
    except OSError as err:
        warnings.warn(
            f"could not cache the decoded grid in {folder} ({err}); the next load decodes "
            f"it again (set cache_dir or ${ENV_VAR} to a writable folder)",
            stacklevel=3,
        )
        return None
    return array_path
