"""Known-answer synthetic datasets: identity, fixed rotation, noise."""

import jax
import numpy as np

from disentax import data
from disentax.data.synthetic import rotation_matrix

SIZES = (5, 6, 7, 8)


def _factors(n=3000):
    return data.get("synthetic_identity").sample_factors(jax.random.key(0), n)


def test_identity_is_the_scaled_factors():
    ds = data.get("synthetic_identity", factor_sizes=(3, 1, 11))
    f = ds.sample_factors(jax.random.key(1), 50)
    obs = np.asarray(ds.observations(f))
    assert obs.shape == (50, 1, 1, 3) and ds.observation_shape == (1, 1, 3)
    np.testing.assert_allclose(obs[:, 0, 0], np.asarray(f) / np.array([2.0, 1.0, 10.0]))


def test_rotation_is_a_fixed_orthogonal_mixing():
    ds = data.get("synthetic_rotation", factor_sizes=SIZES, seed=3)
    q = ds.matrix
    np.testing.assert_allclose(q @ q.T, np.eye(4), atol=1e-6)
    np.testing.assert_array_equal(q, rotation_matrix(4, 3))
    assert not np.allclose(np.abs(q), np.eye(4))  # really mixes the factors
    f = _factors(200)
    x = np.asarray(f) / (np.array(SIZES) - 1.0)
    expected = 0.5 + (x - 0.5) @ q.T / 2.0  # NumPy oracle, sqrt(F) = 2
    obs = np.asarray(ds.observations(f))[:, 0, 0]
    np.testing.assert_allclose(obs, expected, atol=1e-6)
    assert obs.min() >= 0.0 and obs.max() <= 1.0
    # Distances are preserved up to the 1/sqrt(F) scale (a rotation).
    d_obs = np.linalg.norm(obs[:100] - obs[100:], axis=1)
    d_x = np.linalg.norm(x[:100] - x[100:], axis=1)
    np.testing.assert_allclose(d_obs, d_x / 2.0, atol=1e-6)


def test_noise_is_independent_of_the_factors():
    ds = data.get("synthetic_noise", factor_sizes=SIZES, num_dims=6)
    f = _factors()
    obs = np.asarray(ds.observations(f, key=jax.random.key(2)))[:, 0, 0]
    assert obs.shape == (3000, 6)
    corr = np.corrcoef(np.concatenate([obs, np.asarray(f)], axis=1).T)[:6, 6:]
    # |corr| of independent samples ~ N(0, 1/n): 1/sqrt(3000) = 0.018 -> 5 sigma.
    assert np.abs(corr).max() < 0.09
    np.testing.assert_allclose(obs.mean(), 0.5, atol=0.01)
    # Without a key the noise is a fixed function of the factors, still uncorrelated.
    fixed = np.asarray(ds.observations(f))[:, 0, 0]
    np.testing.assert_array_equal(fixed, np.asarray(ds.observations(f))[:, 0, 0])
    corr = np.corrcoef(np.concatenate([fixed, np.asarray(f)], axis=1).T)[:6, 6:]
    assert np.abs(corr).max() < 0.09
