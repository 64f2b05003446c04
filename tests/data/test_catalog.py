"""The dataset registry: every entry of ``DATASETS`` follows the protocol; names, errors.

The protocol tests are parametrised over the registry itself (``registry_name``, see
``tests/data/conftest.py``): a dataset added to ``DATASETS`` is tested without a line
here. Entries that read files are built from small fake files in the published layout.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from disentax import cli, data
from disentax.data import sampling

KEY = jax.random.key(7)


def _jittable(dataset) -> bool:
    # A dataset that can only run on the host says so with ``host_only = True``.
    return not getattr(dataset, "host_only", False)


def test_entry_follows_the_protocol(registry_name, registry_entry):
    ds = registry_entry
    assert isinstance(ds, data.GroundTruthData)
    num_factors = len(ds.factor_sizes)
    assert num_factors >= 1 and len(ds.factor_names) == num_factors
    assert len(set(ds.factor_names)) == num_factors
    assert all(isinstance(s, int) and s >= 1 for s in ds.factor_sizes)
    assert len(ds.observation_shape) == 3 and all(d >= 1 for d in ds.observation_shape)

    factors = ds.sample_factors(KEY, 16)
    assert factors.shape == (16, num_factors) and factors.dtype == jnp.int32
    f = np.asarray(factors)
    assert (f >= 0).all() and (f < np.asarray(ds.factor_sizes)).all()
    np.testing.assert_array_equal(np.asarray(ds.sample_factors(KEY, 16)), f)

    images = ds.observations(factors)
    assert images.shape == (16, *ds.observation_shape) and images.dtype == jnp.float32
    assert 0.0 <= float(images.min()) and float(images.max()) <= 1.0
    # Same factors, same images (randomness beyond the factors is a function of them).
    np.testing.assert_array_equal(np.asarray(ds.observations(factors)), np.asarray(images))
    if getattr(ds, "takes_key", False):
        keyed = ds.observations(factors, key=jax.random.key(1))
        assert keyed.shape == images.shape and keyed.dtype == jnp.float32

    if _jittable(ds):
        # The dataset is a pytree: an argument of a jitted function, like a train step's.
        # (Up to float rounding: XLA may fuse the arithmetic differently from eager ops.)
        jitted = jax.jit(lambda d, k: d.observations(d.sample_factors(k, 16)))(ds, KEY)
        np.testing.assert_allclose(np.asarray(jitted), np.asarray(images), atol=1e-6)
    if not jax.tree_util.tree_leaves(ds):
        # Procedural datasets hold no arrays: hashable, equal when built again.
        assert hash(ds) == hash(data.get(registry_name)) and ds == data.get(registry_name)


def test_entry_batch_is_a_pure_function_of_key_and_step(registry_entry):
    ds = registry_entry

    def batch_fn(d, k, s):
        return sampling.batch_for_step(d, k, s, 8)

    if _jittable(ds):
        batch_fn = jax.jit(batch_fn)
    images, factors = batch_fn(ds, KEY, 3)
    again_images, again_factors = batch_fn(ds, KEY, 3)
    np.testing.assert_array_equal(np.asarray(again_factors), np.asarray(factors))
    np.testing.assert_array_equal(np.asarray(again_images), np.asarray(images))
    assert images.shape == (8, *ds.observation_shape)
    _, next_factors = batch_fn(ds, KEY, 4)
    assert not np.array_equal(np.asarray(next_factors), np.asarray(factors))
    if _jittable(ds):
        # The host pipeline's rows (a jitted function too) are the in-step batch's rows.
        host_images, host_factors = sampling.realise_rows(ds, KEY, 3, 8)
        np.testing.assert_array_equal(np.asarray(host_factors), np.asarray(factors))
        np.testing.assert_array_equal(np.asarray(host_images), np.asarray(images))


def test_data_list_and_unknown_names(capsys):
    assert cli.main(["data", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = [line.split()[0] for line in lines]  # a name, then its one-line description
    assert listed == data.names()
    assert all(len(line.split()) > 1 for line in lines)
    for required in (
        "dsprites",
        "color_dsprites",
        "noisy_dsprites",
        "scream_dsprites",
        "dsprites_file",
        "shapes3d",
        "mpi3d_toy",
        "mpi3d_realistic",
        "mpi3d_real",
        "smallnorb",
        "cars3d",
        "synthetic_identity",
    ):
        assert required in listed
    assert cli.main(["data", "show", "dsprite", "--workdir", "/nonexistent"]) == 1
    err = capsys.readouterr().err
    assert "unknown dataset 'dsprite'" in err and "dsprites, dsprites_file" in err
    with pytest.raises(ValueError, match="known datasets: cars3d, celeba, color_dsprites"):
        data.get("nope")
    with pytest.raises(ValueError, match="procedural and reads no files"):
        data.get("dsprites", data_dir="/tmp")
    with pytest.raises(TypeError, match="dataset 'dsprites': bad arguments"):
        data.get("dsprites", colour=True)
