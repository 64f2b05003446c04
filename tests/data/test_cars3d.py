"""Reader of the published Cars3D files: small files in their layout, and errors."""

import pickle

import jax
import numpy as np
import pytest

from disentax import data
from disentax.data import resident
from disentax.data.files import DatasetFormatError


def test_cars3d_round_trip_in_list_order(fake_files):
    cars = fake_files.cars3d()
    order = fake_files.cars_order
    ds = data.get("cars3d", data_dir=fake_files.root)
    assert ds.factor_names == ("elevation", "azimuth", "object")
    assert ds.factor_sizes == (4, 24, 3) and ds.observation_shape == (64, 64, 3)
    factors = np.asarray(ds.sample_factors(jax.random.key(2), 24))
    images = np.asarray(ds.observations(factors))
    for (e, a, o), img in zip(factors, images, strict=True):
        view = cars[order[o]][:, :, :, a, e]
        np.testing.assert_allclose(img, fake_files.lanczos_64(view), atol=1e-7)
    (fake_files.root / "data" / "cars" / "car_002_mesh.mat").write_bytes(pickle.dumps("bad"))
    resident.clear_cache()
    with pytest.raises(DatasetFormatError, match="car_002_mesh.mat"):
        data.get("cars3d", data_dir=fake_files.root)
