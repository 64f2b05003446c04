"""Small TFDS data folders written without TensorFlow, for tests and benchmarks.

:func:`write_prepared` writes what ``tfds build NAME --file_format=array_record`` leaves
in a data folder (``<data_dir>/<name>/<version>/``: ``dataset_info.json``,
``features.json`` and the ``array_record`` shards), from arrays the caller gives: the
builder's own features (from the installed ``tensorflow_datasets``) serialise each
example, images encoded as PNG with Pillow. ``tfds build`` itself needs TensorFlow;
this writer needs only ``tensorflow-datasets``, so the adapter's tests read a real
array_record folder through ``tfds.data_source`` in CI.
"""

from __future__ import annotations

import io
import os
import pathlib
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["write_prepared"]


def _png(image: np.ndarray) -> io.BytesIO:
    from PIL import Image

    array = image[..., 0] if image.shape[-1] == 1 else image
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=1)
    buffer.seek(0)
    return buffer


def _example(features, images: np.ndarray, labels: Mapping[str, np.ndarray], i: int) -> dict:
    example = {}
    for key, feature in features.items():
        if key in labels:
            example[key] = int(labels[key][i])
        elif type(feature).__name__ == "Image":  # image, and smallNORB's image2
            example[key] = _png(images[i])
        else:  # value_* floats, not read by disentax
            example[key] = np.zeros(feature.shape, feature.np_dtype)
    return example


def _write_split(features, fmt, template, images, labels, rows, num_shards) -> list[int]:
    from tensorflow_datasets.core import file_adapters

    bounds = np.linspace(rows.start, rows.stop, num_shards + 1).astype(int)
    for shard, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        path = template.sharded_filepath(shard_index=shard, num_shards=num_shards)
        records = (
            (i, features.serialize_example(_example(features, images, labels, i)))
            for i in range(start, stop)
        )
        if fmt == file_adapters.FileFormat.ARRAY_RECORD:
            file_adapters.ArrayRecordFileAdapter.write_examples(path, records)
        else:
            pathlib.Path(path).touch()
    return [int(b - a) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def write_prepared(
    name: str,
    data_dir: str | os.PathLike,
    images: np.ndarray,
    labels: Mapping[str, np.ndarray],
    *,
    splits: Sequence[str] = ("train",),
    num_shards: int = 1,
    file_format: str = "array_record",
) -> pathlib.Path:
    """Writes a prepared TFDS dataset folder; returns ``<data_dir>/<name>/<version>``.

    Args:
      name: a TFDS builder name (``dsprites``, ``shapes3d``, ``smallnorb``).
      data_dir: the TFDS data folder to write into.
      images: uint8 ``[N, H, W, C]`` images (the builder's image shape).
      labels: feature name -> ``[N]`` int labels; features not given are written as
        zeros (and smallNORB's ``image2`` as a copy of ``image``).
      splits: split names; the examples are cut into consecutive equal parts, one each.
      num_shards: number of shards per split.
      file_format: ``array_record``; ``tfrecord`` writes the metadata of a TFRecord
        dataset and empty shards (TFRecord writing needs TensorFlow), enough to be
        recognised as one.

    Raises:
      ImportError: tensorflow-datasets is not installed.
    """
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core import file_adapters, naming
    from tensorflow_datasets.core import splits as splits_lib

    builder = tfds.builder(name, data_dir=os.fspath(data_dir))
    info, features = builder.info, builder.info.features
    folder = pathlib.Path(data_dir) / name / str(builder.version)
    folder.mkdir(parents=True, exist_ok=True)
    fmt = file_adapters.FileFormat.from_value(file_format)
    cuts = np.linspace(0, len(images), len(splits) + 1).astype(int)
    infos = []
    for split, start, stop in zip(splits, cuts[:-1], cuts[1:], strict=True):
        template = naming.ShardedFileTemplate(
            data_dir=folder, dataset_name=name, split=split, filetype_suffix=fmt.file_suffix
        )
        rows = slice(int(start), int(stop))
        lengths = _write_split(features, fmt, template, images, labels, rows, num_shards)
        size = sum(p.stat().st_size for p in folder.glob(f"{name}-{split}.*"))
        infos.append(splits_lib.SplitInfo(split, lengths, size, filename_template=template))
    info.set_file_format(fmt, override=True)
    info.set_splits(splits_lib.SplitDict(infos))
    info.write_to_directory(folder)
    return folder
