"""IRS and the unsupervised scores vs NumPy/SciPy float64 oracles.

Oracles: ``reference_irs`` follows disentanglement_lib ``irs.py`` (``_drop_constant_dims``,
``scalable_disentanglement_score`` with ``np.percentile``) except for the documented
active-dimension count; the unsupervised oracles follow ``unsupervised_metrics.py``
(``np.cov``, ``np.linalg.slogdet``, ``scipy.linalg.sqrtm``, ``mutual_info_score``).
"""

import numpy as np
import pytest
import scipy.linalg
from sklearn.metrics import mutual_info_score

from disentax.metrics import (
    gaussian_total_correlation,
    gaussian_wasserstein_correlation,
    gaussian_wasserstein_correlation_norm,
    irs,
)
from disentax.metrics import (
    mutual_info_score as codes_mutual_info_score,
)
from disentax.metrics.unsupervised import unsupervised_scores


def histogram(x, num_bins=20):
    return np.stack([np.digitize(c, np.histogram(c, num_bins)[1][:-1]) for c in x.T], axis=1)


def reference_irs(codes, factors, diff_quantile=0.99, num_bins=20):
    active = codes.var(axis=0) > 0
    z = codes[:, active]
    groups = histogram(factors, num_bins)
    max_dev = np.abs(z - z.mean(0)).max(0)
    deviation = np.zeros((z.shape[1], factors.shape[1]))
    for i in range(factors.shape[1]):
        values = np.unique(groups[:, i])
        for v in values:
            member = groups[:, i] == v
            spread = np.abs(z[member] - z[member].mean(0))
            deviation[:, i] += np.percentile(spread, diff_quantile * 100, axis=0)
        deviation[:, i] /= len(values)
    matrix = 1.0 - deviation / max_dev[:, None]
    return np.average(matrix.max(1), weights=max_dev), matrix, int(active.sum())


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 2000
    sizes = np.array([3, 6, 40, 32])  # more values than bins: merged by the histogram
    factors = np.stack([rng.integers(0, s, n) for s in sizes], axis=1).astype(np.int32)
    codes = np.hstack([factors / sizes, rng.normal(size=(n, 2))])
    codes[:, :4] += 0.1 * rng.normal(size=(n, 4))
    codes[:, 1] += 0.5 * codes[:, 0]
    codes[:, 5] = -3.0  # constant and negative: the reference would count -3 active dims
    return codes.astype(np.float32), factors


def test_irs_matches_reference(data):
    codes, factors = data
    result = irs(codes, factors)
    expected, matrix, num_active = reference_irs(codes, factors)
    np.testing.assert_allclose(float(result["irs"]), expected, atol=1e-5)
    np.testing.assert_allclose(np.asarray(result["irs_matrix"])[:5], matrix, atol=1e-5)
    assert int(result["num_active_dims"]) == num_active == 5
    expected_q, _, _ = reference_irs(codes, factors, diff_quantile=0.75)
    np.testing.assert_allclose(
        float(irs(codes, factors, diff_quantile=0.75)["irs"]), expected_q, atol=1e-5
    )


def test_irs_quantile_paths_agree_on_tied_codes(data):
    # Three exact-quantile paths: up to 128 bins an integer sort of fixed-point keys; more
    # bins with a high quantile a top-k, otherwise (0.8: over N/8 points above it) a
    # two-key sort. Coarse codes tie many deviations; small groups exercise the edges.
    codes, factors = data
    coarse = np.round(codes * 4.0) / 4.0
    for num_bins in (20, 200):
        for q in (0.99, 0.8):
            expected, matrix, _ = reference_irs(coarse, factors, q, num_bins)
            result = irs(coarse, factors, diff_quantile=q, num_bins=num_bins)
            np.testing.assert_allclose(float(result["irs"]), expected, atol=1e-5)
            np.testing.assert_allclose(np.asarray(result["irs_matrix"])[:5], matrix, atol=1e-5)
    small = irs(codes[:40], factors[:40])
    expected, _, _ = reference_irs(codes[:40], factors[:40])
    np.testing.assert_allclose(float(small["irs"]), expected, atol=1e-5)


def test_irs_properties(data):
    codes, factors = data
    identity = np.hstack([factors, np.zeros((factors.shape[0], 2))]).astype(np.float32)
    assert 0.9 <= float(irs(identity, factors)["irs"]) <= 1.0
    rng = np.random.default_rng(1)
    noise = rng.normal(size=codes.shape).astype(np.float32)
    # Gaussian noise: 1 - q99(|z|) / max|z| ~ 1 - 2.6 / 3.7, far below an identity code.
    assert float(irs(noise, factors)["irs"]) < 0.4
    assert float(irs(np.zeros_like(codes), factors)["irs"]) == 0.0


def reference_unsupervised(codes):
    cov = np.cov(codes.T.astype(np.float64))
    active = np.diag(cov) > 1e-12
    sub = cov[np.ix_(active, active)]
    total_correlation = 0.5 * (np.log(np.diag(sub)).sum() - np.linalg.slogdet(sub)[1])
    root = scipy.linalg.sqrtm(sub * np.diag(sub)[:, None]).real
    wasserstein = 2 * np.trace(sub) - 2 * np.trace(root)
    binned = histogram(codes)
    num_codes = codes.shape[1]
    mi = np.array([[mutual_info_score(a, b) for b in binned.T] for a in binned.T])
    np.fill_diagonal(mi, 0)
    return {
        "gaussian_total_correlation": total_correlation,
        "gaussian_wasserstein_correlation": wasserstein,
        "gaussian_wasserstein_correlation_norm": wasserstein / np.trace(cov),
        "mutual_info_score": mi.sum() / (num_codes**2 - num_codes),
    }


def test_unsupervised_scores_match_reference(data):
    codes, _ = data
    expected = reference_unsupervised(codes)
    result = unsupervised_scores(codes)
    for name, value in expected.items():
        np.testing.assert_allclose(float(result[name]), value, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(
        float(gaussian_total_correlation(codes)), expected["gaussian_total_correlation"], rtol=1e-4
    )
    np.testing.assert_allclose(
        float(gaussian_wasserstein_correlation(codes)),
        expected["gaussian_wasserstein_correlation"],
        rtol=1e-4,
    )
    np.testing.assert_allclose(
        float(gaussian_wasserstein_correlation_norm(codes)),
        expected["gaussian_wasserstein_correlation_norm"],
        rtol=1e-4,
    )
    np.testing.assert_allclose(
        float(codes_mutual_info_score(codes)), expected["mutual_info_score"], rtol=1e-4
    )


def test_unsupervised_closed_forms(data):
    codes, _ = data
    rng = np.random.default_rng(3)
    # Bivariate Gaussian with correlation r: TC = -1/2 log(1 - r^2) (Watanabe), and
    # W2^2 to its diagonal = 2 tr C - 2 tr sqrt(C diag C) = 4 - 2 (sqrt(1+r) + sqrt(1-r)).
    r = 0.6
    cov = np.array([[1.0, r], [r, 1.0]])
    z = rng.multivariate_normal(np.zeros(2), cov, size=200_000).astype(np.float32)
    np.testing.assert_allclose(
        float(gaussian_total_correlation(z)), -0.5 * np.log(1 - r * r), atol=5e-3
    )
    np.testing.assert_allclose(
        float(gaussian_wasserstein_correlation(z)),
        4 - 2 * (np.sqrt(1 + r) + np.sqrt(1 - r)),
        atol=5e-3,
    )
    independent = rng.normal(size=codes.shape).astype(np.float32)
    assert float(gaussian_total_correlation(independent)) < 5e-3
    constant = np.zeros_like(codes)
    result = unsupervised_scores(constant)
    assert all(float(v) == 0.0 for v in result.values())
