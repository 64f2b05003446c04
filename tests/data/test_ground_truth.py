"""FactorSpace: flat index order, uniform sampling, validation; per-row keys."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from disentax import data
from disentax.data.ground_truth import FactorSpace, row_keys

DSPRITES = FactorSpace((3, 6, 40, 32, 32), ("shape", "scale", "orientation", "posX", "posY"))


def test_index_is_row_major_last_factor_fastest():
    # Oracle: NumPy's C-order ravel; the published dSprites bases with colour dropped
    # (README order: posY varies fastest, then posX, ...).
    assert DSPRITES.strides == (245760, 40960, 1024, 32, 1)
    assert DSPRITES.num_points == 737280
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, s, 500) for s in DSPRITES.sizes], axis=1)
    expected = np.ravel_multi_index(factors.T, DSPRITES.sizes)
    np.testing.assert_array_equal(DSPRITES.index(factors), expected)
    np.testing.assert_array_equal(np.asarray(DSPRITES.index(jnp.asarray(factors))), expected)
    back = DSPRITES.factors(jnp.asarray(expected))
    np.testing.assert_array_equal(np.asarray(back), factors)
    assert back.dtype == jnp.int32
    small = FactorSpace((2, 3, 4))
    np.testing.assert_array_equal(small.all_factors(), np.indices((2, 3, 4)).reshape(3, -1).T)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=1, max_size=6), st.integers(0, 2**31 - 1))
def test_index_round_trip_property(sizes, seed):
    # Host (NumPy) path against NumPy's own ravel/unravel, for any grid.
    space = FactorSpace(tuple(sizes))
    index = np.random.default_rng(seed).integers(0, space.num_points, 32)
    factors = space.factors(index)
    np.testing.assert_array_equal(np.stack(np.unravel_index(index, sizes), axis=1), factors)
    np.testing.assert_array_equal(space.index(factors), index)


def test_sampling_is_uniform_and_independent():
    space = FactorSpace((3, 5))
    f = np.asarray(space.sample(jax.random.key(1), 30_000))
    assert f.dtype == np.int32 and f.shape == (30_000, 2)
    joint = np.bincount(space.index(f.astype(np.int64)), minlength=15) / len(f)
    # Each of 15 cells has probability 1/15; binomial std ~ 0.0021 -> 5 sigma bound.
    np.testing.assert_allclose(joint, 1 / 15, atol=0.011)
    again = np.asarray(space.sample(jax.random.key(1), 30_000))
    np.testing.assert_array_equal(f, again)


def test_validation_messages():
    with pytest.raises(ValueError, match=r"factors\[:, 1\] \(factor 'scale'\) must be in \[0, 5\]"):
        DSPRITES.check(np.array([[0, 6, 0, 0, 0]]))
    with pytest.raises(ValueError, match="one column per factor"):
        DSPRITES.check(np.zeros((2, 6), np.int32))
    with pytest.raises(TypeError, match="integer"):
        DSPRITES.check(np.zeros((2, 5), bool))
    with pytest.raises(ValueError, match="positive ints"):
        FactorSpace((3, 0))
    with pytest.raises(ValueError, match="names has 1 entries"):
        FactorSpace((3, 2), ("a",))
    with pytest.raises(TypeError, match="typed PRNG key"):
        DSPRITES.sample(jax.random.PRNGKey(0), 4)
    with pytest.raises(TypeError, match="num must be a positive int"):
        DSPRITES.sample(jax.random.key(0), 4.0)
    with pytest.raises(ValueError, match="num must be a positive int"):
        DSPRITES.sample(jax.random.key(0), 0)


def test_row_keys_modes():
    space = FactorSpace((4, 4))
    f = jnp.asarray([[1, 2], [3, 0], [1, 2]], jnp.int32)
    derived = jax.random.key_data(row_keys(None, f, space))
    # Same factors, same key; different factors, different key.
    np.testing.assert_array_equal(derived[0], derived[2])
    assert not np.array_equal(derived[0], derived[1])
    split = row_keys(jax.random.key(3), f, space)
    assert split.shape == (3,)
    given = jax.random.split(jax.random.key(4), 3)
    np.testing.assert_array_equal(
        jax.random.key_data(row_keys(given, f, space)), jax.random.key_data(given)
    )
    with pytest.raises(ValueError, match=r"shape \(\) or \(3,\)"):
        row_keys(jax.random.split(jax.random.key(0), 2), f, space)
    with pytest.raises(TypeError, match="typed PRNG key"):
        row_keys(jnp.zeros(2, jnp.uint32), f, space)


def test_datasets_of_two_classes_with_equal_fields_never_share_a_compiled_program():
    # JAX compares custom pytree nodes by their node data: without the class in it,
    # colour and noisy dSprites (equal fields) had equal treedefs, and a jit cache could
    # hand one the other's program (seen once in CI: noisy images came out coloured).
    color, noisy = data.ColorDSprites(), data.NoisyDSprites()
    assert jax.tree.structure(color) != jax.tree.structure(noisy)
    factors = jnp.asarray([[0, 5, 0, 3, 3]], jnp.int32)
    observe = jax.jit(lambda ds, f, k: ds.observations(f, key=k))
    key = jax.random.key(2)
    c, n = observe(color, factors, key), observe(noisy, factors, key)
    assert float(jnp.min(c)) == 0.0 and float(jnp.min(n)) > 0.0  # noise: no black pixel
    assert jax.tree.unflatten(jax.tree.structure(noisy), []) == noisy
