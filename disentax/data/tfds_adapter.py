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
import io
import os
from collections.abc import Iterable, Mapping, Sequence

import jax.numpy as jnp
import numpy as np

from disentax.data import smallnorb, tfds_cache, tfds_diagnose
from disentax.data.files import DatasetFormatError
from disentax.data.ground_truth import FactorSpace
from disentax.data.resident import ArrayData, grid_order, pack_bits

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


# -- decoding ----------------------------------------------------------------------------
def _parse_record(record: bytes, spec: Spec) -> tuple[bytes | None, list[int | None]]:
    """PNG bytes and labels of one serialized ``tf.train.Example`` (None where absent)."""
    from tensorflow_datasets.proto import tf_example_pb2

    feature = tf_example_pb2.Example.FromString(record).features.feature
    image = feature["image"].bytes_list.value if "image" in feature else None
    labels = [feature[k].int64_list.value[0] if k in feature else None for k in spec.labels]
    return (image[0] if image else None), labels


def _decode_png(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image)


def _example(item, spec: Spec) -> tuple[np.ndarray, list[int]]:
    """``(image [H, W, C] uint8, labels)`` of a serialized or a decoded example.

    Raises:
      KeyError: a feature is missing (its name is the key).
    """
    if isinstance(item, bytes | bytearray | memoryview):
        png, labels = _parse_record(bytes(item), spec)
        image = None if png is None else _decode_png(png)
    else:  # a decoded example (tfds.data_source's default, or a test's list of dicts)
        image = item.get("image")
        labels = [item.get(k) for k in spec.labels]
    missing = [
        k for k, v in zip(("image", *spec.labels), (image, *labels), strict=True) if v is None
    ]
    if missing:
        raise KeyError(missing)
    image = np.asarray(image, np.uint8)
    if spec.image_size and image.shape[:2] != (spec.image_size, spec.image_size):
        image = smallnorb._resize(image.reshape(image.shape[:2]))
    if image.ndim == 2:
        image = image[..., None]
    return image, [int(v) for v in labels]


def _batches(source: Sequence, size: int, origin: str, fix: str) -> Iterable[tuple[int, Sequence]]:
    """``(start, items)`` in batches, with ``__getitems__`` when the source has it."""
    getitems = getattr(source, "__getitems__", None)
    for start in range(0, len(source), size):
        keys = list(range(start, min(start + size, len(source))))
        try:
            items = getitems(keys) if getitems else [source[i] for i in keys]
        except Exception as err:  # array_record: a damaged or truncated shard
            raise DatasetFormatError(
                f"{origin}: examples {keys[0]}-{keys[-1]} could not be read "
                f"({type(err).__name__}: {err}); the shards may be damaged: {fix}"
            ) from err
        yield start, items


def _decode_one(item, i: int, spec: Spec, origin: str, fix: str) -> tuple[np.ndarray, list[int]]:
    try:
        return _example(item, spec)
    except KeyError as err:
        raise DatasetFormatError(f"{origin}: example {i} lacks features {err.args[0]}") from None
    except Exception as err:  # protobuf or PIL: a damaged record or image
        raise DatasetFormatError(
            f"{origin}: example {i} could not be decoded ({type(err).__name__}: {err}); "
            f"the prepared files may be damaged: {fix}"
        ) from err


def _decode_batch(items, start: int, spec: Spec, origin: str, labels: np.ndarray, shape, fix):
    """Decodes ``items`` (rows ``start...``) into a block, binary images packed."""
    images = []
    for i, item in enumerate(items, start):
        image, labels[i] = _decode_one(item, i, spec, origin, fix)
        if image.shape != (shape or image.shape):
            raise DatasetFormatError(f"{origin}: example {i} is {image.shape}, not {shape}")
        shape = image.shape
        images.append(image)
    block = np.stack(images)
    if spec.binary:
        if block.max() > 1:
            raise DatasetFormatError(f"{origin}: binary images expected, found {block.max()}")
        block = pack_bits(block)
    return block, shape


def _decode_all(source: Sequence, spec: Spec, origin: str, batch_size: int, fix: str):
    """``(rows, labels [N, F], shape)``: every example decoded, binary images packed.

    ``fix`` (what to do about a damaged example) ends the error messages.
    """
    rows, labels, shape = None, np.empty((len(source), len(spec.labels)), np.int64), None
    for start, items in _batches(source, batch_size, origin, fix):
        block, shape = _decode_batch(items, start, spec, origin, labels, shape, fix)
        if rows is None:
            rows = np.empty((len(source), *block.shape[1:]), np.uint8)
        rows[start : start + len(block)] = block
    if rows is None:
        raise DatasetFormatError(f"{origin}: no examples")
    return rows, labels, shape


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
    rows, labels, shape = _decode_all(source, spec, origin, batch_size, "check them")
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
    # the folder read and the folder explained are the same.
    root = tfds_diagnose.resolve_tfds_dir(data_dir)
    try:
        source = tfds.data_source(
            f"{name}:{wanted}",
            split=split,
            data_dir=os.fspath(root),
            download=False,
            deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES,
        )
    except Exception as err:  # TFDS raises assorted errors; explain() says which it was
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

    Raises:
      ImportError: tensorflow-datasets is not installed.
      DatasetNotFoundError: the dataset, that version or that split is not prepared
        (the message says how to prepare it).
      DatasetFormatError: prepared in TFRecord format (the message says how to convert
        it), or an example cannot be decoded, or the labels are not a full grid.
    """
    if name not in SPECS:
        raise ValueError(f"name must be one of {sorted(SPECS)}, got {name!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
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
    rows, labels, shape = _decode_all(source, spec, origin, batch_size, fix)
    rows, grid = _grid(name, rows, labels, origin)
    if cache:
        tfds_cache.write(where, key, rows, {"sizes": grid.sizes, "observation_shape": shape})
    return _array_data(name, rows, grid.sizes, shape)
