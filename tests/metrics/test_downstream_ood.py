"""Strong and reduced downstream tasks against NumPy/scikit-learn oracles of the reference.

The oracles follow disentanglement_lib's ``strong_downstream_task.py`` and
``reduced_downstream_task.py``: scikit-learn's ``GradientBoostingClassifier()`` fit per
factor, accuracies as ``np.mean(predict == y)``; the reduced task deletes (``np.delete``)
the code of largest ``feature_importances_`` for the factor of interest. The codes take
few distinct values, so the JAX trees' quantile bins split exactly where scikit-learn does.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier

from disentax.data import Identity
from disentax.metrics import reduced_downstream_task, strong_downstream_task
from disentax.metrics.downstream_ood import intervene

SIZES = (3, 4, 3)


def _mixed(images):
    """Integer-valued codes of Identity(SIZES): factor 0 also leaks into code 2.

    Unit steps on purpose: shifted test codes then fall on or beyond training values, where
    the JAX trees' bin-edge thresholds and scikit-learn's midpoints route alike (between
    two training values they may not: a deliberate difference of the estimator).
    """
    f = jnp.round(images.reshape(images.shape[0], -1) * (jnp.asarray(SIZES) - 1.0))
    return jnp.stack([f[:, 0], f[:, 1], f[:, 0] + f[:, 2]], axis=1)


STAGES = 20  # boosting stages of both sides (the reference's 100 only costs test time)


def _sklearn_accuracy(x_train, y_train, x_test, y_test):
    model = GradientBoostingClassifier(n_estimators=STAGES, random_state=0).fit(x_train, y_train)
    return np.mean(model.predict(x_train) == y_train), np.mean(model.predict(x_test) == y_test)


def test_intervention_semantics():
    rng = np.random.default_rng(0)
    train = jnp.asarray(np.stack([rng.integers(0, s, 50) for s in SIZES], 1), jnp.int32)
    test = jnp.asarray(np.stack([rng.integers(0, s, 40) for s in SIZES], 1), jnp.int32)
    keys = jax.random.split(jax.random.key(0), 60)
    draws = jax.jit(jax.vmap(lambda k: intervene(k, train, test, 1, SIZES)))(keys)
    chosen = []
    for new_train, new_test, factor, value in zip(*map(np.asarray, draws), strict=True):
        factor, value = int(factor), int(value)
        chosen.append(factor)
        assert factor != 1
        assert np.all(new_train[:, factor] == value)
        assert np.all(new_test[:, factor] != value)
        assert np.all(new_test[:, factor] < SIZES[factor])
        keep = [k for k in range(3) if k != factor]
        np.testing.assert_array_equal(new_train[:, keep], train[:, keep])
        np.testing.assert_array_equal(new_test[:, keep], test[:, keep])
    assert set(chosen) == {0, 2}


def test_strong_task_matches_sklearn_oracle():
    dataset, key = Identity(SIZES), jax.random.key(3)
    n, num_test, num_experiments = 200, 150, 2
    got = strong_downstream_task(
        key,
        dataset,
        _mixed,
        num_train=n,
        num_test=num_test,
        num_experiments=num_experiments,
        num_stages=STAGES,
    )
    # the oracle, on the same draws (the kernel's key schedule)
    k_train, k_test, k_int = jax.random.split(jax.random.fold_in(key, n), 3)
    f_train = dataset.sample_factors(k_train, n)
    f_test = dataset.sample_factors(k_test, num_test)
    encode = lambda f: np.asarray(_mixed(dataset.observations(f)))  # noqa: E731
    x_train, x_test = encode(f_train), encode(f_test)
    y_train, y_test = np.asarray(f_train), np.asarray(f_test)
    plain = [_sklearn_accuracy(x_train, y_train[:, i], x_test, y_test[:, i]) for i in range(3)]
    targets = np.repeat(np.arange(3), num_experiments)
    strong = []
    keys = jax.random.split(k_int, 3 + len(targets))[3:]  # the first 3: the plain tasks
    for target, k in zip(targets, keys, strict=True):
        tr, te, _, _ = intervene(k, f_train, f_test, int(target), SIZES)
        tr, te = np.asarray(tr), np.asarray(te)
        strong.append(_sklearn_accuracy(encode(tr), tr[:, target], encode(te), te[:, target]))
    plain, strong = np.array(plain), np.array(strong)
    want = {
        "mean_train_accuracy": plain[:, 0].mean(),
        "mean_test_accuracy": plain[:, 1].mean(),
        "mean_strong_train_accuracy": strong[:, 0].mean(),
        "mean_strong_test_accuracy": strong[:, 1].mean(),
    }
    want["strong_generalization_gap"] = (
        1.0 - want["mean_strong_test_accuracy"] / want["mean_test_accuracy"]
    )
    assert set(got) == {f"{n}:{k}" for k in want}
    assert want["strong_generalization_gap"] > 0.05  # the shift hurts the oracle too
    for name, value in want.items():
        np.testing.assert_allclose(float(got[f"{n}:{name}"]), value, atol=0.02, err_msg=name)


def reduced_oracle(x_train, y_train, x_test, y_test, num_to_remove):
    num = y_train.shape[1]
    train_acc, test_acc = np.zeros((num, num)), np.zeros((num, num))
    for j in range(num):
        xr, xe = x_train.copy(), x_test.copy()
        for _ in range(num_to_remove):
            model = GradientBoostingClassifier(n_estimators=STAGES, random_state=0)
            model.fit(xr, y_train[:, j])
            drop = int(np.argmax(model.feature_importances_))
            xr, xe = np.delete(xr, drop, axis=1), np.delete(xe, drop, axis=1)
        for i in range(num):
            train_acc[j, i], test_acc[j, i] = _sklearn_accuracy(xr, y_train[:, i], xe, y_test[:, i])
    return train_acc, test_acc


def test_reduced_task_matches_sklearn_oracle():
    num_to_remove = 2  # the first removal and a recomputed one
    rng = np.random.default_rng(num_to_remove)
    factors = np.stack([rng.integers(0, s, 500) for s in SIZES], 1).astype(np.int32)
    noise = rng.integers(0, 3, size=(500, 1))
    codes = np.hstack([np.asarray(_mixed(jnp.asarray(factors / (np.array(SIZES) - 1.0)))), noise])
    codes = codes.astype(np.float32)
    x_train, x_test, y_train, y_test = codes[:300], codes[300:], factors[:300], factors[300:]
    got = reduced_downstream_task(
        x_train, y_train, x_test, y_test, num_to_remove=num_to_remove, num_stages=STAGES
    )
    train_acc, test_acc = reduced_oracle(x_train, y_train, x_test, y_test, num_to_remove)
    for j in range(3):
        for i in range(3):
            for name, want in (("train", train_acc), ("test", test_acc)):
                key = f"300:{name}_accuracy_{i}_factor_of_interest_{j}"
                np.testing.assert_allclose(float(got[key]), want[j, i], atol=0.03, err_msg=key)
    np.testing.assert_allclose(
        float(got["300:mean_removed_test_accuracy"]), np.diag(test_acc).mean(), atol=0.03
    )


def test_reduced_identity_loses_only_the_removed_factor():
    # jit/vmap equivalence and retracing: the metric table's shared tests
    rng = np.random.default_rng(5)
    factors = np.stack([rng.integers(0, s, 400) for s in SIZES], 1).astype(np.int32)
    codes = factors.astype(np.float32)
    scores = reduced_downstream_task(
        codes[:300], factors[:300], codes[300:], factors[300:], num_classes=SIZES, num_stages=5
    )
    assert float(scores["300:mean_kept_test_accuracy"]) == 1.0
    assert float(scores["300:mean_removed_test_accuracy"]) < 0.6  # near chance (1/3, 1/4)


def test_bad_input_is_refused():
    flat = lambda images: images.reshape(len(images), -1)  # noqa: E731
    with pytest.raises(ValueError, match="num_experiments"):
        strong_downstream_task(jax.random.key(0), Identity(SIZES), flat, num_experiments=0)
    with pytest.raises(ValueError, match="no other factor"):
        strong_downstream_task(jax.random.key(0), Identity((3, 1)), flat, num_train=10)
    codes, factors = np.zeros((10, 2), np.float32), np.zeros((10, 2), np.int32)
    with pytest.raises(ValueError, match="num_to_remove must be < L"):
        reduced_downstream_task(codes, factors, codes, factors, num_to_remove=2)
    with pytest.raises(ValueError, match="num_to_remove must be >= 1"):
        reduced_downstream_task(codes, factors, codes, factors, num_to_remove=0)
