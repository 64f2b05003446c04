"""Decoding TFDS examples in batches, optionally in worker processes.

The adapter asks ``tfds.data_source`` for the serialized records (``RAW_BYTES``) and
reads them ``batch_size`` at a time with ``__getitems__``; each record is parsed with
TFDS's own ``tf.train.Example`` protobuf class and its PNG decoded with Pillow, which
costs a fraction of TFDS's generic per-example deserialisation (numbers in
docs/performance/data.md). Large datasets are decoded by a pool of ``spawn``-ed worker
processes (forking a process that runs JAX is unsafe), at most ``2 * num_workers``
batches in flight so that memory stays bounded. Binary images are bit-packed per batch.
"""

from __future__ import annotations

import collections
import io
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from disentax._extras import require
from disentax.data import smallnorb
from disentax.data.files import DatasetFormatError
from disentax.data.resident import pack_bits

#: Datasets with fewer examples are decoded in this process (a pool costs seconds).
PARALLEL_MIN = 20_000
__all__ = ["decode_all", "default_workers"]


def default_workers(num_examples: int) -> int:
    """Worker processes that decode ``num_examples``.

    1 below :data:`PARALLEL_MIN`, else the usable CPUs (at most 8).

    Examples:
      >>> default_workers(100)
      1
    """
    if num_examples < PARALLEL_MIN:
        return 1
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(8, usable or 1))


def _parse_record(record: bytes, labels: Sequence[str]):
    """PNG bytes and labels of one serialized ``tf.train.Example`` (None where absent)."""
    from tensorflow_datasets.proto import tf_example_pb2

    feature = tf_example_pb2.Example.FromString(record).features.feature
    image = feature["image"].bytes_list.value if "image" in feature else None
    values = [feature[k].int64_list.value[0] if k in feature else None for k in labels]
    return (image[0] if image else None), values


def _decode_png(data: bytes) -> np.ndarray:
    image_module = require("PIL.Image", "tfds", "decoding the images of a TFDS dataset")
    with image_module.open(io.BytesIO(data)) as image:
        return np.asarray(image)


def example(item, spec) -> tuple[np.ndarray, list[int]]:
    """``(image [H, W, C] uint8, labels)`` of a serialized or a decoded example.

    Raises:
      KeyError: features are missing (their names are ``args[0]``).
    """
    if isinstance(item, bytes | bytearray | memoryview):
        png, labels = _parse_record(bytes(item), spec.labels)
        image = None if png is None else _decode_png(png)
    else:  # a decoded example (tfds.data_source's default, or a list of dicts)
        image = item.get("image")
        labels = [item.get(k) for k in spec.labels]
    names = ("image", *spec.labels)
    missing = [k for k, v in zip(names, (image, *labels), strict=True) if v is None]
    if missing:
        raise KeyError(missing)
    image = np.asarray(image, np.uint8)
    if spec.image_size and image.shape[:2] != (spec.image_size, spec.image_size):
        # smallNORB: the file reader's own resize, so that both readers agree.
        image = smallnorb._resize(image.reshape(image.shape[:2]))
    if image.ndim == 2:
        image = image[..., None]
    return image, [int(v) for v in labels]


def _decode_one(item, i: int, spec, origin: str, fix: str):
    try:
        return example(item, spec)
    except KeyError as err:
        raise DatasetFormatError(f"{origin}: example {i} lacks features {err.args[0]}") from None
    except Exception as err:  # protobuf or PIL: a damaged record or image
        raise DatasetFormatError(
            f"{origin}: example {i} could not be decoded ({type(err).__name__}: {err}); "
            f"the prepared files may be damaged: {fix}"
        ) from err


def decode_batch(items: Sequence, start: int, spec, origin: str, fix: str):
    """``(block, labels [b, F], shape)`` of examples ``start...``; binary images packed."""
    images, labels = [], []
    for i, item in enumerate(items, start):
        image, label = _decode_one(item, i, spec, origin, fix)
        if images and image.shape != images[0].shape:
            raise DatasetFormatError(
                f"{origin}: example {i} is {image.shape}, not {images[0].shape}"
            )
        images.append(image)
        labels.append(label)
    block = np.stack(images)
    if spec.binary:
        if block.max() > 1:
            raise DatasetFormatError(f"{origin}: binary images expected, found {block.max()}")
        block = pack_bits(block)
    return block, np.asarray(labels, np.int64).reshape(len(items), -1), images[0].shape


def _batches(source: Sequence, size: int, origin: str, fix: str) -> Iterator[tuple[int, list]]:
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
        yield start, list(items)


def _decoded(source, spec, origin, batch_size, fix, num_workers) -> Iterator[tuple]:
    batches = _batches(source, batch_size, origin, fix)
    if num_workers <= 1:
        for start, items in batches:
            yield start, *decode_batch(items, start, spec, origin, fix)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(num_workers, mp_context=context) as pool:
        pending = collections.deque()
        for start, items in batches:
            pending.append((start, pool.submit(decode_batch, items, start, spec, origin, fix)))
            if len(pending) >= 2 * num_workers:
                first, future = pending.popleft()
                yield first, *future.result()
        while pending:
            first, future = pending.popleft()
            yield first, *future.result()


def decode_all(
    source: Sequence, spec, origin: str, *, batch_size: int, fix: str, num_workers: int = 1
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Every example of ``source`` decoded: ``(rows, labels [N, F], image shape)``.

    Args:
      source: a sequence of serialized records or decoded examples.
      spec: the dataset's :class:`~disentax.data.tfds_adapter.Spec`.
      origin: the dataset and folder, quoted first in errors.
      batch_size: examples read (and sent to a worker) at a time.
      fix: what to do about a damaged example, quoted last in errors.
      num_workers: worker processes (1: decode in this process).

    Raises:
      DatasetFormatError: a record cannot be read or decoded, a feature is missing, or
        the images differ in shape.
    """
    rows, labels, shape = None, np.empty((len(source), len(spec.labels)), np.int64), None
    for start, block, block_labels, block_shape in _decoded(
        source, spec, origin, batch_size, fix, num_workers
    ):
        if shape is not None and block_shape != shape:
            raise DatasetFormatError(f"{origin}: example {start} is {block_shape}, not {shape}")
        if rows is None:
            rows = np.empty((len(source), *block.shape[1:]), np.uint8)
        shape = block_shape
        rows[start : start + len(block)] = block
        labels[start : start + len(block)] = block_labels
    if rows is None:
        raise DatasetFormatError(f"{origin}: no examples")
    return rows, labels, shape
