"""SAP score: the JAX one-feature LinearSVC vs scikit-learn, continuous form vs NumPy.

Oracles: ``reference_scores`` is disentanglement_lib ``sap_score.compute_score_matrix``
(``LinearSVC(C=0.01, class_weight="balanced")`` per (code, factor) on one feature, test
accuracy; continuous: ``np.cov`` squared correlation). Property tests follow
disentanglement_lib ``sap_score_test.py`` (identity -> 0.9-1, noise and duplicated codes
-> ~0, continuous form).
"""

import warnings

import numpy as np
import pytest
from sklearn.svm import LinearSVC

from disentax.metrics import sap, sap_score_matrix


def reference_scores(codes_train, factors_train, codes_test, factors_test, continuous):
    num_codes, num_factors = codes_train.shape[1], factors_train.shape[1]
    scores = np.zeros((num_codes, num_factors))
    for i in range(num_codes):
        for j in range(num_factors):
            if continuous:
                cov = np.cov(codes_train[:, i], factors_train[:, j], ddof=1)
                var = cov[0, 0]
                scores[i, j] = 0.0 if var <= 1e-12 else cov[0, 1] ** 2 / (var * cov[1, 1])
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # liblinear convergence chatter
                    clf = LinearSVC(C=0.01, class_weight="balanced")
                    clf.fit(codes_train[:, i : i + 1], factors_train[:, j])
                scores[i, j] = clf.score(codes_test[:, i : i + 1], factors_test[:, j])
    return scores


def reference_sap(scores):
    top = np.sort(scores, axis=0)
    return np.mean(top[-1] - top[-2])


def make(rng, factors, sizes, noise):
    codes = np.hstack([factors / sizes, np.zeros((factors.shape[0], 1))])
    codes = codes + noise * rng.normal(size=codes.shape)
    return codes.astype(np.float32), factors


@pytest.fixture(scope="module")
def data(random_factors):
    rng = np.random.default_rng(0)
    sizes = np.array([3, 6, 2, 12])
    noise = np.array([0.1, 0.3, 1.0, 0.05, 1.0])
    train = make(rng, random_factors(rng, 2000, sizes), sizes, noise)
    test = make(rng, random_factors(rng, 1000, sizes), sizes, noise)
    return (*train, *test)


def test_discrete_scores_match_linear_svc(data):
    ours = np.asarray(sap_score_matrix(*data))
    expected = reference_scores(*data, continuous=False)
    # The optimum is reached to float32 precision where liblinear stops at a gradient
    # tolerance: at most a few test points (of 1000) on a decision threshold may differ.
    np.testing.assert_allclose(ours, expected, atol=3e-3)
    assert np.mean(np.abs(ours - expected) < 1e-6) >= 0.9
    np.testing.assert_allclose(float(sap(*data)), reference_sap(expected), atol=3e-3)


def test_continuous_scores_match_numpy(data):
    codes, factors = data[0], data[1]
    codes = codes.copy()
    codes[:, 4] = 1.5  # a constant code scores 0
    ours = np.asarray(sap_score_matrix(codes, factors, continuous_factors=True))
    expected = reference_scores(codes, factors, None, None, continuous=True)
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    np.testing.assert_allclose(
        float(sap(codes, factors, continuous_factors=True)), reference_sap(expected), atol=1e-5
    )


def test_sap_reference_properties(data, identity_codes):
    codes, factors, codes_test, factors_test = data
    rng = np.random.default_rng(1)
    identity = identity_codes(factors, 1)
    assert 0.9 <= float(sap(identity, factors, continuous_factors=True)) <= 1.0
    noise = rng.normal(size=codes.shape).astype(np.float32)
    assert float(sap(noise, factors, continuous_factors=True)) <= 0.05
    duplicated = np.hstack([identity[:, :2], identity[:, :2], identity[:, 4:]])
    assert float(sap(duplicated, factors, continuous_factors=True)) <= 0.05
    # Discrete: an informative code per factor beats noise by a wide margin.
    noise_test = rng.normal(size=codes_test.shape).astype(np.float32)
    noise_score = float(sap(noise, factors, noise_test, factors_test))
    assert noise_score < 0.05
    assert float(sap(codes, factors, codes_test, factors_test)) > 0.1 + 2 * noise_score


def test_sap_degenerate_and_bad_input(data):
    codes, factors, codes_test, factors_test = data
    constant = factors.copy()
    constant[:, 1] = 0
    with pytest.warns(UserWarning, match="excluded"):
        value = float(sap(codes, constant, codes_test, factors_test))
    expected = reference_sap(np.delete(reference_scores(*data, continuous=False), 1, axis=1))
    np.testing.assert_allclose(value, expected, atol=3e-3)
    with pytest.raises(ValueError, match="codes_test and factors_test"):
        sap(codes, factors)
    with pytest.raises(ValueError, match="same number of columns"):
        sap(codes, factors, codes_test[:, :3], factors_test)
    with pytest.raises(ValueError, match="num_classes"):
        sap(codes, factors, codes_test, factors_test, num_classes=5)
