"""The one-feature balanced LinearSVC vs scikit-learn's ``LinearSVC``.

Oracle: ``sklearn.svm.LinearSVC(C=0.01, class_weight="balanced")`` fitted on the single
feature (SAP's classifier, disentanglement_lib ``sap_score.py``), its test accuracy.
"""

import warnings

import jax
import numpy as np
import pytest
from sklearn.svm import LinearSVC

from disentax.metrics.estimators import linear_svc_1d_accuracy


@pytest.mark.parametrize("num_classes", [2, 4])
def test_accuracy_matches_linear_svc(num_classes):
    rng = np.random.default_rng(num_classes)
    y, y_test = rng.integers(0, num_classes, 800), rng.integers(0, num_classes, 400)
    x = (y + 0.6 * rng.normal(size=800)).astype(np.float32)
    x_test = (y_test + 0.6 * rng.normal(size=400)).astype(np.float32)
    order = np.argsort(x)
    accuracy = jax.jit(linear_svc_1d_accuracy, static_argnames=("num_classes", "c", "num_steps"))(
        x[order],
        y[order].astype(np.int32),
        x_test,
        y_test.astype(np.int32),
        num_classes=num_classes,
        c=0.01,
        num_steps=30,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # liblinear convergence chatter
        reference = LinearSVC(C=0.01, class_weight="balanced").fit(x[:, None], y)
    # Optimum to float32 precision vs liblinear's gradient tolerance: at most a test point
    # on a decision threshold may differ.
    np.testing.assert_allclose(float(accuracy), reference.score(x_test[:, None], y_test), atol=3e-3)
