"""DCI against scikit-learn / SciPy oracles.

Provenance of the expected values:
* importance-matrix cases: disentanglement_lib ``evaluation/metrics/dci_test.py``
  (``DisentanglementTest`` / ``CompletenessTest``), values derived by hand there;
* end-to-end properties: the same file's ``DCITest`` (identity representation, random
  permutation per point, duplicated latent space -> completeness 1 - log 2 / log 10 when
  every factor's importance is split evenly over two of ten codes);
* the ``"sklearn"`` estimator path and scikit-learn's ``Lasso`` (the trees themselves are
  checked against scikit-learn in ``estimators/test_gbt.py``).
"""

import chex
import jax
import numpy as np
import pytest
import scipy.stats

from disentax.metrics.dci import completeness, dci, disentanglement


def _scipy_dci(importance):
    """The reference's formulas, written with scipy.stats.entropy (float64)."""
    r = np.asarray(importance, np.float64)
    per_code = 1.0 - scipy.stats.entropy(r.T + 1e-11, base=r.shape[1])
    per_factor = 1.0 - scipy.stats.entropy(r + 1e-11, base=r.shape[0])
    w = np.ones_like(r) if r.sum() == 0 else r
    return (
        np.sum(per_code * w.sum(1) / w.sum()),
        np.sum(per_factor * w.sum(0) / w.sum()),
    )


@pytest.mark.parametrize(
    "name, matrix, expected_d, expected_c",
    [
        ("diagonal", np.diag(5.0 * np.ones(5)), 1.0, 1.0),
        ("empty_codes", np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), 1.0, 1.0),
        ("zero", np.zeros((10, 10)), 0.0, 0.0),
        (
            "redundant_codes",
            np.vstack([np.diag(5.0 * np.ones(5))] * 2),
            1.0,
            1.0 - np.log(2) / np.log(10),
        ),
        ("missed_factors", np.diag(5.0 * np.ones(5))[:2, :], 1.0, 1.0),
        (
            "one_code_two_factors",
            np.hstack([np.diag(5.0 * np.ones(5))] * 2),
            1.0 - np.log(2) / np.log(10),
            1.0,
        ),
    ],
)
def test_importance_cases_of_the_reference(name, matrix, expected_d, expected_c):
    d = jax.jit(disentanglement)(matrix)
    c = jax.jit(completeness)(matrix)
    np.testing.assert_allclose(d, expected_d, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(c, expected_c, atol=1e-5, err_msg=name)


def test_random_importance_matches_scipy():
    rng = np.random.default_rng(0)
    for shape in [(10, 5), (4, 7)]:
        r = rng.random(shape) ** 3
        d, c = _scipy_dci(r)
        np.testing.assert_allclose(jax.jit(disentanglement)(r), d, rtol=1e-5)
        np.testing.assert_allclose(jax.jit(completeness)(r), c, rtol=1e-5)


def _identity_data(seed, n, num_factors=5, num_values=10):
    # disentanglement_lib's IdentityObservationsData: factors are the observations.
    rng = np.random.default_rng(seed)
    return rng.integers(0, num_values, (n, num_factors)).astype(np.int32)


def _dci_on(transform):
    """DCI of ``transform(factors)`` (always 10 codes: one compiled program for all)."""
    f_train, f_test = _identity_data(0, 1000), _identity_data(1, 1000)
    return dci(transform(f_train, 0), f_train, transform(f_test, 1), f_test)


def test_identity_representation_scores_near_one(identity_codes):
    # Five constant codes next to the identity never split, so they change nothing.
    scores = _dci_on(lambda f, _: identity_codes(f, f.shape[1]))
    assert 0.9 <= float(scores["disentanglement"]) <= 1.0 + 1e-5
    assert 0.9 <= float(scores["completeness"]) <= 1.0 + 1e-5
    assert float(scores["informativeness_test"]) > 0.99


def test_duplicated_codes_split_importance_evenly():
    scores = _dci_on(lambda f, _: np.hstack([f, f]).astype(np.float32))
    assert 0.9 <= float(scores["disentanglement"]) <= 1.0 + 1e-5
    target = 1.0 - np.log(2) / np.log(10)
    np.testing.assert_allclose(float(scores["completeness"]), target, atol=0.02)


def test_randomly_permuted_codes_score_low(identity_codes):
    def permuted(f, seed):
        codes = identity_codes(f, f.shape[1])
        return np.random.default_rng(seed).permuted(codes, axis=1)

    scores = _dci_on(permuted)
    assert float(scores["disentanglement"]) < 0.2
    assert float(scores["completeness"]) < 0.2


def _mixed_codes(rng, n, sizes):
    y = np.stack([rng.integers(0, k, n) for k in sizes], 1)
    u = y / (np.asarray(sizes) - 1.0)
    mix = np.eye(len(sizes)) * 2.0 + 0.4 * np.roll(np.eye(len(sizes)), 1, axis=1)
    z = np.tanh(u @ mix - 1.0) * 2.0 + rng.normal(scale=0.2, size=(n, len(sizes)))
    noise = rng.normal(scale=0.05, size=(n, 2))
    return np.hstack([z, noise]).astype(np.float32), y.astype(np.int32)


@pytest.mark.slow
def test_gbt_within_005_of_sklearn_path():
    rng = np.random.default_rng(3)
    sizes = (3, 6, 10)
    c_train, f_train = _mixed_codes(rng, 1500, sizes)
    c_test, f_test = _mixed_codes(rng, 500, sizes)
    ours = dci(c_train, f_train, c_test, f_test)
    np.random.seed(0)  # noqa: NPY002 (scikit-learn draws its feature permutations here)
    ref = dci(c_train, f_train, c_test, f_test, estimator="sklearn")
    for key in ("disentanglement", "completeness"):
        assert abs(float(ours[key]) - float(ref[key])) < 0.05, (key, ours[key], ref[key])
    for key in ("informativeness_train", "informativeness_test"):
        assert abs(float(ours[key]) - float(ref[key])) < 0.05, (key, ours[key], ref[key])
    np.testing.assert_allclose(ours["importance"], ref["importance"], atol=0.08)


@pytest.mark.slow
def test_jit_vmap_and_no_recompile():
    rng = np.random.default_rng(4)
    sizes = (3, 6, 10)
    models = [_mixed_codes(rng, 300, sizes) for _ in range(2)]
    f_train = models[0][1]
    codes = np.stack([m[0] for m in models])  # [S, N, L]: two models, same factors

    def score(codes_train, factors_train):
        out = dci(
            codes_train,
            factors_train,
            codes_train,
            factors_train,
            num_classes=sizes,
            num_stages=10,
        )
        return out["disentanglement"], out["completeness"], out["importance"]

    jitted_fn = jax.jit(chex.assert_max_traces(score, n=1))
    jitted = [jitted_fn(c, f_train) for c in codes]  # second call: same shapes, no retrace
    batched = jax.jit(jax.vmap(score, in_axes=(0, None)))(codes, f_train)
    for i in range(2):
        np.testing.assert_allclose(batched[0][i], jitted[i][0], rtol=1e-5)
        np.testing.assert_allclose(batched[1][i], jitted[i][1], rtol=1e-5)
        np.testing.assert_allclose(batched[2][i], jitted[i][2], atol=1e-5)
    assert not np.allclose(jitted[0][2], jitted[1][2])  # the two models really differ


def test_lasso_estimator_matches_sklearn_lasso():
    from sklearn.linear_model import Lasso

    rng = np.random.default_rng(5)
    c_train, f_train = _mixed_codes(rng, 800, (3, 6, 10))
    c_test, f_test = _mixed_codes(rng, 400, (3, 6, 10))
    alpha = 0.05
    out = dci(c_train, f_train, c_test, f_test, estimator="lasso", lasso_alpha=alpha)
    mean, std = c_train.mean(0), c_train.std(0)
    y_mean, y_std = f_train.mean(0), f_train.std(0)
    x = (c_train - mean) / std
    y = (f_train - y_mean) / y_std
    coef = np.stack([Lasso(alpha=alpha, tol=1e-8).fit(x, y[:, j]).coef_ for j in range(3)], 1)
    np.testing.assert_allclose(out["importance"], np.abs(coef), atol=2e-3)
    d, c = _scipy_dci(np.abs(coef))
    np.testing.assert_allclose(out["disentanglement"], d, atol=2e-3)
    np.testing.assert_allclose(out["completeness"], c, atol=2e-3)
    pred = x @ coef + (y - x @ coef).mean(0)
    r2 = np.mean(1 - ((y - pred) ** 2).mean(0) / y.var(0))
    np.testing.assert_allclose(out["informativeness_train"], r2, atol=2e-3)


def test_bad_input_is_refused_before_xla():
    rng = np.random.default_rng(6)
    c, f = _mixed_codes(rng, 50, (3, 4))
    with pytest.raises(ValueError, match="same number of points"):
        dci(c[:40], f, c, f)
    with pytest.raises(ValueError, match="estimator"):
        dci(c, f, c, f, estimator="forest")
    bad = c.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        dci(bad, f, c, f)
    with pytest.raises(TypeError, match="integer"):
        dci(c, f.astype(np.float32), c, f)
    single = f.copy()
    single[:, 1] = 2
    with pytest.raises(ValueError, match="single value"):
        dci(c, single, c, f)
    with pytest.raises(ValueError, match="rank 2"):
        dci(c[None], f, c, f)
    with pytest.raises(ValueError, match="num_classes"):
        jax.jit(lambda a, b: dci(a, b, a, b)["completeness"])(c, f)
    with pytest.raises(TypeError, match="sklearn"):
        jax.jit(lambda a: dci(a, f, a, f, estimator="sklearn")["completeness"])(c)
    with pytest.raises(ValueError, match="precision"):
        dci(c, f, c, f, precision="float16")
