"""Reader of the published CelebA "Align&Cropped" images and their 40 attributes.

Published layout (Liu et al. 2015; the CelebA page's Google Drive and Baidu links, and
the mirror TensorFlow Datasets and torchvision download from): the folder
``img_align_celeba/`` of 202,599 JPEGs ``000001.jpg`` ... (178 x 218, faces aligned by
the eyes), or its archive ``img_align_celeba.zip``, and the text file
``list_attr_celeba.txt``: the number of images, the 40 attribute names, then one line
per image, its file name and 40 values ``1`` (present) or ``-1`` (absent).

Where the reader looks (nothing is downloaded): in the data folder (``data_dir``,
``--config.data_dir``, ``$DISENTAX_DATA`` or ``~/disentax_data``) and its ``celeba/``
sub-folder, for ``img_align_celeba/`` or ``img_align_celeba.zip`` (also under ``Img/``,
as on the Google Drive), and for ``list_attr_celeba.txt`` beside it or under ``Anno/``.

Images are fitted to 64 x 64 by the common CelebA recipe: a centred 148 x 148 crop of
the 178 x 218 image, then a bilinear resize (torchvision's ``CenterCrop(148)`` and
``Resize(64)``, here with Pillow), and cached as described in
:mod:`disentax.data.image_cache`. The attributes are labels (0 absent, 1 present) of
:class:`~disentax.data.images.ImageData`, for attribute probes and fairness; there are
no ground-truth factors. Images the attribute file does not list are an error; rows of
images missing from the folder (or skipped as unreadable) are left out.

References:
  Liu, Luo, Wang, Tang. Deep Learning Face Attributes in the Wild. ICCV 2015.
  https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html
"""

from __future__ import annotations

import os
import pathlib

import numpy as np

from disentax.data import files
from disentax.data.files import DatasetFormatError
from disentax.data.image_cache import read_images
from disentax.data.images import ImageData, to_dataset
from disentax.data.resident import cached

__all__ = ["ATTRIBUTES_FILE", "CROP", "IMAGE_FOLDERS", "SOURCE", "load", "read_attributes"]

SOURCE = (
    "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Align&Cropped Images: "
    "Img/img_align_celeba.zip, and Anno/list_attr_celeba.txt)"
)
IMAGE_FOLDERS = (
    "img_align_celeba",
    "img_align_celeba.zip",
    "Img/img_align_celeba",
    "Img/img_align_celeba.zip",
)
ATTRIBUTES_FILE = "list_attr_celeba.txt"
CROP = 148  # the centred square of the common 64x64 recipe
NUM_ATTRIBUTES = 40


def read_attributes(path: str | os.PathLike) -> tuple[tuple[str, ...], dict[str, np.ndarray]]:
    r"""The attribute names and ``{image file name: 0/1 int8 [A]}`` of ``list_attr_celeba.txt``.

    Raises:
      DatasetFormatError: the file does not have the published layout (names the line).

    Examples:
      >>> import pathlib, tempfile
      >>> from disentax.data.celeba import read_attributes
      >>> path = pathlib.Path(tempfile.mkdtemp()) / "list_attr_celeba.txt"
      >>> _ = path.write_text("1\nSmiling Young\n000001.jpg  1 -1\n")
      >>> names, rows = read_attributes(path)
      >>> names, rows["000001.jpg"].tolist()
      (('Smiling', 'Young'), [1, 0])
    """
    path = pathlib.Path(path)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise DatasetFormatError(
            f"{path}: expected the image count on line 1 and the attribute names on line 2 "
            "(the published list_attr_celeba.txt)"
        )
    names = tuple(lines[1].split())
    rows = {}
    for number, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        values = parts[1:]
        if len(values) != len(names) or any(v not in ("1", "-1") for v in values):
            raise DatasetFormatError(
                f"{path}, line {number}: expected a file name and {len(names)} values of 1 "
                f"or -1, got {line[:120]!r}"
            )
        rows[parts[0]] = (np.asarray(values, np.int8) > 0).astype(np.int8)
    if len(rows) != int(lines[0]):
        raise DatasetFormatError(
            f"{path}: line 1 announces {int(lines[0])} images, the file lists {len(rows)} "
            "(truncated?)"
        )
    return names, rows


def _find_attributes(images: pathlib.Path, data_dir) -> pathlib.Path:
    """``list_attr_celeba.txt`` beside the images, or in the data folder (also ``Anno/``)."""
    beside = [images.parent / ATTRIBUTES_FILE, images.parent.parent / "Anno" / ATTRIBUTES_FILE]
    for path in beside:
        if path.is_file():
            return path
    try:
        return files.find_file(
            [ATTRIBUTES_FILE, f"Anno/{ATTRIBUTES_FILE}"],
            dataset="celeba",
            data_dir=data_dir,
            source=SOURCE,
        )
    except files.DatasetNotFoundError as err:
        raise files.DatasetNotFoundError(
            f"dataset 'celeba': the images are at {images} but {ATTRIBUTES_FILE} is neither "
            f"beside them ({' or '.join(str(p) for p in beside)}) nor in the data folder: "
            f"{err}"
        ) from None


def load(
    data_dir: str | os.PathLike | None = None,
    *,
    image_shape=(64, 64, 3),
    crop=CROP,
    resample: str = "bilinear",
    resident: bool | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> ImageData:
    """CelebA (aligned and cropped) with its 40 attributes as labels, fitted to 64x64.

    Args:
      data_dir: the data folder (see the module docstring for where the files are
        looked for; default ``$DISENTAX_DATA`` or ``~/disentax_data``).
      image_shape: ``(H, W, C)`` of the model.
      crop: the centred crop before the resize (default 148, the common recipe).
      resample: Pillow's filter of the resize (default bilinear, as torchvision's).
      resident: images on the device (True), memory-mapped (False), or by size (None).
      cache_dir: the image cache (see :func:`disentax.data.image_cache.cache_folder`).

    Raises:
      DatasetNotFoundError: the image folder or the attribute file is missing (names
        the file, where it was looked for and where to get it).
      DatasetFormatError: the attribute file is malformed, or lists no row for an image.
    """
    folder = files.find_file(IMAGE_FOLDERS, dataset="celeba", data_dir=data_dir, source=SOURCE)
    attributes = _find_attributes(folder, data_dir)
    entry = read_images(folder, image_shape, crop=crop, resample=resample, cache_dir=cache_dir)

    def build() -> ImageData:
        label_names, rows = read_attributes(attributes)
        missing = [n for n in entry.names if pathlib.PurePosixPath(n).name not in rows]
        if missing:
            raise DatasetFormatError(
                f"{attributes}: no attributes for {len(missing)} images of {folder}, e.g. "
                f"{missing[0]}"
            )
        labels = np.stack([rows[pathlib.PurePosixPath(n).name] for n in entry.names])
        return to_dataset(
            entry, name="celeba", resident=resident, labels=labels, label_names=label_names
        )

    return cached(attributes, ("celeba", entry.key, resident), build)
