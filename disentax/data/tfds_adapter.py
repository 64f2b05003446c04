"""Optional adapter: datasets already prepared by TensorFlow Datasets (``tfds`` extra).

For users who have ``dsprites``, ``shapes3d`` or ``smallnorb`` prepared in a TFDS data
folder. Nothing is downloaded (``download=False``); the examples are read through
``tfds.data_source`` (random access, NumPy, no TensorFlow at read time), put in grid
order from their ``label_*`` features and kept uint8 on the device as
:class:`~disentax.data.resident.ArrayData`. Install with ``pip install disentax[tfds]``.

References:
  TensorFlow Datasets catalogue: dsprites (v2), shapes3d (v2), smallnorb (v2).
  https://www.tensorflow.org/datasets/catalog/overview
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

import jax.numpy as jnp
import numpy as np

from disentax.data.files import DatasetFormatError, DatasetNotFoundError
from disentax.data.ground_truth import FactorSpace
from disentax.data.resident import ArrayData, grid_order, pack_bits


@dataclasses.dataclass(frozen=True)
class Spec:
    """How a TFDS builder's features map to disentax factors."""

    labels: tuple[str, ...]  # feature names of the stored factors, slowest first
    names: tuple[str, ...]  # disentax factor names
    split: str = "train"
    latent_indices: tuple[int, ...] | None = None
    binary: bool = False


SPECS = {
    "dsprites": Spec(
        ("label_shape", "label_scale", "label_orientation", "label_x_position", "label_y_position"),
        ("shape", "scale", "orientation", "posX", "posY"),
        binary=True,
    ),
    "shapes3d": Spec(
        tuple(
            f"label_{n}"
            for n in ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
        ),
        ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation"),
    ),
    "smallnorb": Spec(
        ("label_category", "instance", "label_elevation", "label_azimuth", "label_lighting"),
        ("category", "instance", "elevation", "azimuth", "lighting"),
        split="train+test",
        latent_indices=(0, 2, 3, 4),
    ),
}


def from_examples(name: str, examples: Iterable[Mapping], *, origin: str = "") -> ArrayData:
    """Builds a device-resident dataset from TFDS-style examples.

    Args:
      name: a key of :data:`SPECS`.
      examples: mappings with an ``image`` ``[H, W, C]`` uint8 and the spec's labels.
      origin: where the examples come from (quoted in errors).

    Raises:
      DatasetFormatError: a feature is missing or the labels do not form a full grid.
    """
    spec = SPECS[name]
    images, labels = [], []
    for i, example in enumerate(examples):
        missing = [k for k in ("image", *spec.labels) if k not in example]
        if missing:
            raise DatasetFormatError(f"{origin}: example {i} lacks features {missing}")
        images.append(np.asarray(example["image"], np.uint8))
        labels.append([int(example[k]) for k in spec.labels])
    if not images:
        raise DatasetFormatError(f"{origin}: no examples")
    labels = np.asarray(labels, np.int64)
    classes = np.empty(labels.shape, np.int32)
    for i in range(labels.shape[1]):
        classes[:, i] = np.unique(labels[:, i], return_inverse=True)[1].reshape(-1)
    grid = FactorSpace(tuple(int(s) for s in classes.max(axis=0) + 1), spec.names)
    order = grid_order(classes, grid, origin)
    data = np.stack(images)
    if order is not None:
        data = data[order]
    shape = tuple(data.shape[1:])
    if spec.binary:
        if data.max() > 1:
            raise DatasetFormatError(f"{origin}: binary images expected, found {data.max()}")
        data = pack_bits(data)
    return ArrayData(
        name=f"tfds_{name}",
        images=jnp.asarray(data),
        grid=grid,
        observation_shape=shape,
        latent_indices=spec.latent_indices,
        packed=spec.binary,
    )


def load(name: str, *, data_dir=None, split: str | None = None) -> ArrayData:
    """A dataset prepared by TFDS, read without downloading.

    Args:
      name: ``"dsprites"``, ``"shapes3d"`` or ``"smallnorb"``.
      data_dir: the TFDS data folder (default TFDS's own: ``$TFDS_DATA_DIR`` or
        ``~/tensorflow_datasets``).
      split: TFDS split string (default ``train``; ``train+test`` for smallnorb).

    Raises:
      ImportError: tensorflow_datasets is not installed.
      DatasetNotFoundError: the dataset is not prepared in the data folder.
    """
    if name not in SPECS:
        raise ValueError(f"name must be one of {sorted(SPECS)}, got {name!r}")
    try:
        import tensorflow_datasets as tfds
    except ImportError as err:
        raise ImportError(
            f"dataset tfds_{name} needs the optional extra 'tfds' (tensorflow-datasets is not "
            f"installed): pip install 'disentax[tfds]'; or read the published file with "
            f"dataset {'dsprites_file' if name == 'dsprites' else name!r}"
        ) from err
    split = split or SPECS[name].split
    try:
        source = tfds.data_source(name, split=split, data_dir=data_dir, download=False)
    except Exception as err:  # TFDS raises assorted errors for unprepared datasets
        raise DatasetNotFoundError(
            f"TFDS dataset {name!r} (split {split!r}) is not prepared in "
            f"{data_dir or '$TFDS_DATA_DIR or ~/tensorflow_datasets'}: {err}. Prepare it "
            f"once with `tfds build {name}`; disentax never downloads."
        ) from err
    origin = f"tfds:{name}[{split}]"
    return from_examples(name, (source[i] for i in range(len(source))), origin=origin)
