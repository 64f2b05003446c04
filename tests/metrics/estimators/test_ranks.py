"""Rank statistics vs SciPy and scikit-learn, on data with many ties.

Oracles: ``scipy.stats.rankdata`` (average ranks), ``sklearn.metrics.roc_auc_score``,
``scipy.stats.spearmanr``.
"""

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
