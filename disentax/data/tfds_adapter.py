"""Optional adapter: datasets already prepared by TensorFlow Datasets (``tfds`` extra).

For users who have ``dsprites``, ``shapes3d`` or ``smallnorb`` prepared by TFDS in the
random-access **array_record** format (``tfds build NAME --file_format=array_record``;
plain ``tfds build`` writes TFRecord, which cannot be read without TensorFlow). Nothing
is downloaded (``download=False``). The serialized examples are read in batches through
``tfds.data_source`` (NumPy, no TensorFlow), their PNG images decoded with Pillow,
put in grid order from their ``label_*`` features and kept uint8 on the device as
:class:`~disentax.data.resident.ArrayData`. The decoded grid is cached on disk
(:mod:`disentax.data.tfds_cache`), so only the first load decodes. smallNORB's 96x96
images are resized to 64x64 by the file reader's own resize
(:mod:`disentax.data.smallnorb`), so both readers give the same images. Install with
``pip install "disentax[tfds]"``; a failure names what failed
(:mod:`disentax.data.tfds_diagnose`).

References:
  TensorFlow Datasets catalogue: dsprites (v2), shapes3d (v2), smallnorb (v2).
  https://www.tensorflow.org/datasets/catalog/overview
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence

import jax.numpy as jnp
import numpy as np

from disentax.data import smallnorb, tfds_cache, tfds_decode, tfds_diagnose
from disentax.data.files import DatasetNotFoundError
from disentax.data.ground_truth import FactorSpace
from disentax.data.resident import ArrayData, grid_order

#: Examples read and decoded per ``__getitems__`` call.
BATCH_SIZE = 1024


@dataclasses.dataclass(frozen=True)
class Spec:
    """How a TFDS builder's features map to disentax factors."""

    labels: tuple[str, ...]  # feature names of the stored factors, slowest first
    names: tuple[str, ...]  # disentax factor names
    split: str = "train"
    latent_indices: tuple[int, ...] | None = None
    binary: bool = False
    image_size: int | None = None  # resized to image_size x image_size (smallNORB's)


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
        latent_indices=smallnorb.LATENT_INDICES,
        image_size=smallnorb.IMAGE_SIZE,
    ),
}


def _grid(name: str, rows: np.ndarray, labels: np.ndarray, origin: str):
    """Rows put in grid order; returns ``(rows, grid)``."""
    spec = SPECS[name]
    classes = np.empty(labels.shape, np.int32)
    for i in range(labels.shape[1]):
        classes[:, i] = np.unique(labels[:, i], return_inverse=True)[1].reshape(-1)
    grid = FactorSpace(tuple(int(s) for s in classes.max(axis=0) + 1), spec.names)
    order = grid_order(classes, grid, origin)
    return (rows if order is None else rows[order]), grid


def _array_data(name: str, rows: np.ndarray, sizes, shape) -> ArrayData:
    spec = SPECS[name]
    return ArrayData(
        name=f"tfds_{name}",
        images=jnp.asarray(rows),
        grid=FactorSpace(tuple(sizes), spec.names),
        observation_shape=tuple(shape),
        latent_indices=spec.latent_indices,
        packed=spec.binary,
    )


def from_examples(
    name: str, examples: Sequence | Iterable[Mapping], *, origin: str = "", batch_size=BATCH_SIZE
) -> ArrayData:
    """Builds a device-resident dataset from TFDS examples (decoded or serialized).

    Args:
      name: a key of :data:`SPECS`.
      examples: a sequence (or iterable) of mappings with an ``image`` ``[H, W, C]``
        uint8 and the spec's labels, or of serialized ``tf.train.Example`` records.
      origin: where the examples come from (quoted in errors).
      batch_size: examples read per ``__getitems__`` call.

    Raises:
      DatasetFormatError: a feature is missing, an example cannot be decoded, or the
        labels do not form a full grid.
    """
    spec = SPECS[name]
    source = examples if isinstance(examples, Sequence) else list(examples)
    rows, labels, shape = tfds_decode.decode_all(
        source, spec, origin, batch_size=batch_size, fix="check them"
    )
    rows, grid = _grid(name, rows, labels, origin)
    return _array_data(name, rows, grid.sizes, shape)


# -- loading -----------------------------------------------------------------------------
def _import_tfds(name: str):
    try:
        import tensorflow_datasets as tfds
    except ImportError as err:
        raise ImportError(
            f"dataset tfds_{name} needs the optional extra 'tfds' (tensorflow-datasets is not "
            f"installed): pip install 'disentax[tfds]'; or read the published file with "
            f"dataset {'dsprites_file' if name == 'dsprites' else name!r}"
        ) from err
    return tfds


def _open(tfds, name: str, version: str | None, split: str, data_dir):
    """The serialized-record data source, the version it reads and the TFDS folder."""
    wanted = version or str(tfds.builder_cls(name).VERSION)
    # Resolved here, not by TFDS (which reads $TFDS_DATA_DIR once, at import), so that
    # the folder read and the folder explained are the same; a URL (gs://...) is TFDS's.
    remote = isinstance(data_dir, str) and "://" in data_dir
    root = data_dir if remote else tfds_diagnose.resolve_tfds_dir(data_dir)
    try:
        source = tfds.data_source(
            f"{name}:{wanted}",
            split=split,
            data_dir=os.fspath(root),
            download=False,
            deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES,
        )
    except Exception as err:  # TFDS raises assorted errors; explain() says which it was
        if remote:
            raise DatasetNotFoundError(
                f"TFDS dataset {name!r} {wanted} could not be opened in {root} "
                f"({type(err).__name__}: {(str(err).splitlines() or [''])[0]}); it must be "
                f"prepared there with {tfds_diagnose.build_command(name, root)}"
            ) from err
        raise tfds_diagnose.explain(name, wanted, root, split, err) from err
    return source, wanted, root


def load(
    name: str,
    *,
    data_dir=None,
    split: str | None = None,
    version: str | None = None,
    cache_dir=None,
    cache: bool = True,
    batch_size: int = BATCH_SIZE,
    num_workers: int | None = None,
) -> ArrayData:
    """A dataset prepared by TFDS in array_record format, read without downloading.

    Args:
      name: ``"dsprites"``, ``"shapes3d"`` or ``"smallnorb"``.
      data_dir: the TFDS data folder (default TFDS's own: ``$TFDS_DATA_DIR`` or
        ``~/tensorflow_datasets``).
      split: TFDS split string (default ``train``; ``train+test`` for smallnorb).
      version: the prepared version to read (default: the installed builder's).
      cache_dir: where the decoded grid is cached (default ``$DISENTAX_CACHE`` or
        ``~/.cache/disentax``; see :mod:`disentax.data.tfds_cache`).
      cache: read and write the decoded grid there.
      batch_size: examples read and decoded per ``__getitems__`` call.
      num_workers: processes that decode (default: 1 for small datasets, else the
        usable CPUs, at most 8; see :mod:`disentax.data.tfds_decode`).

    Raises:
      ImportError: tensorflow-datasets is not installed.
      DatasetNotFoundError: the dataset, that version or that split is not prepared
        (the message says how to prepare it).
      DatasetFormatError: prepared in TFRecord format (the message says how to convert
        it), or an example cannot be decoded, or the labels are not a full grid.
    """
    if name not in SPECS:
        raise ValueError(f"name must be one of {sorted(SPECS)}, got {name!r}")
    for arg, value in (("batch_size", batch_size), ("num_workers", num_workers)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{arg} must be a positive int, got {value!r}")
    tfds = _import_tfds(name)
    spec = SPECS[name]
    split = split or spec.split
    source, version, root = _open(tfds, name, version, split, data_dir)
    info = getattr(source, "dataset_info", None)
    folder = str(getattr(info, "data_dir", "") or root)
    origin = f"TFDS dataset {name!r} {version} [{split}] in {folder}"
    key = tfds_cache.cache_key(name, version, split, folder, {"size": spec.image_size})
    where = tfds_cache.resolve_cache_dir(cache_dir)
    hit = tfds_cache.read(where, key) if cache else None
    if hit is not None:
        return _array_data(name, hit[0], hit[1]["sizes"], hit[1]["observation_shape"])
    fix = f"rebuild them with {tfds_diagnose.build_command(name, root)}"
    workers = tfds_decode.default_workers(len(source)) if num_workers is None else num_workers
    rows, labels, shape = tfds_decode.decode_all(
        source, spec, origin, batch_size=batch_size, fix=fix, num_workers=workers
    )
    rows, grid = _grid(name, rows, labels, origin)
    if cache:
        tfds_cache.write(where, key, rows, {"sizes": grid.sizes, "observation_shape": shape})
    return _array_data(name, rows, grid.sizes, shape)
