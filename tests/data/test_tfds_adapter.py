"""The optional TensorFlow Datasets adapter, with tensorflow-datasets installed.

Nothing can be downloaded here and ``tfds build`` needs TensorFlow, so the prepared
folders are written by :func:`disentax.data.tfds_testing.write_prepared` (the builders'
own features, array_record shards, no TensorFlow) and read back through the real
``tfds.data_source``; one test drives the adapter through TFDS's own
``tfds.testing.mock_data(as_data_source_fn=...)``. The oracle of every image is the
array written at the grid point of its factors.
"""

import io
import json
import shutil
import sys

import jax
import numpy as np
import pytest

from disentax import data
from disentax.data import tfds_adapter, tfds_cache
from disentax.data.files import DatasetFormatError, DatasetNotFoundError

tfds = pytest.importorskip("tensorflow_datasets", reason="optional extra disentax[tfds]")
tfds_testing = pytest.importorskip("disentax.data.tfds_testing")

DSPRITES_LABELS = tfds_adapter.SPECS["dsprites"].labels


def _dsprites(rng, sizes=(3, 2, 2, 2, 2)):
    """Binary 64x64 images over ``sizes`` (grid order) and their label columns."""
    classes = np.indices(sizes).reshape(len(sizes), -1).T
    images = (rng.random((len(classes), 64, 64, 1)) < 0.3).astype(np.uint8)
    return images, {k: classes[:, j] for j, k in enumerate(DSPRITES_LABELS)}


def _one_line(err: pytest.ExceptionInfo, *parts: str) -> str:
    message = str(err.value)
    assert "\n" not in message, message
    for part in parts:
        assert part in message, (part, message)
    return message


def test_examples_in_any_order_become_a_grid(fake_files):
    # TFDS-style examples (feature names of the shapes3d builder), shuffled.
    sizes = (2, 2, 2, 2, 2, 3)
    examples, images, _ = fake_files.tfds_examples("shapes3d", sizes)
    ds = tfds_adapter.from_examples("shapes3d", examples, origin="test", batch_size=7)
    assert ds.factor_sizes == sizes and ds.name == "tfds_shapes3d"
    f = ds.sample_factors(jax.random.key(0), 20)
    index = np.ravel_multi_index(np.asarray(f).T, sizes)
    np.testing.assert_allclose(np.asarray(ds.observations(f)), images[index] / 255.0, atol=1e-7)
    lacks = r"test: example 0 lacks features \['label_floor_hue'"
    with pytest.raises(DatasetFormatError, match=lacks):
        tfds_adapter.from_examples("shapes3d", [{"image": images[0]}], origin="test")
    with pytest.raises(DatasetFormatError, match="missing or repeated"):
        tfds_adapter.from_examples("shapes3d", examples[:1] + examples[:-1], origin="test")


def test_load_reads_an_array_record_folder_and_caches_the_grid(
    fake_files, assert_round_trip, monkeypatch
):
    images = fake_files.tfds("shapes3d")  # rows shuffled on disk
    ds = data.get("tfds_shapes3d", data_dir=fake_files.root)
    assert ds.factor_sizes == (2, 2, 2, 2, 2, 3) and ds.observation_shape == (64, 64, 3)
    assert_round_trip(ds, images / 255.0, ds.factor_sizes)
    cached = list((fake_files.root / "cache" / "tfds").glob("shapes3d-2.0.0-train-*.npy"))
    assert len(cached) == 1 and len(list(cached[0].parent.glob("*.json"))) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again although the grid is cached")

    monkeypatch.setattr(tfds_adapter.tfds_decode, "decode_all", no_decoding)
    again = data.get("tfds_shapes3d", data_dir=fake_files.root)
    np.testing.assert_array_equal(np.asarray(again.images), np.asarray(ds.images))
    with pytest.raises(AssertionError, match="decoded again"):
        data.get("tfds_shapes3d", data_dir=fake_files.root, cache=False)


def test_dsprites_bits_are_packed_and_batches_add_up(fake_files, assert_round_trip):
    images = fake_files.tfds("dsprites")
    ds = tfds_adapter.load("dsprites", data_dir=fake_files.root, batch_size=5)
    assert ds.factor_sizes == (3, 2, 2, 2, 2)
    assert ds.packed and ds.images.shape == (48, 64 * 64 // 8)  # 8 pixels a byte
    assert_round_trip(ds, images.astype(np.float64), ds.factor_sizes)


def test_smallnorb_is_resized_to_64x64_like_the_file_reader(fake_files):
    images = fake_files.tfds("smallnorb")  # 96x96, as TFDS stores them
    ds = data.get("tfds_smallnorb", data_dir=fake_files.root)
    assert ds.factor_names == ("category", "elevation", "azimuth", "lighting") and ds.takes_key
    assert ds.observation_shape == (64, 64, 1)
    # The stored grid, nuisance instance included, against the file reader's resize.
    expected = np.stack([fake_files.lanczos_64(img[..., 0]) for img in images])
    np.testing.assert_allclose(np.asarray(ds.images)[..., 0] / 255.0, expected, atol=1e-7)


def test_mock_data_drives_the_adapter(tmp_path):
    # TFDS's own mock of tfds.data_source; the records are serialized with the builder's
    # features, as a prepared folder holds them.
    images, labels = _dsprites(np.random.default_rng(1))
    perm = np.random.default_rng(2).permutation(len(images))
    calls = []

    def as_data_source(builder, split, decoders=None, deserialize_method=None):
        calls.append((builder.name, str(builder.version), split, deserialize_method))
        features = builder.info.features
        # PNG bytes, as TFDS stores them (encoding an array would need TensorFlow).
        return [
            features.serialize_example(
                {"image": tfds_testing._png(images[i]), **{k: int(v[i]) for k, v in labels.items()}}
                | {f"value_{k[6:]}": 0.0 for k in labels}
            )
            for i in perm
        ]

    with tfds.testing.mock_data(as_data_source_fn=as_data_source):
        ds = data.get("tfds_dsprites", data_dir=tmp_path / "unused", cache_dir=tmp_path)
        again = data.get("tfds_dsprites", data_dir=tmp_path / "unused", cache_dir=tmp_path)
    raw = tfds.decode.DeserializeMethod.RAW_BYTES
    assert calls == [("dsprites", "2.0.0", "train", raw)] * 2
    assert ds.factor_sizes == (3, 2, 2, 2, 2) and ds.factor_names[0] == "shape"
    f = np.asarray(ds.sample_factors(jax.random.key(0), 32))
    got = np.asarray(ds.observations(f))
    np.testing.assert_array_equal(got, images[np.ravel_multi_index(f.T, ds.factor_sizes)])
    assert len(list((tmp_path / "tfds").glob("dsprites-2.0.0-train-*.npy"))) == 1
    np.testing.assert_array_equal(np.asarray(again.images), np.asarray(ds.images))


def test_missing_package_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import fails
    with pytest.raises(ImportError) as err:
        tfds_adapter.load("dsprites")
    _one_line(err, "optional extra 'tfds'", "pip install 'disentax[tfds]'", "dsprites_file")


def test_not_prepared_names_the_folder_and_the_array_record_build(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        tfds_adapter.load("dsprites", data_dir=tmp_path)
    build = f"tfds build dsprites --data_dir={tmp_path} --file_format=array_record"
    _one_line(err, "'dsprites' not found", str(tmp_path / "dsprites"), build)
    (tmp_path / "dsprites" / "incomplete.XYZ_2.0.0").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError) as err:
        tfds_adapter.load("dsprites", data_dir=tmp_path)
    _one_line(err, "unfinished build (incomplete.XYZ_2.0.0)", build)


def test_tfrecord_dataset_is_found_and_the_conversion_given(tmp_path):
    images, labels = _dsprites(np.random.default_rng(0), (1, 1, 1, 2, 2))
    folder = tfds_testing.write_prepared(
        "dsprites", tmp_path, images, labels, file_format="tfrecord"
    )
    with pytest.raises(DatasetFormatError) as err:
        tfds_adapter.load("dsprites", data_dir=tmp_path)
    convert = f"tfds convert_format --dataset_version_dir={folder} --out_file_format=array_record"
    _one_line(
        err, f"found in {folder} but in tfrecord format", convert, "--file_format=array_record"
    )


def test_other_version_missing_split_and_damage_are_told_apart(tmp_path):
    images, labels = _dsprites(np.random.default_rng(0), (1, 1, 1, 2, 2))
    folder = tfds_testing.write_prepared("dsprites", tmp_path, images, labels)
    with pytest.raises(DatasetNotFoundError) as err:
        tfds_adapter.load("dsprites", data_dir=tmp_path, split="test")
    _one_line(err, f"in {folder} has no split test (it holds train)")

    older = folder.with_name("1.0.0")  # as an older tensorflow-datasets would have built
    shutil.move(folder, older)
    info = json.loads((older / "dataset_info.json").read_text())
    (older / "dataset_info.json").write_text(json.dumps({**info, "version": "1.0.0"}))
    with pytest.raises(DatasetNotFoundError) as err:
        tfds_adapter.load("dsprites", data_dir=tmp_path)
    _one_line(err, "version 2.0.0 is not prepared", "(found version 1.0.0)", "version='1.0.0'")
    ds = tfds_adapter.load("dsprites", data_dir=tmp_path, version="1.0.0", cache_dir=tmp_path)
    assert ds.factor_sizes == (1, 1, 1, 2, 2)
    shutil.rmtree(tmp_path / "dsprites")
    folder = tfds_testing.write_prepared("dsprites", tmp_path, images, labels)

    shard = next(folder.glob("dsprites-train.array_record-*"))
    shard.write_bytes(b"not an array_record file")
    with pytest.raises(DatasetFormatError) as err:
        tfds_adapter.load("dsprites", data_dir=tmp_path)
    _one_line(err, f"in {folder}: examples 0-3 could not be read", "damaged", "tfds build")


def test_an_undecodable_image_names_the_example(tmp_path, monkeypatch):
    images, labels = _dsprites(np.random.default_rng(0), (1, 1, 1, 2, 2))
    real_png = tfds_testing._png
    written = []

    def damaged_png(image):  # the third image written is not a PNG
        written.append(1)
        return io.BytesIO(b"\x89PNG broken") if len(written) == 3 else real_png(image)

    monkeypatch.setattr(tfds_testing, "_png", damaged_png)
    tfds_testing.write_prepared("dsprites", tmp_path, images, labels)
    with pytest.raises(DatasetFormatError) as err:
        tfds_adapter.load("dsprites", data_dir=tmp_path, cache_dir=tmp_path)
    _one_line(err, "'dsprites' 2.0.0 [train]", "example 2 could not be decoded", "rebuild")


@pytest.mark.slow  # spawned workers import JAX: seconds each on a busy CPU
def test_worker_processes_decode_the_same_grid(fake_files):
    fake_files.tfds("shapes3d")
    here = tfds_adapter.load("shapes3d", data_dir=fake_files.root, cache=False)
    pool = tfds_adapter.load(
        "shapes3d", data_dir=fake_files.root, cache=False, batch_size=20, num_workers=2
    )
    np.testing.assert_array_equal(np.asarray(pool.images), np.asarray(here.images))


def test_a_remote_data_dir_is_passed_to_tfds_and_its_error_quoted(monkeypatch):
    def data_source(name, *, data_dir, **kwargs):
        assert data_dir == "gs://bucket/tfds"  # not turned into a local path
        raise RuntimeError("bucket unreachable\nsecond line")

    monkeypatch.setattr(tfds, "data_source", data_source)
    with pytest.raises(DatasetNotFoundError) as err:
        tfds_adapter.load("dsprites", data_dir="gs://bucket/tfds")
    _one_line(err, "in gs://bucket/tfds (RuntimeError: bucket unreachable)", "--data_dir=gs://")


def test_cache_pairs_are_checked_and_an_unwritable_cache_only_warns(tmp_path):
    grid = np.arange(24, dtype=np.uint8).reshape(6, 4)
    folder = tmp_path / "tfds"
    key = tfds_cache.cache_key("dsprites", "2.0.0", "train[:10%]", str(tmp_path), {"size": None})
    assert key.startswith("dsprites-2.0.0-train__10__-")
    assert tfds_cache.write(folder, key, grid, {"sizes": [6]}) == folder / f"{key}.npy"
    images, meta = tfds_cache.read(folder, key)
    np.testing.assert_array_equal(images, grid)
    assert meta == {"sizes": [6], "shape": [6, 4]}
    assert not list(folder.glob(".*.tmp"))  # written under a temporary name, then renamed
    np.save(folder / f"{key}.npy", grid[:3])  # an array that does not match its .json
    assert tfds_cache.read(folder, key) is None
    (folder / f"{key}.json").unlink()  # a half-written pair
    assert tfds_cache.read(folder, key) is None
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    with pytest.warns(UserWarning, match="could not cache the decoded grid"):
        assert tfds_cache.write(blocked / "tfds", key, grid, {}) is None


def test_bad_arguments():
    with pytest.raises(ValueError, match="name must be one of"):
        tfds_adapter.load("mnist")
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        tfds_adapter.load("dsprites", batch_size=0)
    with pytest.raises(ValueError, match="num_workers must be a positive int"):
        tfds_adapter.load("dsprites", num_workers=0)
