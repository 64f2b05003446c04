"""The input checks every metric shares (``disentax.metrics.checks``).

Regression tests of issue #21: float64 input beyond float32's range (item 8).
"""

import numpy as np
import pytest

from disentax import metrics
from disentax.metrics import estimators


@pytest.fixture(scope="module")
def huge():
    """``(codes [300, 3] float64 with one entry of 1e39, factors [300, 2])``."""
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 4, (300, 2)).astype(np.int32)
    codes = np.hstack([factors, rng.normal(size=(300, 1))])
    codes[7, 2] = 1e39  # finite in float64, inf in float32
    return codes, factors


_CALLS = {
    "mig": lambda c, f: metrics.mig(c, f),
    "modularity": lambda c, f: metrics.modularity(c, f),
    "explicitness": lambda c, f: metrics.explicitness(c, f, c, f),
    "sap": lambda c, f: metrics.sap(c, f, c, f),
    "sap_continuous": lambda c, f: metrics.sap(c, f, continuous_factors=True),
    "dci": lambda c, f: metrics.dci(c, f, c, f),
    "dci_lasso": lambda c, f: metrics.dci(c, f, c, f, estimator="lasso"),
    "irs": lambda c, f: metrics.irs(c, f),
    "unsupervised": lambda c, f: metrics.unsupervised_scores(c),
    "histogram_discretize": lambda c, f: metrics.histogram_discretize(c),
    "downstream": lambda c, f: metrics.downstream_task(c, f, c, f, num_train=(10,)),
    "udr": lambda c, f: metrics.udr(np.stack([c, c]), np.ones((2, 3))),
    "gbt": lambda c, f: estimators.gradient_boosted_trees(c, f, c),
    "logistic": lambda c, f: estimators.fit_logistic_regression(c, f[:, 0], num_classes=4),
    "linear": lambda c, f: estimators.fit_linear_regression(c, f[:, 0].astype(float)),
}


@pytest.mark.parametrize("name", sorted(_CALLS))
def test_float64_beyond_float32_range_is_refused(name, huge):
    # The check ran on the float64 values, then the cast to float32 made the entry inf
    # (mig returned 0.562 instead of 0.283).
    codes, factors = huge
    where = r"\(0, 7, 2\)" if name == "udr" else r"\(7, 2\)"  # udr: [models, N, L]
    with pytest.raises(ValueError, match=r"float32's range.*first at index " + where):
        _CALLS[name](codes, factors)


def test_float64_within_float32_range_is_accepted(huge):
    codes, factors = huge
    codes = codes.copy()
    codes[7, 2] = 3e38
    metrics.mig(codes, factors)
    np.testing.assert_allclose(
        float(metrics.mig(codes[:, :2], factors)),
        float(metrics.mig(codes[:, :2].astype(np.float32), factors)),
    )
