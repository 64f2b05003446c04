"""Reader of the published smallNORB files: small files in their layout, and errors."""

import struct

import jax
import numpy as np
import pytest

from disentax import data
from disentax.data import smallnorb
from disentax.data.files import DatasetFormatError, DatasetNotFoundError


def test_smallnorb_round_trip_with_instance_nuisance(fake_files):
    written = fake_files.smallnorb()
    ds = data.get("smallnorb", data_dir=fake_files.root)
    assert ds.factor_names == ("category", "elevation", "azimuth", "lighting")
    assert ds.factor_sizes == fake_files.smallnorb_grid and ds.observation_shape == (64, 64, 1)
    np.testing.assert_array_equal(ds.factor_values[2], [0, 2, 4])
    instances = sorted(fake_files.smallnorb_instances.values())
    factors = ds.sample_factors(jax.random.key(1), 16)
    seen = set()
    for k in range(4):
        images = np.asarray(ds.observations(factors, key=jax.random.key(k)))[..., 0]
        for f, img in zip(np.asarray(factors), images, strict=True):
            c, e, a, light = (int(v) for v in f)
            matches = [i for i in instances if np.allclose(img, written[(c, i, e, a, light)])]
            assert len(matches) == 1
            seen.add(matches[0])
    assert seen == set(instances)  # the instance is drawn per image
    fixed = np.asarray(ds.observations(factors))
    np.testing.assert_array_equal(fixed, np.asarray(ds.observations(factors)))


def test_smallnorb_binary_matrix_errors(fake_files, tmp_path):
    path = tmp_path / "m.mat"
    fake_files.write_matrix(path, np.arange(12, dtype=np.int32).reshape(3, 4))
    np.testing.assert_array_equal(smallnorb.read_matrix(path), np.arange(12).reshape(3, 4))
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(DatasetFormatError, match=r"m.mat: header announces \[3, 4\]"):
        smallnorb.read_matrix(path)
    path.write_bytes(struct.pack("<iiiii", 0x1234, 1, 1, 1, 1) + b"\0")
    with pytest.raises(DatasetFormatError, match="magic number 0x1234"):
        smallnorb.read_matrix(path)
    with pytest.raises(DatasetNotFoundError, match="training-dat.mat"):
        data.get("smallnorb", data_dir=tmp_path)
