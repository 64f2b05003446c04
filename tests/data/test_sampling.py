"""Per-step batches: pure in (data_key, step), topology-independent global arrays."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from disentax import data
from disentax.data import sampling

KEY = jax.random.key(42)


def _sharding(num_devices):
    mesh = Mesh(np.array(jax.devices()[:num_devices]), ("data",))
    return NamedSharding(mesh, PartitionSpec("data"))


def test_factors_are_a_pure_function_of_key_and_step():
    ds = data.get("dsprites")
    a = sampling.sample_factors_for_step(ds, KEY, 3, 16)
    b = sampling.sample_factors_for_step(ds, KEY, 3, 16)
    c = sampling.sample_factors_for_step(ds, KEY, 4, 16)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # The documented definition: sample_factors(fold_in(data_key, step), batch).
    np.testing.assert_array_equal(a, ds.sample_factors(jax.random.fold_in(KEY, 3), 16))
    traced = jax.jit(sampling.sample_factors_for_step, static_argnums=(0, 3))(ds, KEY, 3, 16)
    np.testing.assert_array_equal(traced, a)


def test_global_batch_is_the_same_on_1_and_8_devices(num_devices):
    assert num_devices == 8
    ds = data.get("color_dsprites")  # images with their own randomness: the hard case
    one = sampling.global_batch(ds, KEY, 5, 32, _sharding(1))
    eight = sampling.global_batch(ds, KEY, 5, 32, _sharding(8))
    for x1, x8 in zip(one, eight, strict=True):
        assert x8.sharding.is_equivalent_to(_sharding(8), x8.ndim)
        assert len(x8.addressable_shards) == 8 and x8.addressable_shards[0].data.shape[0] == 4
        np.testing.assert_array_equal(np.asarray(x1), np.asarray(x8))
    images, factors = eight
    assert images.shape == (32, 64, 64, ds.observation_shape[-1])
    np.testing.assert_array_equal(factors, sampling.sample_factors_for_step(ds, KEY, 5, 32))
    # The in-step (jittable) path gives the same batch.
    step_images, _ = jax.jit(sampling.batch_for_step, static_argnums=(0, 3))(ds, KEY, 5, 32)
    np.testing.assert_array_equal(np.asarray(step_images), np.asarray(images))


def test_hosts_realise_only_their_rows():
    # Simulated hosts: each renders its block of rows; the blocks make the whole batch,
    # whatever the number of hosts (here 4 hosts of 8 rows vs 1 host of 32).
    ds = data.get("color_dsprites")
    whole_images, whole_factors = sampling.realise_rows(ds, KEY, 7, 32)
    parts = [sampling.realise_rows(ds, KEY, 7, 32, h * 8, 8) for h in range(4)]
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), whole_images)
    np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), whole_factors)
    assert sampling.local_rows(_sharding(8), 32) == slice(0, 32)


def test_sampling_input_errors():
    ds = data.get("dsprites")
    with pytest.raises(TypeError, match="data_key"):
        sampling.global_batch(ds, jax.random.PRNGKey(0), 0, 8, _sharding(1))
    with pytest.raises(ValueError, match="global_batch_size"):
        sampling.global_batch(ds, KEY, 0, 0, _sharding(1))
    with pytest.raises(TypeError, match="global_batch must be a positive int"):
        sampling.batch_for_step(ds, KEY, 0, jnp.int32(8))
