"""Latent correlation against a NumPy/scikit-learn oracle and known answers.

Oracle: codes binned as disentanglement_lib's ``_histogram_discretize`` (20 equal-width
bins), ``sklearn.metrics.mutual_info_score`` per (code, factor), the argmax per factor, and
``np.corrcoef`` of the chosen codes.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
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
    return pairs, top, corr


def test_matches_oracle_on_mixed_codes(random_factors, reference_bins):
    rng = np.random.default_rng(0)
    factors = random_factors(rng, 2000, (4, 5, 6))
    mixing = np.array([[1.0, 0.3, 0.0, 0.2], [0.0, 1.0, 0.5, 0.0], [0.1, 0.0, 0.2, 1.0]])
    codes = (factors @ mixing + 0.3 * rng.normal(size=(2000, 4))).astype(np.float32)
    got = jax.jit(latent_correlation)(codes, factors)
    pairs, top, corr = oracle(codes, factors, reference_bins)
    np.testing.assert_array_equal(got["top_latents"], top)
    np.testing.assert_allclose(got["correlation"], pairs, atol=1e-5)
    np.testing.assert_allclose(got["code_correlation"], corr, atol=1e-5)


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
    corr = np.asarray(latent_correlation(factors.astype(np.float32), factors)["correlation"])
    assert corr[0, 1] > 0.8 and corr[0, 2] < 0.1 and corr[1, 2] < 0.1


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
