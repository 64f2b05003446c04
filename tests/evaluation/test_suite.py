"""disentax.evaluation.suite: evaluate on known representations, its checks, named sizes.

Oracles: the ``mutual_info`` matrix against scikit-learn's ``mutual_info_score`` on codes
discretised with NumPy exactly as disentanglement_lib's ``_histogram_discretize``
(``np.digitize(x, np.histogram(x, 20)[1][:-1])``); scores of the identity representation
against the reference's property (0.9-1 for DCI).
"""

import json

import jax
import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

import disentax.data as dd
from disentax import evaluation

SIZES = (5, 6, 7, 8)


def _reference_mutual_info(codes, factors):
    codes, factors = np.asarray(codes), np.asarray(factors)
    out = np.zeros((codes.shape[1], factors.shape[1]))
    for i in range(codes.shape[1]):
        binned = np.digitize(codes[:, i], np.histogram(codes[:, i], 20)[1][:-1])
        for j in range(factors.shape[1]):
            out[i, j] = mutual_info_score(factors[:, j], binned)
    return out


@pytest.mark.slow
def test_evaluate_identity_scores_and_matrices(identity_representation):
    identity = identity_representation
    data = dd.Identity(factor_sizes=SIZES)
    key = jax.random.key(0)
    result = evaluation.evaluate(
        key,
        data,
        identity,
        metrics=["mig", "dci", "unsupervised"],
        num_train=600,
        num_test=300,
    )
    scores = result["metrics"]
    assert 0.9 <= scores["dci/disentanglement"] <= 1.0 + 1e-5
    assert 0.9 <= scores["dci/completeness"] <= 1.0 + 1e-5
    assert scores["dci/informativeness_test"] > 0.95
    assert scores["mig"] > 0.9  # every factor has <= 20 values: one code per factor
    assert set(result["matrices"]) == {"mutual_info", "dci_importance"}
    for matrix in result["matrices"].values():
        assert np.shape(matrix) == (4, 4)
    codes, factors = evaluation.sample_codes(jax.random.fold_in(key, 1), data, identity, 600)
    np.testing.assert_allclose(
        result["matrices"]["mutual_info"], _reference_mutual_info(codes, factors), atol=1e-4
    )
    assert set(result["seconds"]) == {"sampling", "mig", "dci", "unsupervised"}
    assert result["sizes"]["num_train"] == 600 and result["sizes"]["factor_sizes"] == [5, 6, 7, 8]
    json.dumps(result)  # every value is plain JSON


def test_evaluate_refuses_unknown_metric_and_sizes(identity_representation):
    identity = identity_representation
    data = dd.Identity(factor_sizes=SIZES)
    with pytest.raises(ValueError, match="unknown metrics"):
        evaluation.evaluate(jax.random.key(0), data, identity, metrics=["mig", "betavae"])
    with pytest.raises(ValueError, match="interventional_sizes"):
        evaluation.evaluate(
            jax.random.key(0),
            data,
            identity,
            metrics=["mig"],
            interventional_sizes={"num_points": 3},
        )


def test_named_eval_sizes():
    # "quick" keeps the reference batch and variance estimate, cuts the votes.
    assert evaluation.resolve_eval_sizes("quick") == {"num_train": 500, "num_eval": 300}
    assert evaluation.resolve_eval_sizes("reference") == {}
    # the tests run on the CPU backend, where "auto" means "quick"
    assert evaluation.resolve_eval_sizes("auto") == evaluation.resolve_eval_sizes("quick")
    with pytest.raises(ValueError, match="eval_sizes"):
        evaluation.resolve_eval_sizes("huge")
