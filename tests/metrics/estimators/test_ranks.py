"""Rank statistics vs SciPy and scikit-learn, on data with many ties.

Oracles: ``scipy.stats.rankdata`` (average ranks), ``sklearn.metrics.roc_auc_score``,
``scipy.stats.spearmanr``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats
from sklearn.metrics import roc_auc_score

from disentax.metrics.estimators import (
    average_ranks,
    roc_auc,
    roc_auc_probabilities,
    spearman_correlation,
)


def test_ranks_auc_and_spearman_with_ties():
    rng = np.random.default_rng(2)
    scores = np.round(rng.normal(size=(700, 3)), 1).astype(np.float32)  # many ties
    np.testing.assert_array_equal(
        np.asarray(average_ranks(scores)), scipy.stats.rankdata(scores, axis=0)
    )
    labels = scores[:, 0] + rng.normal(size=700) > 0.3
    np.testing.assert_allclose(
        float(roc_auc(jnp.asarray(labels), jnp.asarray(scores[:, 0]))),
        roc_auc_score(labels, scores[:, 0]),
        atol=1e-6,
    )
    probabilities = np.clip(np.abs(scores[:, 0]) / 4, 0, 1)
    np.testing.assert_allclose(
        float(roc_auc_probabilities(jnp.asarray(labels), jnp.asarray(probabilities))),
        roc_auc_score(labels, probabilities),
        atol=1e-6,
    )
    other = scores[:, ::-1] + rng.normal(size=(700, 3)).astype(np.float32)
    expected = scipy.stats.spearmanr(scores, other).statistic[:3, 3:]
    np.testing.assert_allclose(
        np.asarray(spearman_correlation(jnp.asarray(scores), jnp.asarray(other))),
        expected,
        atol=1e-5,
    )


def test_auc_is_exact_at_a_million_points():
    # Regression (issue #21, item 7): the rank sums were int32 and overflowed past
    # N = 46340; N = 10**6 gave -0.003 where scikit-learn gives 0.856.
    rng = np.random.default_rng(7)
    n = 10**6
    labels = rng.random(n) < 0.3
    scores = (rng.normal(size=n) + 1.5 * labels).astype(np.float32)
    tied = np.round(scores, 1)  # long runs of ties
    probabilities = (1 / (1 + np.exp(-scores))).astype(np.float32)
    for fn, values in ((roc_auc, scores), (roc_auc, tied), (roc_auc_probabilities, probabilities)):
        got = float(fn(jnp.asarray(labels), jnp.asarray(values)))
        np.testing.assert_allclose(got, roc_auc_score(labels, values), rtol=2e-7)
    # Extreme class balance (the U statistic is small, or close to P Q).
    rare = np.zeros(n, bool)
    rare[rng.choice(n, 3, replace=False)] = True
    for positive in (rare, ~rare):
        got = float(roc_auc(jnp.asarray(positive), jnp.asarray(scores)))
        np.testing.assert_allclose(got, roc_auc_score(positive, scores), rtol=2e-7)


def test_exact_sum_of_large_terms():
    # Terms near 2**31 over 2**16 points: the int64 total needs 47 bits.
    from disentax.metrics.estimators.ranks import _exact_sum

    rng = np.random.default_rng(0)
    terms = rng.integers(2**31 - 2**20, 2**31, 2**16 + 5).astype(np.int32)
    expected = np.float32(terms.astype(np.int64).sum())
    # Two float32 roundings at most (one ulp): the integer limbs themselves are exact.
    np.testing.assert_allclose(
        float(jax.jit(_exact_sum)(jnp.asarray(terms))), expected, rtol=1.2e-7
    )


def test_auc_vmaps_over_classes():
    rng = np.random.default_rng(3)
    labels = rng.random((4, 5000)) < 0.4
    scores = (rng.normal(size=(4, 5000)) + labels).astype(np.float32)
    got = jax.vmap(roc_auc)(jnp.asarray(labels), jnp.asarray(scores))
    expected = [roc_auc_score(labels[i], scores[i]) for i in range(4)]
    np.testing.assert_allclose(np.asarray(got), expected, rtol=2e-7)
