"""The JAX gradient-boosted trees against scikit-learn's ``GradientBoostingClassifier``.

Oracle: scikit-learn's ``GradientBoostingClassifier`` (the reference's DCI estimator). On
pre-binned inputs its exact splitter sees the same candidate thresholds as the histogram
trees, so importances and predictions must agree up to how exact ties between codes are
credited.
"""

import jax
import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier

from disentax.metrics.estimators import gbt, trees


def _toy(rng, n, sizes=(3, 5), num_codes=4):
    y = np.stack([rng.integers(0, k, n) for k in sizes], 1)
    x = rng.normal(size=(n, num_codes)).astype(np.float32)
    x[:, 0] += y[:, 0]
    x[:, 1] += 0.5 * y[:, 1]
    x[:, 2] += 0.3 * y[:, 0] - 0.2 * y[:, 1]
    return x, y


@pytest.mark.parametrize("precision", ["int8", "float32"])
def test_trees_equal_sklearn_on_prebinned_inputs(precision):
    rng = np.random.default_rng(1)
    x, y = _toy(rng, 600)
    x_eval, _ = _toy(rng, 200)
    num_bins, stages = 16, 8
    fit = gbt.gradient_boosted_trees(
        x, y, x_eval, num_stages=stages, num_bins=num_bins, precision=precision
    )
    edges = gbt.quantile_bin_edges(x, num_bins)
    xb = np.asarray(gbt.apply_bins(x, edges), np.float64)
    xb_eval = np.asarray(gbt.apply_bins(x_eval, edges), np.float64)
    for j in range(y.shape[1]):
        model = GradientBoostingClassifier(n_estimators=stages, random_state=0).fit(xb, y[:, j])
        # Equal up to exact ties between codes (small nodes where two codes cut the same
        # samples): scikit-learn gives the gain to a random one, these trees split it.
        np.testing.assert_allclose(fit.importance[:, j], model.feature_importances_, atol=3e-3)
        assert np.mean(np.asarray(fit.train_predictions[:, j]) == model.predict(xb)) > 0.99
        assert np.mean(np.asarray(fit.eval_predictions[:, j]) == model.predict(xb_eval)) > 0.99


def test_bad_input_is_refused_before_xla():
    x, y = _toy(np.random.default_rng(6), 50)
    with pytest.raises(ValueError, match="precision"):
        gbt.gradient_boosted_trees(x, y, x, precision="float16")
    with pytest.raises(TypeError, match="integer"):
        gbt.gradient_boosted_trees(x, y.astype(np.float32), x)
    with pytest.raises(ValueError, match="columns of x_train"):
        gbt.gradient_boosted_trees(x, y, x[:, :2])
    with pytest.raises(ValueError, match="num_classes must be given"):
        jax.jit(lambda labels: gbt.gradient_boosted_trees(x, labels, x).importance)(y)


def _reordered_dot_rows(dot_rows, block):
    """``dot_rows`` summing the points in blocks added last to first, as a CPU whose matrix
    product blocks or threads the contraction differently would."""

    def reordered(lhs, onehot_t):
        n = lhs.shape[-1]
        parts = [
            dot_rows(lhs[..., i : i + block], onehot_t[:, i : i + block])
            for i in range(0, n, block)
        ]
        out = parts[-1]
        for part in parts[-2::-1]:
            out = out + part
        return out

    return reordered


@pytest.mark.slow  # two compiles of the trees per precision
@pytest.mark.parametrize("precision", ["int8", "float32"])
def test_trees_do_not_depend_on_the_summation_order(precision, monkeypatch):
    # Regression (issue #21, item 20): the float32 histograms were float32 matrix products,
    # whose rounding depends on how a CPU orders the additions, and near-tied splits went
    # one way or the other (importance 0.009 apart on an AMD EPYC). All sums are now exact
    # integers, so another order gives bit-identical trees.
    rng = np.random.default_rng(1)
    x, y = _toy(rng, 600)
    x_eval, _ = _toy(rng, 200)
    kwargs = dict(num_stages=4, num_bins=16, precision=precision)
    base = gbt.gradient_boosted_trees(x, y, x_eval, **kwargs)
    reordered = _reordered_dot_rows(trees.dot_rows, 256)
    monkeypatch.setattr(trees, "dot_rows", reordered)
    monkeypatch.setattr(gbt, "dot_rows", reordered)
    gbt._fit.clear_cache()
    try:
        other = gbt.gradient_boosted_trees(x, y, x_eval, **kwargs)
    finally:
        gbt._fit.clear_cache()
    np.testing.assert_array_equal(other.importance, base.importance)
    np.testing.assert_array_equal(other.train_predictions, base.train_predictions)
    np.testing.assert_array_equal(other.eval_predictions, base.eval_predictions)
