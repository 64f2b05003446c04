"""Reading a folder or archive of images into a memory-mapped uint8 cache on disk.

:func:`read_images` lists the image files of a folder (recursively) or a zip/tar
archive, fits each to the model's shape (:func:`fit_image`: Pillow ``convert``, a centred
crop, a resize) in a thread pool (Pillow releases the GIL while it decodes and resizes)
and writes the result once as an ``.npy`` file (with a JSON record of the file names and
of the files skipped), read back memory-mapped. The cache file is keyed by the folder's
content (every file's relative path, size and modification time; an archive's name,
size and time), by the shape, the crop and the filter; it is written to temporary names
and renamed into place, so a reader never sees half a cache. The dataset built on it is
:mod:`disentax.data.images`, whose docstring states the bad-file policy.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import hashlib
import io
import json
import os
import pathlib
import tarfile
import uuid
import warnings
import zipfile
from collections.abc import Iterator, Sequence

import numpy as np

from disentax.data.files import DatasetFormatError, DatasetNotFoundError

__all__ = [
    "CONVERTIBLE_MODES",
    "IMAGE_SUFFIXES",
    "CacheEntry",
    "SkippedImagesWarning",
    "cache_folder",
    "crop_box",
    "fit_image",
    "read_images",
]

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
#: Pillow modes of 8 bits per channel, converted to the model's channels.
CONVERTIBLE_MODES = frozenset({"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr"})
RESAMPLING = ("lanczos", "bilinear", "bicubic")
CACHE_ENV = "DISENTAX_CACHE"
_FORMAT = 1  # bump when the cache layout or the decoding changes
_CHUNK = 512  # images decoded per round of the thread pool
_ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz")


class SkippedImagesWarning(UserWarning):
    """Some files of an image folder were skipped (not images, or unreadable).

    Examples:
      >>> from disentax.data import SkippedImagesWarning
      >>> issubclass(SkippedImagesWarning, UserWarning)
      True
    """


def crop_box(size: tuple[int, int], shape: Sequence[int], crop=None) -> tuple[int, int, int, int]:
    """The centred crop ``(left, top, right, bottom)`` of a ``(width, height)`` image.

    Args:
      size: the image's ``(width, height)``.
      shape: the target ``(H, W, ...)``.
      crop: ``None`` (the largest centred box of the target's aspect ratio), an int
        (a centred square of that side) or ``(height, width)``; clipped to the image.

    The offsets are floored: ``left = (width - crop_width) // 2``.

    Examples:
      >>> from disentax.data.image_cache import crop_box
      >>> crop_box((178, 218), (64, 64, 3))  # the largest centred square
      (0, 20, 178, 198)
      >>> crop_box((178, 218), (64, 64, 3), crop=148)  # CelebA's common 148 crop
      (15, 35, 163, 183)
    """
    width, height = size
    target_h, target_w = int(shape[0]), int(shape[1])
    if crop is None:
        if width * target_h >= height * target_w:  # wider than the target: full height
            crop_h, crop_w = height, max(1, height * target_w // target_h)
        else:
            crop_h, crop_w = max(1, width * target_h // target_w), width
    else:
        crop_h, crop_w = (crop, crop) if isinstance(crop, int) else crop
    crop_h, crop_w = min(crop_h, height), min(crop_w, width)
    left, top = (width - crop_w) // 2, (height - crop_h) // 2
    return left, top, left + crop_w, top + crop_h


def fit_image(image, shape: Sequence[int], *, crop=None, resample: str = "lanczos") -> np.ndarray:
    """A Pillow image fitted to ``shape``: converted, centre-cropped, resized; uint8.

    The image is converted to ``RGB`` (3 channels) or ``L`` (1), cropped to
    :func:`crop_box` and resized to ``(H, W)`` with Pillow's filter ``resample``
    (``image.crop(box).resize(...)``).

    Args:
      image: a ``PIL.Image.Image``.
      shape: ``(H, W, C)`` with ``C`` 1 or 3.
      crop: see :func:`crop_box`.
      resample: ``"lanczos"`` (the default of disentax's readers), ``"bilinear"``
        (torchvision's ``Resize``) or ``"bicubic"``.

    Returns:
      ``[H, W, C]`` uint8.

    Examples:
      >>> from PIL import Image
      >>> from disentax.data.image_cache import fit_image
      >>> fit_image(Image.new("L", (178, 218), 200), (64, 64, 3)).shape
      (64, 64, 3)
    """
    from PIL import Image

    height, width, channels = (int(s) for s in shape)
    image = image.convert("RGB" if channels == 3 else "L")
    box = crop_box(image.size, shape, crop)
    filters = {
        "lanczos": Image.Resampling.LANCZOS,
        "bilinear": Image.Resampling.BILINEAR,
        "bicubic": Image.Resampling.BICUBIC,
    }
    # crop, then resize (as torchvision's CenterCrop + Resize): a resize(box=...) would
    # let the filter read pixels outside the box and give other values at its edges
    out = np.asarray(image.crop(box).resize((width, height), filters[resample]), np.uint8)
    return out.reshape(height, width, channels)


# -- sources: a folder or an archive --------------------------------------------------------


def _hidden(relative: str) -> bool:
    parts = pathlib.PurePosixPath(relative).parts
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def _is_archive(path: pathlib.Path) -> bool:
    return path.is_file() and path.name.lower().endswith(_ARCHIVES)


def _folder_files(folder: pathlib.Path, exclude: pathlib.Path) -> list[tuple[str, os.stat_result]]:
    """``(relative POSIX path, stat)`` of every visible file under ``folder``, sorted.

    ``exclude`` (the cache folder, should it lie inside) is not looked at.
    """
    found = []
    exclude = exclude.resolve()
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(
            d for d in dirs if not _hidden(d) and pathlib.Path(root, d).resolve() != exclude
        )
        for name in names:
            path = pathlib.Path(root, name)
            relative = path.relative_to(folder).as_posix()
            if not _hidden(relative):
                found.append((relative, path.stat()))
    return sorted(found, key=lambda item: item[0])


def _archive_names(path: pathlib.Path) -> list[str]:
    """Every visible file member of a zip or tar archive, sorted."""
    try:
        if path.name.lower().endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                names = [i.filename for i in archive.infolist() if not i.is_dir()]
        else:
            with tarfile.open(path) as archive:
                names = [m.name for m in archive.getmembers() if m.isfile()]
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as err:
        raise DatasetFormatError(f"{path}: not a readable zip or tar archive ({err})") from err
    return sorted(n for n in names if not _hidden(n))


def _signature(path: pathlib.Path, cache: pathlib.Path) -> tuple[list, list[str] | None]:
    """What the cache key hashes, and the sorted file names (None: an archive, listed later)."""
    if _is_archive(path):
        stat = path.stat()
        return [path.name, stat.st_size, stat.st_mtime_ns], None
    files = _folder_files(path, cache)
    return [[n, s.st_size, s.st_mtime_ns] for n, s in files], [n for n, _ in files]


def _payloads(path: pathlib.Path, names: list[str]) -> Iterator[tuple[list[int], list]]:
    """Chunks of ``(rows, payloads)``: a file path (decoded in a worker) or the bytes."""
    row_of = {name: row for row, name in enumerate(names)}
    if not _is_archive(path):
        for start in range(0, len(names), _CHUNK):
            rows = list(range(start, min(start + _CHUNK, len(names))))
            yield rows, [path / names[r] for r in rows]
        return
    if path.name.lower().endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            for start in range(0, len(names), _CHUNK):
                rows = list(range(start, min(start + _CHUNK, len(names))))
                yield rows, [archive.read(names[r]) for r in rows]
        return
    with tarfile.open(path) as archive:  # streamed in archive order (fast for .tar.gz)
        rows, blobs = [], []
        for member in archive:
            if member.name in row_of and member.isfile():
                rows.append(row_of[member.name])
                blobs.append(archive.extractfile(member).read())
            if len(rows) == _CHUNK:
                yield rows, blobs
                rows, blobs = [], []
        if rows:
            yield rows, blobs


def _decode(payload, shape, crop, resample) -> tuple[np.ndarray | None, str]:
    """``(image, "")``, or ``(None, reason)`` for a file that is skipped."""
    from PIL import Image, UnidentifiedImageError

    try:
        source = payload if isinstance(payload, pathlib.Path) else io.BytesIO(payload)
        with Image.open(source) as image:
            if image.mode not in CONVERTIBLE_MODES:
                return None, f"unsupported mode {image.mode}"
            image.load()
            return fit_image(image, shape, crop=crop, resample=resample), ""
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        return None, str(err).split("\n")[0][:200] or type(err).__name__
    except Image.DecompressionBombError as err:
        return None, str(err)[:200]


# -- the cache on disk ---------------------------------------------------------------------


def cache_folder(cache_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """The image cache folder: ``cache_dir``, else ``$DISENTAX_CACHE``, else ``~/.cache/disentax``.

    (``$XDG_CACHE_HOME/disentax`` when ``XDG_CACHE_HOME`` is set.)

    Examples:
      >>> from disentax.data.images import cache_folder
      >>> cache_folder("/tmp/cache").as_posix()
      '/tmp/cache'
    """
    if cache_dir is not None:
        return pathlib.Path(cache_dir).expanduser()
    if os.environ.get(CACHE_ENV):
        return pathlib.Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return pathlib.Path(xdg).expanduser() / "disentax"


@dataclasses.dataclass(frozen=True)
class CacheEntry:
    """A cache entry read back: the memory-mapped images and what the build found."""

    key: str
    array: np.ndarray  # uint8 [N, H, W, C], memory-mapped
    names: tuple[str, ...]  # one per image (row), relative to the folder or archive
    skipped: tuple[tuple[str, str], ...]  # (name, reason) of the files skipped


def _read_entry(npy: pathlib.Path, meta: pathlib.Path, key: str, shape) -> CacheEntry | None:
    """The cache entry, or None when it is missing or damaged (it is then rebuilt)."""
    try:
        record = json.loads(meta.read_text(encoding="utf-8"))
        array = np.load(npy, mmap_mode="r")
    except (OSError, ValueError):
        return None
    expected = (len(record.get("names", ())), *shape)
    if array.shape != expected or array.dtype != np.uint8 or record.get("key") != key:
        return None
    skipped = tuple((n, r) for n, r in record.get("skipped", ()))
    return CacheEntry(key, array, tuple(record["names"]), skipped)


def _build(path, names, others, npy, meta, key, shape, crop, resample, workers) -> None:
    """Decodes every image into the cache, atomically (temporary files, then renames)."""
    tag = f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp_all = npy.with_name(npy.name + tag + ".all.npy")
    array = np.lib.format.open_memmap(tmp_all, "w+", np.uint8, (len(names), *shape))
    ok, reasons = np.zeros(len(names), bool), {}
    decode = functools.partial(_decode, shape=shape, crop=crop, resample=resample)
    try:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            for rows, payloads in _payloads(path, names):
                for row, (image, why) in zip(rows, pool.map(decode, payloads), strict=True):
                    if image is None:
                        reasons[names[row]] = why
                    else:
                        array[row], ok[row] = image, True
        kept = [n for n, good in zip(names, ok, strict=True) if good]
        if not kept:
            first = ", ".join(f"{n} ({r})" for n, r in list(reasons.items())[:3])
            raise DatasetFormatError(
                f"{path}: none of its {len(names)} image files can be read, e.g. {first}"
            )
        tmp = npy.with_name(npy.name + tag + ".npy")
        if ok.all():
            array.flush()
            del array
            os.replace(tmp_all, tmp)
        else:
            compact = np.lib.format.open_memmap(tmp, "w+", np.uint8, (len(kept), *shape))
            rows = np.flatnonzero(ok)
            for start in range(0, len(rows), 4096):
                chunk = rows[start : start + 4096]
                compact[start : start + len(chunk)] = array[chunk]
            compact.flush()
            del compact, array
        skipped = list(reasons.items()) + [(n, "not an image suffix") for n in others]
        record = {"key": key, "source": str(path), "names": kept, "skipped": skipped}
        tmp_meta = meta.with_name(meta.name + tag)
        tmp_meta.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp_meta, meta)
        os.replace(tmp, npy)  # the .npy is the commit: a reader needs both files
    finally:
        for pattern in (npy.name + tag + "*", meta.name + tag):
            for leftover in npy.parent.glob(pattern):
                leftover.unlink(missing_ok=True)


def read_images(
    path: str | os.PathLike,
    image_shape: Sequence[int] = (64, 64, 3),
    *,
    crop=None,
    resample: str = "lanczos",
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
) -> CacheEntry:
    """The images of a folder or archive, fitted to ``image_shape``, from the disk cache.

    Builds the cache on first use (or when the folder changed) and warns once per call
    about skipped files (:class:`SkippedImagesWarning`).

    Args:
      path: a folder of image files (searched recursively) or a ``.zip``/``.tar``/
        ``.tar.gz``/``.tgz`` archive of them.
      image_shape: ``(H, W, C)``, ``C`` 1 or 3.
      crop: see :func:`crop_box`.
      resample: see :func:`fit_image`.
      cache_dir: where the cache lives (see :func:`cache_folder`).
      workers: decoding threads (default ``min(32, cpu count)``).

    Returns:
      The cache entry: ``array`` (memory-mapped uint8 ``[N, H, W, C]``), ``names`` (one
      per row, sorted), ``skipped`` (``(name, reason)`` of each file skipped), ``key``.

    Raises:
      DatasetNotFoundError: ``path`` does not exist or holds no image file.
      DatasetFormatError: an unreadable archive, or no image could be read.
      ValueError: a bad ``image_shape``, ``crop`` or ``resample``.
    """
    shape = _check_shape(image_shape)
    crop = _check_crop(crop)
    if resample not in RESAMPLING:
        raise ValueError(f"resample must be one of {RESAMPLING}, got {resample!r}")
    path = pathlib.Path(path).expanduser()
    if not path.exists():
        raise DatasetNotFoundError(f"image folder {path} does not exist")
    folder = cache_folder(cache_dir)
    signature, names = _signature(path, folder)
    digest = json.dumps([_FORMAT, shape, crop, resample, signature]).encode()
    key = hashlib.sha256(digest).hexdigest()[:24]
    # entries of one folder and settings share this prefix: a rebuild removes the stale one
    where = json.dumps([str(path.resolve()), shape, crop, resample]).encode()
    where = hashlib.sha256(where).hexdigest()[:8]
    npy, meta = folder / f"images-{where}-{key}.npy", folder / f"images-{where}-{key}.json"
    entry = _read_entry(npy, meta, key, shape)
    for other in sorted(folder.glob(f"images-*-{key}.npy")) if entry is None else ():
        entry = entry or _read_entry(other, other.with_suffix(".json"), key, shape)  # moved
    if entry is None:
        names = _archive_names(path) if names is None else names
        images = [n for n in names if _is_image(n)]
        if not images:
            raise DatasetNotFoundError(
                f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {path}; "
                f"found {len(names)} other files"
            )
        folder.mkdir(parents=True, exist_ok=True)
        workers = workers or min(32, os.cpu_count() or 1)
        others = [n for n in names if not _is_image(n)]
        _build(path, images, others, npy, meta, key, shape, crop, resample, workers)
        for old in folder.glob(f"images-{where}-*"):  # stale entries of these settings
            if old.stem != npy.stem:
                old.unlink(missing_ok=True)
        entry = _read_entry(npy, meta, key, shape)
    _warn_skipped(path, entry.skipped)
    return entry


def _warn_skipped(path, skipped) -> None:
    if skipped:
        shown = "; ".join(f"{n}: {r}" for n, r in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        warnings.warn(
            f"{path}: skipped {len(skipped)} files that are not readable images ({shown}{more})",
            SkippedImagesWarning,
            stacklevel=3,
        )


def _check_shape(image_shape) -> tuple[int, int, int]:
    shape = tuple(image_shape) if isinstance(image_shape, Sequence) else ()
    if (
        len(shape) != 3
        or not all(isinstance(s, int | np.integer) and s >= 1 for s in shape)
        or shape[2] not in (1, 3)
    ):
        raise ValueError(f"image_shape must be (H, W, C) with C 1 or 3, got {image_shape!r}")
    return tuple(int(s) for s in shape)


def _check_crop(crop):
    if crop is None:
        return None
    sides = (crop, crop) if isinstance(crop, int) and not isinstance(crop, bool) else crop
    if (
        not isinstance(sides, Sequence)
        or len(sides) != 2
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sides)
    ):
        raise ValueError(f"crop must be None, a positive int or (height, width), got {crop!r}")
    return crop if isinstance(crop, int) else (int(sides[0]), int(sides[1]))
