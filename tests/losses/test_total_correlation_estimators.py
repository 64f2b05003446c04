"""Minibatch TC estimators (MWS, MSS) and the FactorVAE permutation.

Oracles: an explicit NumPy/SciPy loop over the batch (Chen et al. 2018, Eq. S4 / S5);
the analytic TC of a Gaussian, ``(sum_l log S_ll - log det S) / 2``, for an aggregate
posterior built to be exactly ``N(0, S)``: means ``mu ~ N(0, A A^T)`` and posteriors
``N(mu, s2 I)``, so ``q(z) = N(0, A A^T + s2 I)``.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from disentax import losses

A = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.3, -0.5, 0.7]])
S2 = 0.3
COV = A @ A.T + S2 * np.eye(3)
TC_TRUE = 0.5 * (np.sum(np.log(np.diag(COV))) - np.linalg.slogdet(COV)[1])


def _batch(rng, b):
    mean = rng.normal(size=(b, 3)) @ A.T
    logvar = np.full((b, 3), np.log(S2))
    z = mean + math.sqrt(S2) * rng.normal(size=(b, 3))
    return z.astype(np.float32), mean.astype(np.float32), logvar.astype(np.float32)


def _numpy_tc(z, mean, logvar, log_w):
    """log q(z_i) ~ logsumexp_j (log w_ij + log q(z_i|x_j)), same for each marginal."""
    b = z.shape[0]
    out = []
    for i in range(b):
        lq = stats.norm.logpdf(z[i], mean, np.exp(0.5 * logvar)).astype(np.float64)  # [B,L]
        joint = logsumexp(lq.sum(axis=1) + log_w[i])
        marginals = logsumexp(lq + log_w[i][:, None], axis=0)
        out.append(joint - marginals.sum())
    return np.mean(out)


def test_mws_and_mss_equal_the_numpy_oracle():
    rng = np.random.default_rng(0)
    z, mean, logvar = _batch(rng, 16)
    logvar = logvar + rng.normal(scale=0.3, size=logvar.shape).astype(np.float32)
    tc = jax.jit(losses.total_correlation, static_argnames=("estimator", "dataset_size"))
    b, n = 16, 1000
    mws_w = np.full((b, b), -math.log(n * b))
    np.testing.assert_allclose(
        tc(z, mean, logvar, dataset_size=n), _numpy_tc(z, mean, logvar, mws_w), rtol=1e-4
    )
    # Stratified weights: 1/N own, (N-B+1)/(N(B-1)) next, 1/(B-1) others; rows sum to 1.
    w = np.full((b, b), 1 / (b - 1))
    w[np.arange(b), (np.arange(b) + 1) % b] = (n - b + 1) / (n * (b - 1))
    w[np.arange(b), np.arange(b)] = 1 / n
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(losses.mss_log_weights(b, n)), w, rtol=1e-12)
    np.testing.assert_allclose(
        tc(z, mean, logvar, estimator="mss", dataset_size=n),
        _numpy_tc(z, mean, logvar, np.log(w)),
        rtol=1e-4,
    )


def test_mws_constant_is_omitted_without_dataset_size():
    rng = np.random.default_rng(1)
    z, mean, logvar = _batch(rng, 32)

    @jax.jit
    def values_and_grads(mean):
        def tc(m, n):
            return losses.total_correlation(z, m, logvar, dataset_size=n)

        return [jax.value_and_grad(tc)(mean, n) for n in (None, 737280)]

    (plain, grad_plain), (with_n, grad_n) = values_and_grads(mean)
    # None: disentanglement_lib's estimate; with N the constant (L-1) log(N B) is added.
    np.testing.assert_allclose(with_n - plain, 2 * math.log(737280 * 32), rtol=1e-5)
    np.testing.assert_allclose(grad_n, grad_plain, rtol=1e-5, atol=1e-6)


def test_estimators_converge_to_the_analytic_tc_as_the_batch_grows():
    rng = np.random.default_rng(2)
    tc = jax.jit(losses.total_correlation, static_argnames=("estimator", "dataset_size"))
    errors = {}
    for b in (16, 2048):
        mws, mss = [], []
        for _ in range(4):
            z, mean, logvar = _batch(rng, b)
            # MWS without the constant is the plain minibatch estimate minus (L-1) log B.
            mws.append(float(tc(z, mean, logvar)) + 2 * math.log(b) - TC_TRUE)
            mss.append(float(tc(z, mean, logvar, estimator="mss")) - TC_TRUE)
        errors[b] = (np.mean(np.abs(mws)), np.mean(np.abs(mss)))
    assert TC_TRUE > 0.25
    for small, large in zip(errors[16], errors[2048], strict=True):
        assert large < 0.04 and large < small / 3, errors
    # A finite but large dataset gives (almost) the continuous-data MSS weights.
    z, mean, logvar = _batch(rng, 256)
    np.testing.assert_allclose(
        tc(z, mean, logvar, estimator="mss", dataset_size=10**9),
        tc(z, mean, logvar, estimator="mss"),
        rtol=1e-4,
    )


def test_bad_estimator_arguments_raise():
    z = np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError, match="estimator must be one of"):
        losses.total_correlation(z, z, z, estimator="mc")
    with pytest.raises(ValueError, match="dataset_size must be None or a positive"):
        losses.total_correlation(z, z, z, dataset_size=0)
    with pytest.raises(ValueError, match="dataset_size must be >= the batch size"):
        losses.total_correlation(z, z, z, estimator="mss", dataset_size=3)
    with pytest.raises(ValueError, match="z, mean and logvar"):
        losses.total_correlation(z, z[:3], z)


def test_permute_dims_keeps_columns_and_breaks_dependence():
    n = 4096
    base = jax.random.normal(jax.random.key(0), (n,))
    z = jnp.stack([base, base, -base, jnp.arange(n, dtype=jnp.float32)], axis=1)
    permuted = jax.jit(losses.permute_dims)(jax.random.key(1), z)
    # Each column keeps its multiset of values.
    permuted, z = np.asarray(permuted), np.asarray(z)
    np.testing.assert_array_equal(np.sort(permuted, axis=0), np.sort(z, axis=0))
    # Perfectly (anti)correlated columns become uncorrelated: |r| ~ 1/sqrt(n) = 0.016.
    corr = np.corrcoef(permuted, rowvar=False)
    assert np.all(np.abs(corr[np.triu_indices(4, 1)]) < 0.06), corr
    # Columns move by different permutations, and the key decides them.
    order = permuted[:, 3].astype(int)
    assert not np.array_equal(permuted[:, 0], z[order, 0])
    again = jax.jit(losses.permute_dims)(jax.random.key(1), z)
    np.testing.assert_array_equal(again, permuted)
    other = jax.jit(losses.permute_dims)(jax.random.key(2), z)
    assert not np.array_equal(other, permuted)
