"""Modularity and explicitness vs the reference definitions.

Oracles: ``reference_modularity`` and ``reference_explicitness`` follow disentanglement_lib
``modularity_explicitness.py`` (its ``_histogram_discretize``, the ``reference_bins``
fixture, + ``mutual_info_score``;
``LogisticRegression()`` on train-standardised codes, ``roc_auc_score`` of the
``MultiLabelBinarizer`` one-hot against ``predict_proba``). Properties from its test file:
identity -> 0.9-1, duplicated codes keep modularity, one code for two of ten factors ->
``1 - 1/9``.
"""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import mutual_info_score, roc_auc_score
from sklearn.preprocessing import MultiLabelBinarizer

from disentax.metrics import explicitness, modularity
from disentax.metrics.modularity import modularity_from_mutual_info


def reference_modularity(binned, factors):
    """Modularity of the histogram-binned codes ``binned [N, L]``."""
    m = np.array([[mutual_info_score(f, b) for f in factors.T] for b in binned.T])
    squared = m**2
    largest = squared.max(axis=1)
    spread = (squared.sum(axis=1) - largest) / (largest * (factors.shape[1] - 1))
    return np.mean(np.where(largest == 0, 0.0, 1.0 - spread))


def reference_explicitness(codes_train, factors_train, codes_test, factors_test):
    mean, std = codes_train.mean(0), codes_train.std(0)
    x_train, x_test = (codes_train - mean) / std, (codes_test - mean) / std
    train, test = [], []
    for j in range(factors_train.shape[1]):
        clf = LogisticRegression().fit(x_train, factors_train[:, j])
        for x, y, out in ((x_train, factors_train, train), (x_test, factors_test, test)):
            one_hot = MultiLabelBinarizer().fit_transform(y[:, j : j + 1])
            out.append(roc_auc_score(one_hot, clf.predict_proba(x)))
    return np.mean(train), np.mean(test)


def make(rng, factors, sizes):
    n = factors.shape[0]
    codes = np.hstack([factors / sizes, rng.normal(size=(n, 1))])
    codes[:, :4] += np.array([0.1, 0.3, 1.0, 0.05]) * rng.normal(size=(n, 4))
    codes[:, 1] += 0.5 * codes[:, 0]
    return codes.astype(np.float32), factors


@pytest.fixture(scope="module")
def data(random_factors):
    rng = np.random.default_rng(0)
    sizes = np.array([3, 6, 2, 12])
    train = make(rng, random_factors(rng, 2000, sizes), sizes)
    return (*train, *make(rng, random_factors(rng, 1000, sizes), sizes))


def test_modularity_matches_reference(data, reference_bins):
    codes, factors = data[0], data[1]
    expected = reference_modularity(reference_bins(codes), factors)
    np.testing.assert_allclose(float(modularity(codes, factors)), expected, atol=1e-5)


def test_modularity_properties(data, identity_codes):
    codes, factors = data[0], data[1]
    identity = identity_codes(factors, 1)
    # 4 perfect codes and one constant code (score 0 by definition): mean 4/5.
    np.testing.assert_allclose(float(modularity(identity, factors)), 0.8, atol=0.02)
    assert 0.9 <= float(modularity(identity[:, :4], factors)) <= 1.0
    duplicated = np.hstack([identity[:, :2], identity[:, :2], identity[:, 3:4]])
    assert float(modularity(duplicated, factors)) >= 0.9
    assert float(modularity(np.zeros_like(codes), factors)) == 0.0


def test_one_code_for_two_of_ten_factors_scores_one_minus_one_ninth():
    # Closed form: m = (a, a, 0, ..., 0) gives delta = a^2 / (a^2 (10 - 1)).
    row = np.zeros((1, 10), np.float32)
    row[0, :2] = 0.7
    mask = np.ones(10, bool)
    np.testing.assert_allclose(float(modularity_from_mutual_info(row, mask)), 1 - 1 / 9, rtol=1e-6)
    # End to end: code i is a bijection of factors 2i and 2i+1 (16 values, 16 bins used).
    rng = np.random.default_rng(5)
    factors = rng.integers(0, 4, size=(4000, 10)).astype(np.int32)
    codes = (factors[:, 0::2] * 4 + factors[:, 1::2]).astype(np.float32)
    np.testing.assert_allclose(float(modularity(codes, factors)), 1 - 1 / 9, atol=2e-3)


def test_explicitness_matches_scikit_learn(data):
    result = explicitness(*data)
    train, test = reference_explicitness(*data)
    np.testing.assert_allclose(float(result["train"]), train, atol=1e-3)
    np.testing.assert_allclose(float(result["test"]), test, atol=1e-3)


def test_explicitness_properties(data, identity_codes):
    codes, factors, codes_test, factors_test = data
    identity, identity_test = identity_codes(factors, 1), identity_codes(factors_test, 1)
    result = explicitness(identity, factors, identity_test, factors_test)
    assert 0.9 <= float(result["train"]) <= 1.0 and 0.9 <= float(result["test"]) <= 1.0
    rng = np.random.default_rng(2)
    noise = rng.normal(size=codes.shape).astype(np.float32)
    noise_test = rng.normal(size=codes_test.shape).astype(np.float32)
    result = explicitness(noise, factors, noise_test, factors_test)
    np.testing.assert_allclose(float(result["test"]), 0.5, atol=0.05)


def test_explicitness_bad_input(data):
    codes, factors, codes_test, factors_test = data
    with pytest.raises(ValueError, match="same number of columns"):
        explicitness(codes, factors, codes_test[:, :2], factors_test)
    with pytest.raises(ValueError, match="same number of points"):
        explicitness(codes, factors[:-1], codes_test, factors_test)
    with pytest.raises(TypeError, match="integer"):
        explicitness(codes, factors.astype(float), codes_test, factors_test)


@pytest.mark.slow
def test_explicitness_matches_scikit_learn_at_300k_points():
    # Regression (issue #21, item 7): the AUCs' int32 rank sums overflowed at this size.
    rng = np.random.default_rng(0)
    n = 300_000
    factors = np.stack([rng.integers(0, 3, n), rng.integers(0, 4, n)], 1).astype(np.int32)
    noise = rng.normal(size=(n, 3))
    codes = np.hstack([factors + 0.8 * noise[:, :2], noise[:, 2:]]).astype(np.float32)
    data = (codes[:200_000], factors[:200_000], codes[200_000:], factors[200_000:])
    result = explicitness(*data)
    train, test = reference_explicitness(*data)
    np.testing.assert_allclose(float(result["train"]), train, atol=1e-4)
    np.testing.assert_allclose(float(result["test"]), test, atol=1e-4)
