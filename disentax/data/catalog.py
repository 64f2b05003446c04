"""Datasets by name: the one plain dict ``DATASETS`` and ``get``/``names``.

Procedural and synthetic datasets are built on the spot; the readers of published
files take ``data_dir`` (default ``$DISENTAX_DATA`` or ``~/disentax_data``) and read
the file once per process (see :mod:`disentax.data.resident`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from disentax.data import (
    cars3d,
    celeba,
    dsprites,
    dsprites_file,
    images,
    mpi3d,
    shapes3d,
    smallnorb,
    synthetic,
    tfds_adapter,
    variants,
)
from disentax.data.ground_truth import GroundTruthData

#: Dataset name -> constructor; :func:`get` calls it with the dataset's keyword arguments.
DATASETS: dict[str, Callable[..., GroundTruthData]] = {
    "dsprites": dsprites.DSprites,
    "color_dsprites": variants.ColorDSprites,
    "noisy_dsprites": variants.NoisyDSprites,
    "scream_dsprites": variants.ScreamDSprites,
    "dsprites_file": dsprites_file.load,
    "shapes3d": shapes3d.load,
    "mpi3d_toy": functools.partial(mpi3d.load, "toy"),
    "mpi3d_realistic": functools.partial(mpi3d.load, "realistic"),
    "mpi3d_real": functools.partial(mpi3d.load, "real"),
    "smallnorb": smallnorb.load,
    "cars3d": cars3d.load,
    "images": images.load,
    "celeba": celeba.load,
    "synthetic_identity": synthetic.Identity,
    "synthetic_rotation": synthetic.Rotation,
    "synthetic_noise": synthetic.Noise,
    "tfds_dsprites": functools.partial(tfds_adapter.load, "dsprites"),
    "tfds_shapes3d": functools.partial(tfds_adapter.load, "shapes3d"),
    "tfds_smallnorb": functools.partial(tfds_adapter.load, "smallnorb"),
}

# Datasets read from files: the only ones that take ``data_dir``.
FILE_DATASETS = frozenset(
    {
        "dsprites_file",
        "shapes3d",
        "mpi3d_toy",
        "mpi3d_realistic",
        "mpi3d_real",
        "smallnorb",
        "cars3d",
        "images",
        "celeba",
        "tfds_dsprites",
        "tfds_shapes3d",
        "tfds_smallnorb",
    }
)


def names() -> list[str]:
    """The known dataset names, sorted.

    Examples:
      >>> from disentax.data import names
      >>> "dsprites" in names() and "synthetic_identity" in names()
      True
    """
    return sorted(DATASETS)


def get(name: str, **kwargs) -> GroundTruthData:
    """The dataset called ``name``, built with ``kwargs``.

    Args:
      name: one of :func:`names`.
      **kwargs: passed to the dataset's factory; ``data_dir`` is accepted by every
        dataset and ignored (when ``None``) by procedural and synthetic ones.

    Raises:
      ValueError: unknown name (the message lists the known names), or ``data_dir``
        given for a dataset that reads no file.
      TypeError: an argument the dataset does not take.

    Examples:
      >>> from disentax.data import get
      >>> dataset = get("synthetic_identity", factor_sizes=(2, 3))
      >>> dataset.factor_sizes, dataset.observation_shape
      ((2, 3), (1, 1, 2))

      A dataset read from a published file names the file, where it was looked for and
      where to get it; nothing is downloaded:

      >>> get("shapes3d", data_dir="/nonexistent")  # doctest: +ELLIPSIS
      Traceback (most recent call last):
      ...
      disentax.data.files.DatasetNotFoundError: dataset 'shapes3d': file 3dshapes.h5 not found ...
    """
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(names())}")
    if name not in FILE_DATASETS and "data_dir" in kwargs:
        if kwargs.pop("data_dir") is not None:
            raise ValueError(f"dataset {name!r} is procedural and reads no files: drop data_dir")
    try:
        return DATASETS[name](**kwargs)
    except TypeError as err:
        raise TypeError(f"dataset {name!r}: bad arguments {sorted(kwargs)}: {err}") from err
