"""The unsupervised scores vs NumPy/SciPy float64 oracles and closed forms.

Oracles: ``reference_unsupervised`` follows disentanglement_lib
``unsupervised_metrics.py`` (``np.cov``, ``np.linalg.slogdet``, ``scipy.linalg.sqrtm``,
``mutual_info_score`` of the codes binned by its ``_histogram_discretize``); closed forms
of a bivariate Gaussian.
"""

import numpy as np
import scipy.linalg
from sklearn.metrics import mutual_info_score

from disentax.metrics import (
    gaussian_total_correlation,
    gaussian_wasserstein_correlation,
    gaussian_wasserstein_correlation_norm,
    unsupervised_scores,
)
from disentax.metrics import (
    mutual_info_score as codes_mutual_info_score,
)


def reference_unsupervised(codes, binned):
    """The four scores of ``codes``; ``binned`` are the codes' histogram bins."""
    cov = np.cov(codes.T.astype(np.float64))
    active = np.diag(cov) > 1e-12
    sub = cov[np.ix_(active, active)]
    total_correlation = 0.5 * (np.log(np.diag(sub)).sum() - np.linalg.slogdet(sub)[1])
    root = scipy.linalg.sqrtm(sub * np.diag(sub)[:, None]).real
    wasserstein = 2 * np.trace(sub) - 2 * np.trace(root)
    num_codes = codes.shape[1]
    mi = np.array([[mutual_info_score(a, b) for b in binned.T] for a in binned.T])
    np.fill_diagonal(mi, 0)
    return {
        "gaussian_total_correlation": total_correlation,
        "gaussian_wasserstein_correlation": wasserstein,
        "gaussian_wasserstein_correlation_norm": wasserstein / np.trace(cov),
        "mutual_info_score": mi.sum() / (num_codes**2 - num_codes),
    }


def test_unsupervised_scores_match_reference(mixed_data, reference_bins):
    codes, _ = mixed_data
    expected = reference_unsupervised(codes, reference_bins(codes))
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


def test_unsupervised_closed_forms(mixed_data):
    codes, _ = mixed_data
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
