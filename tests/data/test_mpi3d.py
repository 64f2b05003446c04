"""Reader of the published MPI3D files: a small file in their layout, and its errors."""

import jax
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from disentax import data
from disentax.data.files import DatasetFormatError, DatasetNotFoundError


def test_mpi3d_round_trip(fake_files, assert_round_trip):
    sizes = fake_files.mpi3d_sizes
    images = fake_files.mpi3d("real")
    ds = data.get("mpi3d_real", data_dir=fake_files.root, factor_sizes=sizes)
    assert ds.factor_sizes == sizes and ds.factor_names[-1] == "vertical_axis"
    assert_round_trip(ds, images.astype(np.float32) / 255.0, sizes)
    # The published reshape [6, 6, 2, 3, 3, 40, 40, 64, 64, 3] is the same order.
    index = np.ravel_multi_index((1, 0, 0, 1, 0, 2, 3), sizes)
    np.testing.assert_array_equal(
        images.reshape(*sizes, 64, 64, 3)[1, 0, 0, 1, 0, 2, 3], images[index]
    )
    # Replicated over an 8-device mesh, sampled inside a jitted step by sharded factors.
    mesh = Mesh(np.array(jax.devices()), ("data",))
    replicated = ds.to(NamedSharding(mesh, PartitionSpec()))
    assert replicated.images.sharding.is_fully_replicated
    factors = jax.device_put(
        ds.sample_factors(jax.random.key(3), 16), NamedSharding(mesh, PartitionSpec("data"))
    )
    got = jax.jit(lambda d, f: d.observations(f))(replicated, factors)
    index = np.ravel_multi_index(np.asarray(factors).T, sizes)
    np.testing.assert_allclose(np.asarray(got), images[index] / 255.0, atol=1e-7)
    with pytest.raises(DatasetFormatError, match=r"96 images but the factor grid"):
        data.get("mpi3d_real", data_dir=fake_files.root)
    with pytest.raises(DatasetNotFoundError, match="mpi3d_toy.npz"):
        data.get("mpi3d_toy", data_dir=fake_files.root)
