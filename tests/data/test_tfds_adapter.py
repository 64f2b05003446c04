"""The optional TensorFlow Datasets adapter."""

import importlib.util

import jax
import numpy as np
import pytest

from disentax.data import tfds_adapter
from disentax.data.files import DatasetFormatError


def test_examples_in_any_order_become_a_grid():
    # TFDS-style examples (feature names of the shapes3d builder), shuffled.
    rng = np.random.default_rng(0)
    sizes = (2, 2, 2, 2, 2, 3)
    classes = np.indices(sizes).reshape(6, -1).T
    images = rng.integers(0, 256, (len(classes), 8, 8, 3), dtype=np.uint8)
    labels = tfds_adapter.SPECS["shapes3d"].labels
    examples = [
        {"image": images[i], **{k: classes[i, j] for j, k in enumerate(labels)}}
        for i in rng.permutation(len(classes))
    ]
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
    from disentax.data.files import DatasetNotFoundError

    with pytest.raises(DatasetNotFoundError, match="not prepared"):
        tfds_adapter.load("dsprites", data_dir=tmp_path)
