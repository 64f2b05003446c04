"""The optional TensorFlow Datasets adapter."""

import importlib.util

import jax
import numpy as np
import pytest

from disentax import data
from disentax.data import tfds_adapter
from disentax.data.files import DatasetFormatError, DatasetNotFoundError


def test_examples_in_any_order_become_a_grid(fake_files):
    # TFDS-style examples (feature names of the shapes3d builder), shuffled.
    sizes = (2, 2, 2, 2, 2, 3)
    examples, images, _ = fake_files.tfds_examples("shapes3d", sizes)
    ds = tfds_adapter.from_examples("shapes3d", examples, origin="test")
    assert ds.factor_sizes == sizes and ds.name == "tfds_shapes3d"
    f = ds.sample_factors(jax.random.key(0), 20)
    index = np.ravel_multi_index(np.asarray(f).T, sizes)
    np.testing.assert_allclose(np.asarray(ds.observations(f)), images[index] / 255.0, atol=1e-7)
    lacks = r"test: example 0 lacks features \['label_floor_hue'"
    with pytest.raises(DatasetFormatError, match=lacks):
        tfds_adapter.from_examples("shapes3d", [{"image": images[0]}], origin="test")
    with pytest.raises(DatasetFormatError, match="missing or repeated"):
        tfds_adapter.from_examples("shapes3d", examples[:1] + examples[:-1], origin="test")


def test_load_reads_a_prepared_dataset_without_downloading(fake_files):
    # A stand-in tensorflow_datasets module serves the examples (it asserts download=False).
    images = fake_files.tfds("smallnorb")
    ds = data.get("tfds_smallnorb", data_dir=fake_files.root)
    assert ds.factor_names == ("category", "elevation", "azimuth", "lighting")
    assert ds.observation_shape == images.shape[1:] and ds.takes_key


@pytest.mark.skipif(
    importlib.util.find_spec("tensorflow_datasets") is not None,
    reason="tensorflow_datasets is installed: the missing-package error cannot be shown",
)
def test_clear_error_without_tensorflow_datasets():
    with pytest.raises(ImportError, match=r"pip install 'disentax\[tfds\]'"):
        tfds_adapter.load("dsprites")


@pytest.mark.skipif(
    importlib.util.find_spec("tensorflow_datasets") is None,
    reason="tensorflow_datasets is not installed (optional extra disentax[tfds])",
)
def test_unprepared_tfds_dataset_is_reported(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="not prepared"):
        tfds_adapter.load("dsprites", data_dir=tmp_path)
