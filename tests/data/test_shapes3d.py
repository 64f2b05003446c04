"""Reader of the published Shapes3D file: a small file in its layout, and its errors."""

import jax.numpy as jnp
import numpy as np
import pytest

from disentax import data
from disentax.data.files import DatasetFormatError


def test_shapes3d_round_trip(fake_files, assert_round_trip):
    sizes = fake_files.shapes3d_sizes
    images, _ = fake_files.shapes3d()
    ds = data.get("shapes3d", data_dir=fake_files.root)
    assert ds.factor_sizes == sizes and ds.observation_shape == (64, 64, 3)
    assert ds.factor_names[0] == "floor_hue" and ds.factor_names[-1] == "orientation"
    assert ds.images.dtype == jnp.uint8
    assert_round_trip(ds, images.astype(np.float32) / 255.0, sizes)
    np.testing.assert_allclose(ds.factor_values[5], [-30.0, -12.857142, 4.285714], rtol=1e-5)

    fake_files.shapes3d("bad.h5", rows=slice(None, -1))
    with pytest.raises(DatasetFormatError, match="bad.h5"):
        data.get("shapes3d", path=fake_files.root / "bad.h5")
    (fake_files.root / "junk.h5").write_bytes(b"not an hdf5 file")
    with pytest.raises(DatasetFormatError, match="not a readable HDF5"):
        data.get("shapes3d", path=fake_files.root / "junk.h5")
