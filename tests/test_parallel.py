"""disentax.parallel: mesh, shardings, batch checks, multi-host start-up decisions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from disentax import parallel as par


def test_mesh_covers_devices_with_data_axis(num_devices):
    mesh = par.make_mesh()
    assert mesh.axis_names == (par.DATA_AXIS,)
    assert mesh.size == num_devices == 8
    assert list(mesh.devices.flat) == jax.devices()
    assert par.make_mesh(2).size == 2


@pytest.mark.parametrize("bad", [0, 9, 2.0])
def test_mesh_rejects_bad_device_count(bad):
    with pytest.raises(ValueError, match="num_devices"):
        par.make_mesh(bad)


def test_batch_sharding_splits_rows_and_replicates_params():
    mesh = par.make_mesh()
    x = jax.device_put(jnp.arange(16.0).reshape(16, 1), par.data_sharding(mesh))
    # each of the 8 devices holds 2 consecutive rows, in device order
    rows = [np.asarray(s.data).ravel().tolist() for s in x.addressable_shards]
    assert rows == [[2.0 * i, 2.0 * i + 1] for i in range(8)]
    p = jax.device_put(jnp.ones(3), par.replicated_sharding(mesh))
    assert all(s.data.shape == (3,) for s in p.addressable_shards)


def test_global_batch_divisibility_error_names_argument():
    par.check_global_batch(64, 8)
    with pytest.raises(ValueError, match=r"config\.batch_size=12 is not divisible .* 8"):
        par.check_global_batch(12, 8, name="config.batch_size")
    with pytest.raises(TypeError, match="batch_size"):
        par.check_global_batch(8.0, 8)
    with pytest.raises(ValueError, match="positive"):
        par.check_global_batch(0, 1)


def test_single_process_owns_all_rows_and_assembles_global_batch():
    mesh = par.make_mesh()
    assert par.process_rows(32, mesh) == slice(0, 32)
    local = {"images": np.arange(32 * 2, dtype=np.float32).reshape(32, 2)}
    out = par.global_batch_from_process_local(local, mesh, 32)
    assert out["images"].sharding == par.data_sharding(mesh)
    np.testing.assert_array_equal(np.asarray(out["images"]), local["images"])


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1"}, None),  # one task: single process
        ({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"}, "SLURM"),
        ({"OMPI_COMM_WORLD_SIZE": "2"}, "Open MPI"),
        ({"TPU_WORKER_HOSTNAMES": "host0"}, None),  # a single TPU host
        ({"TPU_WORKER_HOSTNAMES": "host0,host1"}, "Cloud TPU pod"),
        ({"JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234"}, "JAX_COORDINATOR_ADDRESS"),
    ],
)
def test_environment_detection(environ, expected):
    assert par.environment_wants_distributed(environ) == expected


def test_initialize_distributed_single_process_is_a_no_op(monkeypatch):
    for name in ("JAX_COORDINATOR_ADDRESS", "SLURM_JOB_ID", "OMPI_COMM_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TPU_WORKER_HOSTNAMES", raising=False)
    monkeypatch.delenv("MEGASCALE_COORDINATOR_ADDRESS", raising=False)
    assert par.initialize_distributed() is False
    assert jax.process_count() == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"coordinator": "localhost:1234"}, "all of coordinator"),
        ({"coordinator": "localhost", "num_processes": 2, "process_id": 0}, "host:port"),
        ({"coordinator": "localhost:1", "num_processes": 2, "process_id": 2}, "process_id"),
        ({"coordinator": "localhost:1", "num_processes": 0, "process_id": 0}, "num_processes"),
    ],
)
def test_initialize_distributed_rejects_partial_or_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        par.initialize_distributed(**kwargs)
