"""downstream_task against scikit-learn and the reference's keys.

Provenance: disentanglement_lib ``evaluation/metrics/downstream_task.py`` fits one
predictor per factor for each training size and reports ``{n}:mean_train_accuracy``,
``{n}:mean_test_accuracy``, ``{n}:min_*`` and ``{n}:*_accuracy_factor_{j}``. The logistic
probe is checked against scikit-learn's ``LogisticRegression(C=1)`` (lbfgs, multinomial);
the GBT predictor at the largest size is DCI's predictor, so its mean test accuracy must
equal DCI's ``informativeness_test`` on the same arrays (a property the reference notes).
"""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from disentax.metrics import dci, downstream_task


def _data(seed, n):
    rng = np.random.default_rng(seed)
    factors = np.stack([rng.integers(0, k, n) for k in (3, 4)], axis=1).astype(np.int32)
    codes = rng.normal(size=(n, 3)).astype(np.float32)
    codes[:, 0] += 1.5 * factors[:, 0]
    codes[:, 1] += 0.8 * factors[:, 1]
    return codes, factors


@pytest.mark.slow
def test_logistic_matches_sklearn_and_reference_keys():
    c_train, f_train = _data(0, 400)
    c_test, f_test = _data(1, 300)
    out = downstream_task(c_train, f_train, c_test, f_test, num_train=(50, 400))
    expected_keys = set()
    for n in (50, 400):
        expected_keys |= {
            f"{n}:{s}"
            for s in (
                "mean_train_accuracy",
                "mean_test_accuracy",
                "min_train_accuracy",
                "min_test_accuracy",
            )
        }
        expected_keys |= {
            f"{n}:{s}_accuracy_factor_{j}" for s in ("train", "test") for j in range(2)
        }
    assert set(out) == expected_keys
    for n in (50, 400):
        test_acc = []
        for j in range(2):
            model = LogisticRegression(C=1.0, max_iter=1000, tol=1e-8)
            model.fit(c_train[:n], f_train[:n, j])
            acc = np.mean(model.predict(c_test) == f_test[:, j])
            test_acc.append(acc)
            # Near-identical optima: at most a couple of borderline points may flip.
            assert abs(float(out[f"{n}:test_accuracy_factor_{j}"]) - acc) <= 0.01
        np.testing.assert_allclose(
            float(out[f"{n}:mean_test_accuracy"]), np.mean(test_acc), atol=0.01
        )
        np.testing.assert_allclose(
            float(out[f"{n}:min_test_accuracy"]), np.min(test_acc), atol=0.01
        )


def test_gbt_predictor_equals_dci_informativeness():
    c_train, f_train = _data(2, 300)
    c_test, f_test = _data(3, 200)
    out = downstream_task(c_train, f_train, c_test, f_test, num_train=(300,), predictor="gbt")
    scores = dci(c_train, f_train, c_test, f_test)
    np.testing.assert_allclose(
        float(out["300:mean_test_accuracy"]), float(scores["informativeness_test"]), rtol=1e-6
    )
    np.testing.assert_allclose(
        float(out["300:mean_train_accuracy"]), float(scores["informativeness_train"]), rtol=1e-6
    )


def test_bad_input():
    c, f = _data(4, 50)
    with pytest.raises(ValueError, match="num_train"):
        downstream_task(c, f, c, f, num_train=(10, 100))
    with pytest.raises(ValueError, match="predictor"):
        downstream_task(c, f, c, f, num_train=(10,), predictor="forest")
    with pytest.raises(ValueError, match="same number of points"):
        downstream_task(c, f[:40], c, f, num_train=(10,))
