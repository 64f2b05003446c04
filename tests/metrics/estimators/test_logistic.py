"""The logistic regression probes vs scikit-learn.

Oracle: ``sklearn.linear_model.LogisticRegression()`` (defaults C=1, lbfgs), fitted once
per label column for the heads, and scikit-learn's objective written in float64 NumPy.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from disentax.metrics.estimators import (
    fit_logistic_regression,
    fit_logistic_regression_heads,
    predict_logistic_heads_proba,
    predict_logistic_proba,
)


@pytest.fixture(scope="module")
def classification():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 6)).astype(np.float32)
    logits = x @ rng.normal(size=(6, 5)) * 1.5
    y = np.argmax(logits + rng.gumbel(size=logits.shape), axis=1).astype(np.int32)
    y[y == 3] = 4  # class 3 absent from training: sklearn has no column for it
    return x, y


def sum_objective(weights, bias, x, y, l2):
    # The scikit-learn objective: summed cross-entropy + l2/2 ||W||^2 (intercept free).
    logits = x.astype(np.float64) @ weights + bias
    logits = logits - logits.max(1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    return -logp[np.arange(len(y)), y].sum() + 0.5 * l2 * np.sum(weights**2)


def test_logistic_regression_matches_sklearn(classification):
    x, y = classification
    params = fit_logistic_regression(x, y, num_classes=6)
    reference = LogisticRegression().fit(x, y)
    proba = np.asarray(predict_logistic_proba(params, x))
    present = np.asarray(params.class_present)
    np.testing.assert_array_equal(np.nonzero(present)[0], reference.classes_)
    np.testing.assert_allclose(proba[:, present], reference.predict_proba(x), atol=2e-3)
    assert np.all(proba[:, ~present] == 0)
    # Converged at least as far as scikit-learn on the same objective.
    ours = sum_objective(
        np.asarray(params.weights)[:, present],
        np.asarray(params.bias)[present],
        x,
        np.searchsorted(reference.classes_, y),
        1.0,
    )
    theirs = sum_objective(
        reference.coef_.T, reference.intercept_, x, np.searchsorted(reference.classes_, y), 1.0
    )
    assert ours <= theirs + 1e-3 * abs(theirs)


def test_logistic_regression_l2_is_inverse_c_and_traced_without_recompiling(classification):
    x, y = classification
    for l2 in (0.1, 1000.0):  # l2 is traced: the program of the test above is reused
        params = fit_logistic_regression(x, y, num_classes=6, l2=jnp.float32(l2))
        reference = LogisticRegression(C=1.0 / l2, max_iter=1000).fit(x, y)
        proba = np.asarray(predict_logistic_proba(params, x))[:, np.asarray(params.class_present)]
        np.testing.assert_allclose(proba, reference.predict_proba(x), atol=3e-3)


def test_logistic_heads_match_separate_sklearn_fits(classification):
    x, y = classification
    noisy = x + np.random.default_rng(3).normal(size=x.shape)  # not separable
    labels = np.stack([y, noisy[:, 0] > 0, np.digitize(noisy[:, 1], [-1, 0, 1])], 1)
    counts = (6, 2, 4)
    params = fit_logistic_regression_heads(x, labels.astype(np.int32), class_counts=counts)
    proba = np.asarray(predict_logistic_heads_proba(params, x))
    present = np.asarray(params.class_present)
    offsets = np.cumsum((0,) + counts)
    for h in range(3):
        columns = np.arange(offsets[h], offsets[h + 1])
        columns = columns[present[columns]]
        reference = LogisticRegression().fit(x, labels[:, h])
        np.testing.assert_allclose(proba[:, columns], reference.predict_proba(x), atol=3e-3)
        np.testing.assert_allclose(proba[:, offsets[h] : offsets[h + 1]].sum(1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: fit_logistic_regression(
                np.zeros((4, 2)), np.array([0, 1, 2, 5]), num_classes=3
            ),
            ValueError,
            "num_classes",
        ),
        (
            lambda: fit_logistic_regression(np.zeros((4, 2)), np.zeros(4), num_classes=3),
            TypeError,
            "integer",
        ),
        (
            lambda: fit_logistic_regression(np.zeros((4, 2)), np.zeros(3, int), num_classes=3),
            ValueError,
            "same number of points",
        ),
        (
            lambda: fit_logistic_regression(
                np.zeros((4, 2)), np.zeros(4, int), num_classes=2, l2=-1.0
            ),
            ValueError,
            "l2",
        ),
    ],
)
def test_logistic_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
