"""MIG (histogram form) and Chen et al.'s sampled MIG.

Oracles: ``reference_mig`` follows disentanglement_lib ``mig._compute_mig`` line by line
(its ``_histogram_discretize``, the ``reference_bins`` fixture, and
``sklearn.metrics.mutual_info_score``); ``reference_mig_sampled`` is
Chen et al.'s estimator (their ``metric_helpers/mi_metric.py`` definition) written in
float64 NumPy on the same random draws. Property tests are disentanglement_lib's
``mig_test.py``: identity codes -> 0.9-1, noise -> ~0, duplicated codes -> ~0.
"""

import jax
import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from disentax.metrics import mig, mig_sampled


def reference_mig(binned, factors):
    """MIG of the histogram-binned codes ``binned [N, L]``."""
    m = np.array([[mutual_info_score(f, b) for f in factors.T] for b in binned.T])
    entropy = np.array([mutual_info_score(f, f) for f in factors.T])
    top = np.sort(m, axis=0)[::-1]
    return np.mean((top[0] - top[1]) / entropy)


def reference_mig_sampled(key, mean, logvar, factors, num_samples):
    # Same draws as the kernel (documented in its docstring), float64 NumPy estimator.
    pick_key, noise_key = jax.random.split(key)
    picks = np.asarray(jax.random.permutation(pick_key, mean.shape[0])[:num_samples])
    noise = np.asarray(jax.random.normal(noise_key, (num_samples, mean.shape[1])), np.float64)
    mean, logvar = mean.astype(np.float64), logvar.astype(np.float64)
    z = mean[picks] + np.exp(0.5 * logvar[picks]) * noise
    log_q = -0.5 * (
        np.log(2 * np.pi) + logvar[None] + (z[:, None] - mean[None]) ** 2 / np.exp(logvar[None])
    )  # [S, N, L]
    q = np.exp(log_q)
    h_z = -np.mean(np.log(q.mean(axis=1)), axis=0)  # [L]
    mi = np.zeros((mean.shape[1], factors.shape[1]))
    for k in range(factors.shape[1]):
        same = factors[picks, k][:, None] == factors[None, :, k]  # [S, N]
        conditional = (q * same[:, :, None]).sum(1) / same.sum(1)[:, None]
        mi[:, k] = h_z + np.mean(np.log(conditional), axis=0)
    mi = np.maximum(mi, 0)
    entropy = np.array([mutual_info_score(f, f) for f in factors.T])
    top = np.sort(mi, axis=0)[::-1]
    return np.mean((top[0] - top[1]) / entropy)


@pytest.fixture(scope="module")
def data(random_factors):
    rng = np.random.default_rng(0)
    n = 2000
    sizes = np.array([3, 6, 10, 8])
    factors = random_factors(rng, n, sizes)
    mixing = np.eye(4, 6) + 0.3 * rng.normal(size=(4, 6))
    codes = (factors / sizes) @ mixing + 0.2 * rng.normal(size=(n, 6))
    return codes.astype(np.float32), factors


def test_mig_matches_reference(data, reference_bins):
    codes, factors = data
    expected = reference_mig(reference_bins(codes), factors)
    np.testing.assert_allclose(float(mig(codes, factors)), expected, atol=1e-5)
    expected = reference_mig(reference_bins(codes, 7), factors)
    np.testing.assert_allclose(float(mig(codes, factors, num_bins=7)), expected, atol=1e-5)


def test_mig_reference_properties(data, identity_codes):
    # Every array has the fixture's shape [2000, 6], so one compiled program serves all.
    _, factors = data
    rng = np.random.default_rng(1)
    identity = identity_codes(factors, 2)
    assert 0.9 <= float(mig(identity, factors)) <= 1.0  # constant codes carry no information
    noise = rng.normal(size=identity.shape).astype(np.float32)
    assert 0.0 <= float(mig(noise, factors)) <= 0.1
    duplicated = np.hstack([identity[:, :3], identity[:, :3]])
    assert 0.0 <= float(mig(duplicated, factors)) <= 0.1


def test_single_valued_factor_is_excluded_and_reported(data, reference_bins):
    codes, factors = data
    with_constant = factors.copy()
    with_constant[:, 2] = 4
    with pytest.warns(UserWarning, match=r"columns \[2\].*excluded"):
        value = float(mig(codes, with_constant))
    expected = reference_mig(reference_bins(codes), factors[:, [0, 1, 3]])
    np.testing.assert_allclose(value, expected, atol=1e-5)
    with pytest.raises(ValueError, match="single value"):
        mig(codes, np.zeros_like(factors))


def test_mig_bad_input(data):
    codes, factors = data
    with pytest.raises(ValueError, match="at least 2 codes"):
        mig(codes[:, :1], factors)
    with pytest.raises(ValueError, match="same number of points"):
        mig(codes[:-1], factors)
    with pytest.raises(ValueError, match="vmap"):
        mig(np.stack([codes, codes]), factors)
    with pytest.raises(TypeError, match="integer"):
        mig(codes, factors.astype(np.float32))


def test_mig_sampled_matches_reference_and_properties(data):
    codes, factors = data
    n = 600
    key = jax.random.key(3)
    logvar = np.log(np.full((n, 6), 0.05, np.float32))
    value = float(mig_sampled(key, codes[:n], logvar, factors[:n], num_samples=200))
    expected = reference_mig_sampled(key, codes[:n], logvar, factors[:n], 200)
    np.testing.assert_allclose(value, expected, atol=2e-4)
    # Precise, factor-aligned posteriors: a high MIG; broad posteriors of codes that
    # ignore x: ~0. (Sharp posteriors on noise codes would not do: with finite N the
    # estimator then gives every code I ~ H(v) -- the posteriors must overlap.)
    rng = np.random.default_rng(4)
    aligned = np.hstack([factors[:n] / factors[:n].max(0), rng.normal(size=(n, 2))])
    aligned = aligned.astype(np.float32)
    logvar = np.log(np.array([1e-4] * 4 + [1.0] * 2, np.float32)) * np.ones((n, 1), np.float32)
    assert float(mig_sampled(key, aligned, logvar, factors[:n], num_samples=200)) > 0.8
    noise = rng.normal(size=(n, 6)).astype(np.float32)
    broad = np.zeros((n, 6), np.float32)
    assert float(mig_sampled(key, noise, broad, factors[:n], num_samples=200)) < 0.1
    with pytest.raises(ValueError, match="num_samples"):
        mig_sampled(key, aligned, logvar, factors[:n], num_samples=n + 1)
