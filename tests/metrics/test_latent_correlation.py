"""Latent correlation against a NumPy/scikit-learn oracle and known answers.

Oracle: codes binned as disentanglement_lib's ``_histogram_discretize`` (20 equal-width
bins), ``sklearn.metrics.mutual_info_score`` per (code, factor), the argmax per factor,
``np.corrcoef`` of the chosen codes, and each factor's entropy by ``scipy.stats.entropy``
of its value counts.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import entropy
from sklearn.metrics import mutual_info_score

from disentax.data import Identity, correlate
from disentax.metrics import latent_correlation


def oracle(codes, factors, reference_bins):
    bins = reference_bins(codes)
    mi = np.array(
        [
            [mutual_info_score(factors[:, f], bins[:, c]) for f in range(factors.shape[1])]
            for c in range(codes.shape[1])
        ]
    )
    top = mi.argmax(axis=0)
    corr = np.abs(np.corrcoef(codes.T))
    pairs = corr[np.ix_(top, top)]
    pairs[top[:, None] == top[None, :]] = 1.0
    factor_entropy = np.array([entropy(np.unique(f, return_counts=True)[1]) for f in factors.T])
    carried = mi[top, :] / factor_entropy[None, :]
    return pairs, top, corr, carried


def test_matches_oracle_on_mixed_codes(random_factors, reference_bins):
    rng = np.random.default_rng(0)
    factors = random_factors(rng, 2000, (4, 5, 6))
    mixing = np.array([[1.0, 0.3, 0.0, 0.2], [0.0, 1.0, 0.5, 0.0], [0.1, 0.0, 0.2, 1.0]])
    codes = (factors @ mixing + 0.3 * rng.normal(size=(2000, 4))).astype(np.float32)
    got = jax.jit(latent_correlation)(codes, factors)
    pairs, top, corr, carried = oracle(codes, factors, reference_bins)
    np.testing.assert_array_equal(got["top_latents"], top)
    np.testing.assert_allclose(got["correlation"], pairs, atol=1e-5)
    np.testing.assert_allclose(got["code_correlation"], corr, atol=1e-5)
    np.testing.assert_allclose(got["carried_information"], carried, atol=1e-4)
    np.testing.assert_allclose(got["shared_information"], (carried + carried.T) / 2, atol=1e-4)


def test_a_balanced_rotation_is_shared_information_not_pearson(random_factors):
    # Codes (x + 0.6 y, 0.6 x - y) + noise of independent x, y of equal spread: their
    # covariance is 0.6 Var x - 0.6 Var y = 0, so Pearson misses the mixing; each code is
    # still the top latent of one factor and holds much of the other.
    rng = np.random.default_rng(3)
    factors = random_factors(rng, 20000, (5, 5))
    x, y = factors[:, 0].astype(np.float32), factors[:, 1].astype(np.float32)
    noise = 0.3 * rng.normal(size=(20000, 2)).astype(np.float32)
    out = latent_correlation(np.stack([x + 0.6 * y, 0.6 * x - y], axis=1) + noise, factors)
    np.testing.assert_array_equal(out["top_latents"], [0, 1])
    assert float(out["correlation"][0, 1]) < 0.03
    assert float(out["shared_information"][0, 1]) > 0.1
    # the same factors, each in its own code: nothing shared
    alone = latent_correlation(np.stack([x, y], axis=1) + noise, factors)
    assert float(alone["shared_information"][0, 1]) < 0.01


def test_independent_codes_near_zero_copied_codes_one(random_factors):
    rng = np.random.default_rng(1)
    factors = random_factors(rng, 5000, (5, 5, 5))
    codes = factors.astype(np.float32)
    off = ~np.eye(3, dtype=bool)
    assert np.max(np.asarray(latent_correlation(codes, factors)["correlation"])[off]) < 0.05
    # a factor pair that the data always shows together, each factor copied into a code
    together = factors.copy()
    together[:, 1] = together[:, 0]
    out = latent_correlation(together.astype(np.float32), together)
    assert float(out["correlation"][0, 1]) == pytest.approx(1.0, abs=1e-6)
    # a constant code correlates with nothing (no NaN)
    constant = np.hstack([codes, np.zeros((5000, 1), np.float32)])
    assert np.all(np.asarray(latent_correlation(constant, factors)["code_correlation"])[3] == 0)


def test_correlated_training_data_shows_up():
    # Codes = the factors of data drawn with the pair correlated (sigma = 0.1): the top
    # latents of the pair correlate strongly; those of the independent factor do not.
    dataset = correlate(Identity((8, 8, 4)), [(0, 1, 1.0, 0.1)])
    factors = np.asarray(dataset.sample_factors(jax.random.key(0), 4000))
    out = latent_correlation(factors.astype(np.float32), factors)
    corr, shared = np.asarray(out["correlation"]), np.asarray(out["shared_information"])
    assert corr[0, 1] > 0.8 and corr[0, 2] < 0.1 and corr[1, 2] < 0.1
    assert shared[0, 1] > 0.4 and shared[0, 2] < 0.02 and shared[1, 2] < 0.02


def test_vmap_over_models_and_no_retrace(random_factors):
    rng = np.random.default_rng(2)
    factors = random_factors(rng, 500, (3, 4))
    codes = rng.normal(size=(2, 500, 3)).astype(np.float32) + factors[None, :, :1]
    fn = jax.jit(jax.vmap(chex.assert_max_traces(latent_correlation, n=1), in_axes=(0, None)))
    batched = fn(codes, factors)
    for s in range(2):
        eager = latent_correlation(codes[s], factors)
        chex.assert_trees_all_close(jax.tree.map(lambda a, s=s: a[s], batched), eager, atol=1e-6)
    fn(codes + 1.0, factors)


def test_bad_input():
    with pytest.raises(ValueError, match="finite"):
        latent_correlation(np.full((10, 2), np.nan, np.float32), np.zeros((10, 2), np.int32))
    with pytest.raises(ValueError, match="num_bins"):
        latent_correlation(np.zeros((10, 2), np.float32), np.zeros((10, 2), np.int32))
    with pytest.raises(ValueError, match="same number|points"):
        latent_correlation(jnp.zeros((30, 2)), np.zeros((20, 2), np.int32))
