"""Fairness (Locatello et al. 2019) against a NumPy/scikit-learn oracle of the reference.

The oracle (``reference_*`` below) is written from disentanglement_lib's
``evaluation/metrics/fairness.py``: per target, per sensitive factor, a ``[K_i, K_j]``
count matrix filled column by column with ``np.bincount`` of the predictions,
``inter_group_fairness`` and ``compute_scores_dict`` with their Python loops; the
predictor is scikit-learn's ``GradientBoostingClassifier()`` as the fairness study binds.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier

from disentax.data import Identity, correlate
from disentax.metrics import fairness_scores, inter_group_fairness
from disentax.metrics.fairness import _unfairness, fairness, intervened_factors


def reference_inter_group(counts):
    overall = counts.sum(axis=1).astype(np.float64)
    overall /= overall.sum()
    per_class = counts.sum(axis=0)
    normalized = counts / per_class[None, :]
    tv = np.abs(normalized - overall[:, None]).sum(axis=0) / 2.0
    return float(np.sum(tv * per_class / per_class.sum())), float(np.max(tv))


def reference_scores(matrix, prefix):
    num = matrix.shape[0]
    out = {}
    for i in range(num):
        for j in range(num):
            if i != j:
                out[f"{prefix}:pred{i}:sens{j}"] = matrix[i, j]
    row_means, row_maxs, col_means, col_maxs = [], [], [], []
    for i in range(num):
        scores = [matrix[i, j] for j in range(num) if i != j]
        out[f"{prefix}:pred{i}:mean_sens"], out[f"{prefix}:pred{i}:max_sens"] = (
            np.mean(scores),
            np.max(scores),
        )
        row_means.append(np.mean(scores))
        row_maxs.append(np.max(scores))
    for j in range(num):
        scores = [matrix[i, j] for i in range(num) if i != j]
        out[f"{prefix}:sens{j}:mean_pred"], out[f"{prefix}:sens{j}:max_pred"] = (
            np.mean(scores),
            np.max(scores),
        )
        col_means.append(np.mean(scores))
        col_maxs.append(np.max(scores))
    for name, value in (
        ("mean_sens:mean_pred", np.mean(col_means)),
        ("mean_sens:max_pred", np.mean(col_maxs)),
        ("max_sens:mean_pred", np.max(col_means)),
        ("max_sens:max_pred", np.max(col_maxs)),
        ("mean_pred:mean_sens", np.mean(row_means)),
        ("mean_pred:max_sens", np.mean(row_maxs)),
        ("max_pred:mean_sens", np.max(row_means)),
        ("max_pred:max_sens", np.max(row_maxs)),
    ):
        out[f"{prefix}:{name}"] = value
    return out


def reference_from_predictions(predictions, sens, sizes):
    """The reference's matrices from predictions ``[T, P, F]`` of the intervened blocks."""
    num = len(sizes)
    mean_m, max_m = np.zeros((num, num)), np.zeros((num, num))
    for i in range(num):
        for j in range(num):
            if i == j:
                continue
            blocks = np.flatnonzero(sens == j)
            counts = np.zeros((sizes[i], sizes[j]), np.int64)
            for c, t in enumerate(blocks):
                counts[:, c] = np.bincount(predictions[t, :, i], minlength=sizes[i])
            mean_m[i, j], max_m[i, j] = reference_inter_group(counts)
    return {**reference_scores(mean_m, "mean_fairness"), **reference_scores(max_m, "max_fairness")}


def test_inter_group_fairness_matches_reference():
    rng = np.random.default_rng(0)
    for _ in range(5):
        counts = rng.integers(0, 20, size=(4, 3)) + 1
        got = inter_group_fairness(counts)
        np.testing.assert_allclose(
            [float(g) for g in got], reference_inter_group(counts), atol=1e-6
        )


def test_aggregation_matches_reference_on_random_predictions():
    sizes = (3, 4, 2)
    sens = np.repeat(np.arange(3), sizes)
    rng = np.random.default_rng(1)
    predictions = np.stack([rng.integers(0, k, size=(len(sens), 30)) for k in sizes], axis=-1)
    mean_tv, max_tv = jax.jit(lambda p: _unfairness(p, sens, sizes))(jnp.asarray(predictions))
    got = {**fairness_scores(mean_tv, "mean_fairness"), **fairness_scores(max_tv, "max_fairness")}
    want = reference_from_predictions(predictions, sens, sizes)
    assert set(got) == set(want)
    for key, value in want.items():
        np.testing.assert_allclose(float(got[key]), value, atol=1e-6, err_msg=key)


def _lossy(images):
    """Codes of a 3-factor Identity dataset that mix factor 1 into factor 0's code."""
    x = images.reshape(images.shape[0], -1)
    return jnp.stack([2.0 * x[:, 0] + x[:, 1], x[:, 2]], axis=1)


def test_end_to_end_matches_sklearn_oracle():
    # Trained on correlated data, the predictor of factor 0 leans on factor 1 (which the
    # shared code mixes in), so interventions on factor 1 move its predictions.
    dataset = correlate(Identity((3, 3, 2)), [(0, 1, 1.0, 0.3)])
    key, num_train, per_class = jax.random.key(4), 400, 40
    got = fairness(key, dataset, _lossy, num_train=num_train, num_test_points_per_class=per_class)

    k_train, k_test = jax.random.split(key)
    factors = np.asarray(dataset.sample_factors(k_train, num_train))
    codes = np.asarray(_lossy(dataset.observations(factors)))
    test, sens = intervened_factors(dataset, k_test, per_class)
    test = np.asarray(test)
    test_codes = np.asarray(_lossy(dataset.observations(test.reshape(-1, 3))))
    predictions = np.stack(
        [
            GradientBoostingClassifier(random_state=0).fit(codes, factors[:, i]).predict(test_codes)
            for i in range(3)
        ],
        axis=-1,
    ).reshape(test.shape)
    want = reference_from_predictions(predictions, sens, dataset.factor_sizes)
    assert set(got) == set(want)
    assert want["mean_fairness:pred0:sens1"] > 0.1  # the oracle sees real unfairness
    for key_name, value in want.items():
        np.testing.assert_allclose(float(got[key_name]), value, atol=0.02, err_msg=key_name)


def test_representation_ignoring_sensitive_factors_is_fair():
    # jit/vmap equivalence and retracing: the metric table's shared tests
    rep = jax.tree_util.Partial(lambda w, images: images.reshape(len(images), -1) @ w, jnp.eye(3))
    scores = fairness(
        jax.random.key(0), Identity((3, 4, 2)), rep, num_train=200, num_test_points_per_class=10
    )
    for key_name, value in scores.items():
        assert abs(float(value)) < 1e-5, key_name


def test_bad_input_is_refused_before_compiling():
    flat = lambda images: images.reshape(len(images), -1)  # noqa: E731
    with pytest.raises(ValueError, match="num_test_points_per_class"):
        fairness(jax.random.key(0), Identity((3, 4)), flat, num_test_points_per_class=0)
    with pytest.raises(ValueError, match="at least 2 factors"):
        fairness(jax.random.key(0), Identity((3,)), flat)
    with pytest.raises(TypeError, match="typed PRNG key"):
        fairness(0, Identity((3, 4)), flat)
    with pytest.raises(ValueError, match="square"):
        fairness_scores(np.zeros((2, 3)), "x")
