"""The linear probes vs NumPy and scikit-learn.

Oracles: ``numpy.linalg.lstsq`` (least squares with an intercept column), the ridge
normal equations on centred data, ``sklearn.linear_model.Lasso`` at a tight tolerance.
"""

import numpy as np
import pytest
from sklearn.linear_model import Lasso

from disentax.metrics.estimators import fit_lasso, fit_linear_regression, predict_linear


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_linear_and_lasso_probes():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 5)).astype(np.float32)
    y = (x @ rng.normal(size=(5, 3)) + 0.3 + 0.1 * rng.normal(size=(500, 3))).astype(np.float32)
    ols = fit_linear_regression(x, y)
    design = np.hstack([x, np.ones((500, 1))])
    solution = np.linalg.lstsq(design, y, rcond=None)[0]
    np.testing.assert_allclose(np.asarray(ols.weights), solution[:5], atol=1e-4)
    np.testing.assert_allclose(np.asarray(ols.bias), solution[5], atol=1e-4)
    ridge = fit_linear_regression(x, y[:, 0], l2=50.0)
    xc, yc = x - x.mean(0), y[:, :1] - y[:, :1].mean(0)
    expected = np.linalg.solve(xc.T @ xc + 50.0 * np.eye(5), xc.T @ yc)
    np.testing.assert_allclose(np.asarray(ridge.weights), expected, atol=1e-4)
    np.testing.assert_allclose(np.asarray(predict_linear(ridge, x)).shape, (500, 1))
    for alpha in (0.05, 0.5):
        lasso = fit_lasso(x, y, alpha=alpha)
        reference = Lasso(alpha=alpha, tol=1e-8, max_iter=10000).fit(x, y)
        np.testing.assert_allclose(np.asarray(lasso.weights), reference.coef_.T, atol=1e-4)
        np.testing.assert_allclose(np.asarray(lasso.bias), reference.intercept_, atol=1e-4)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: fit_lasso(np.zeros((4, 2)), np.zeros(4), alpha=0.1, num_sweeps=0),
            ValueError,
            "num_sweeps",
        ),
        (lambda: fit_linear_regression(np.full((4, 2), np.inf), np.zeros(4)), ValueError, "finite"),
    ],
)
def test_linear_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
