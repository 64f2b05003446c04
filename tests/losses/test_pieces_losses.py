"""Reconstruction NLLs, Gaussian KL / log density and the DIP-VAE covariances.

Oracles: NumPy/SciPy formulas in float64 (``scipy.stats.norm.logpdf``, ``np.cov``), the
closed-form Gaussian KL (Kingma & Welling 2014, App. B) and its Monte-Carlo estimate.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from scipy.special import expit

from disentax import losses

rng = np.random.default_rng(0)


def test_bernoulli_nll_equals_cross_entropy_and_is_stable():
    images = rng.uniform(size=(3, 4, 5, 2))
    logits = rng.normal(scale=3.0, size=images.shape)
    p = expit(logits)
    expected = -np.sum(images * np.log(p) + (1 - images) * np.log1p(-p), axis=(1, 2, 3))
    got = jax.jit(losses.bernoulli_nll)(images.astype(np.float32), logits.astype(np.float32))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # Huge logits: finite, and exactly |l| for a wrong-sided binary target.
    big = jnp.array([[200.0, -200.0]])
    np.testing.assert_allclose(losses.bernoulli_nll(jnp.array([[0.0, 1.0]]), big), [400.0])


def test_bernoulli_nll_minus_entropy_is_zero_at_the_targets():
    images = rng.uniform(0.05, 0.95, size=(2, 8))
    logits = np.log(images) - np.log1p(-images)  # sigmoid(logits) == images: the minimum
    got = jax.jit(lambda x, lg: losses.bernoulli_nll(x, lg, subtract_entropy=True))(images, logits)
    np.testing.assert_allclose(got, np.zeros(2), atol=1e-4)


def test_gaussian_nll_equals_scipy():
    images = rng.uniform(size=(3, 4, 4, 1))
    means = rng.uniform(size=images.shape)
    expected = -np.sum(stats.norm.logpdf(images, means, 0.3), axis=(1, 2, 3))
    got = jax.jit(lambda x, m: losses.gaussian_nll(x, m, scale=0.3))(images, means)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    with pytest.raises(ValueError, match="scale must be positive"):
        losses.gaussian_nll(images, means, scale=0.0)
    with pytest.raises(ValueError, match="same shape"):
        losses.gaussian_nll(images, means[:2])


def test_reconstruction_kinds():
    images = rng.uniform(size=(2, 3, 3, 1)).astype(np.float32)
    logits = rng.normal(size=images.shape).astype(np.float32)
    sq = np.sum((images - expit(logits)) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(losses.reconstruction_nll(images, logits, "l2"), sq, rtol=1e-5)
    gauss = sq / 2 + 9 * 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(
        losses.reconstruction_nll(images, logits, "gaussian"), gauss, rtol=1e-5
    )
    with pytest.raises(ValueError, match="reconstruction must be one of"):
        losses.reconstruction_nll(images, logits, "poisson")


def test_gaussian_kl_closed_form_and_monte_carlo():
    mean = rng.normal(size=(4, 3))
    logvar = rng.normal(scale=0.5, size=(4, 3))
    var = np.exp(logvar)
    closed = 0.5 * (mean**2 + var - logvar - 1)  # KL(N(m, v) || N(0, 1))
    got = jax.jit(losses.gaussian_kl)(mean, logvar)
    assert got.shape == (4, 3)
    np.testing.assert_allclose(got, closed, rtol=1e-5, atol=1e-6)
    # Monte Carlo: E_q[log q(z) - log p(z)] with 200k draws per entry.
    z = mean + np.sqrt(var) * rng.normal(size=(200_000, 4, 3))
    log_ratio = jax.jit(
        lambda z, m, lv: (
            losses.gaussian_log_density(z, m, lv) - losses.gaussian_log_density(z, 0.0, 0.0)
        )
    )
    diff = np.asarray(log_ratio(z, mean, logvar), np.float64)
    mc, err = diff.mean(axis=0), diff.std(axis=0) / np.sqrt(diff.shape[0])
    assert np.all(np.abs(mc - closed) < 5 * err + 1e-4)


def test_gaussian_log_density_equals_scipy_and_broadcasts():
    z, mean = rng.normal(size=(5, 1, 3)), rng.normal(size=(1, 4, 3))
    logvar = rng.normal(size=(1, 4, 3))
    got = losses.gaussian_log_density(z, mean, logvar)
    assert got.shape == (5, 4, 3)
    expected = stats.norm.logpdf(z, mean, np.exp(0.5 * logvar))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_dip_covariances_and_penalties_equal_numpy():
    mean = rng.normal(size=(50, 4)) @ rng.normal(size=(4, 4))
    logvar = rng.normal(size=(50, 4))
    cov_i = np.cov(mean, rowvar=False, bias=True)  # divided by N, as disentanglement_lib
    cov_ii = cov_i + np.diag(np.exp(logvar).mean(axis=0))
    fn = jax.jit(lambda m, lv: (losses.dip_covariance(m), losses.dip_covariance(m, lv)))
    got_i, got_ii = fn(mean.astype(np.float32), logvar.astype(np.float32))
    np.testing.assert_allclose(got_i, cov_i, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got_ii, cov_ii, rtol=1e-4, atol=1e-4)
    offdiag, diag = losses.dip_penalties(cov_ii)
    expected_off = sum(cov_ii[i, j] ** 2 for i in range(4) for j in range(4) if i != j)
    np.testing.assert_allclose(offdiag, expected_off, rtol=1e-5)
    np.testing.assert_allclose(diag, np.sum((np.diag(cov_ii) - 1) ** 2), rtol=1e-5)
    with pytest.raises(ValueError, match="square"):
        losses.dip_penalties(np.zeros((2, 3)))


def test_shape_errors_name_the_arguments():
    with pytest.raises(ValueError, match="mean and logvar"):
        losses.gaussian_kl(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="images and logits"):
        losses.bernoulli_nll(np.zeros((2, 3)), np.zeros((3, 2)))
