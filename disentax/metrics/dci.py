"""DCI: Disentanglement, Completeness and Informativeness (Eastwood & Williams 2018).

An importance matrix ``R [L, F]`` (how much code ``i`` is used to predict factor ``j``)
is read two ways, exactly as disentanglement_lib's ``evaluation/metrics/dci.py``:

* disentanglement ``D = sum_i rho_i (1 - H_F(R[i, :]))`` with ``rho_i = sum_j R_ij / sum R``;
* completeness ``C = sum_j rho_j (1 - H_L(R[:, j]))`` with ``rho_j = sum_i R_ij / sum R``;

where ``H_K`` is the entropy in base ``K`` of a row/column normalised after adding
``1e-11`` (``scipy.stats.entropy`` semantics) and an all-zero ``R`` gets uniform weights.
Informativeness is the mean over factors of the predictor's accuracy (train and test), as
the reference reports it (its lists are named ``*_loss`` but hold accuracies).

Estimators of ``R``:

* ``"gbt"`` (default, jittable): :func:`disentax.metrics.estimators.gradient_boosted_trees`,
  the reference's ``GradientBoostingClassifier()`` semantics on histogram splits, all
  factors and classes in one program.
* ``"sklearn"``: host-side, NOT jittable: one scikit-learn ``GradientBoostingClassifier()``
  per factor, byte-for-byte the reference's ``compute_importance_gbt`` (for parity runs).
  scikit-learn's trees break ties between features with the NumPy global RNG.
* ``"lasso"`` (jittable): Eastwood & Williams' original linear estimator: codes and factor
  values standardised with the training statistics, one Lasso per factor
  (:func:`disentax.metrics.estimators.fit_lasso`), ``R = |W|``. Informativeness is then the
  coefficient of determination ``R^2 = 1 - MSE / Var`` of the standardised factor on each
  split (higher is better, like the accuracies).

Degenerate input: a factor that takes a single value on the training split cannot be
fit by a classifier (scikit-learn raises); :func:`dci` raises a ``ValueError`` naming it
when the factors are concrete. Under ``jit`` such a factor's column of ``R`` is 0, so it
gets weight 0 in ``C`` and does not move ``D``.

References:
  Eastwood & Williams, "A Framework for the Quantitative Evaluation of Disentangled
  Representations", ICLR 2018.
  Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning of
  Disentangled Representations", ICML 2019 (disentanglement_lib).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from disentax.metrics.checks import (
    check_train_test,
    is_concrete,
)
from disentax.metrics.estimators.gbt import gradient_boosted_trees
from disentax.metrics.estimators.linear import fit_lasso
from disentax.typing import Array, ArrayLike

__all__ = ["completeness", "dci", "dci_from_importance", "disentanglement"]

_ESTIMATORS = ("gbt", "sklearn", "lasso")


def _entropy_base(p: Array, axis: int, base: int) -> Array:
    """``scipy.stats.entropy(p + 1e-11, base=base)`` along ``axis`` (normalises first)."""
    p = p + 1e-11
    p = p / jnp.sum(p, axis=axis, keepdims=True)
    return -jnp.sum(p * jnp.log(p), axis=axis) / jnp.log(float(base))


def _weights(importance: Array, axis: int) -> Array:
    total = jnp.sum(importance)
    safe = jnp.where(total == 0, jnp.ones_like(importance), importance)
    return jnp.sum(safe, axis=axis) / jnp.sum(safe)


def disentanglement(importance: ArrayLike) -> Array:
    """Importance-weighted ``1 - H_F`` of each code's row of ``importance [L, F]``.

    With one factor (``F = 1``) the base-1 entropy is undefined, as in the reference;
    such a matrix gives NaN.

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.metrics import disentanglement
      >>> round(float(disentanglement(jnp.eye(3))), 2)  # each code predicts one factor
      1.0
      >>> bool(disentanglement(jnp.ones((3, 3))) < 0.01)  # each code predicts all alike
      True
    """
    importance = jnp.asarray(importance, jnp.float32)
    per_code = 1.0 - _entropy_base(importance, axis=1, base=importance.shape[1])
    return jnp.sum(per_code * _weights(importance, axis=1))


def completeness(importance: ArrayLike) -> Array:
    """Importance-weighted ``1 - H_L`` of each factor's column of ``importance [L, F]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.metrics import completeness
      >>> round(float(completeness(jnp.eye(3))), 2)  # each factor is read from one code
      1.0
      >>> bool(completeness(jnp.ones((3, 3))) < 0.01)
      True
    """
    importance = jnp.asarray(importance, jnp.float32)
    per_factor = 1.0 - _entropy_base(importance, axis=0, base=importance.shape[0])
    return jnp.sum(per_factor * _weights(importance, axis=0))


def dci_from_importance(importance: ArrayLike) -> tuple[Array, Array]:
    """``(disentanglement, completeness)`` of an importance matrix ``[L, F]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.metrics import dci_from_importance
      >>> importance = jnp.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])  # [L, F], code 2 unused
      >>> [round(float(s), 2) for s in dci_from_importance(importance)]
      [1.0, 1.0]
    """
    return disentanglement(importance), completeness(importance)


def _check_inputs(codes_train, factors_train, codes_test, factors_test):
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test, min_train_points=2
    )
    if codes_train.shape[1] < 2:
        raise ValueError(
            "codes_train needs at least 2 codes (columns): completeness uses the entropy in "
            f"base L; got shape {tuple(codes_train.shape)}"
        )
    if factors_train.shape[1] < 2:
        raise ValueError(
            "factors_train needs at least 2 factors (columns): disentanglement uses the "
            f"entropy in base F; got shape {tuple(factors_train.shape)}"
        )
    if is_concrete(factors_train):
        values = np.asarray(factors_train)
        constant = np.nonzero((values == values[:1]).all(axis=0))[0]
        if constant.size:
            raise ValueError(
                f"factors_train columns {constant.tolist()} take a single value; a classifier "
                "cannot be fit to them (drop them before calling dci)"
            )
    return codes_train, factors_train, codes_test, factors_test


def _resolve_num_classes(num_classes, factors_train, factors_test):
    if num_classes is not None:
        num_classes = tuple(int(k) for k in num_classes)
        if len(num_classes) != factors_train.shape[1]:
            raise ValueError(
                f"num_classes must hold one count per factor ({factors_train.shape[1]}), "
                f"got {num_classes}"
            )
        return num_classes
    if not (is_concrete(factors_train) and is_concrete(factors_test)):
        raise ValueError(
            "num_classes must be given when the factors are traced (under jit/vmap): a tuple "
            "with the number of values of each factor"
        )
    top = np.maximum(np.asarray(factors_train).max(0), np.asarray(factors_test).max(0))
    return tuple(int(v) + 1 for v in top)


def dci(
    codes_train: ArrayLike,
    factors_train: ArrayLike,
    codes_test: ArrayLike,
    factors_test: ArrayLike,
    *,
    estimator: str = "gbt",
    num_classes: tuple[int, ...] | None = None,
    num_bins: int = 32,
    num_stages: int = 100,
    precision: str = "int8",
    lasso_alpha: float = 0.02,
) -> dict[str, Array]:
    """DCI scores of codes against ground-truth factors.

    Args:
      codes_train: ``[N, L]`` float codes used to fit the predictors (``L >= 2``).
      factors_train: ``[N, F]`` int factor values (``F >= 2``).
      codes_test: ``[M, L]`` codes for the test accuracy.
      factors_test: ``[M, F]`` factor values.
      estimator: ``"gbt"`` (jittable default), ``"sklearn"`` (host-side reference path,
        not jittable) or ``"lasso"`` (jittable); see the module docstring.
      num_classes: static number of values of each factor (``"gbt"``); by default
        ``max + 1`` over both splits, which needs concrete factors.
      num_bins: histogram bins per code of the ``"gbt"`` estimator.
      num_stages: boosting stages (``"gbt"``; the reference's 100).
      precision: ``"int8"`` or ``"float32"`` histograms (``"gbt"``).
      lasso_alpha: L1 strength of the ``"lasso"`` estimator (on standardised data).

    Returns:
      dict with scalar ``disentanglement``, ``completeness``, ``informativeness_train``,
      ``informativeness_test`` and the importance matrix ``importance [L, F]`` (columns
      sum to 1 for the tree estimators).

    Raises:
      ValueError / TypeError: bad shapes, dtypes or values (see ``disentax.metrics.checks``),
        an unknown estimator, a single-valued training factor, or ``"sklearn"`` under a
        JAX transformation.

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.metrics.dci import dci
      >>> factors = jnp.stack([jnp.arange(600) % 3, jnp.arange(600) % 4], axis=1)
      >>> codes = factors.astype(jnp.float32)  # the identity representation
      >>> scores = dci(codes, factors, codes, factors, num_stages=10)
      >>> round(float(scores["disentanglement"]), 2), round(float(scores["completeness"]), 2)
      (1.0, 1.0)
      >>> scores["importance"].shape  # [L, F]
      (2, 2)
    """
    if estimator not in _ESTIMATORS:
        raise ValueError(f"estimator must be one of {_ESTIMATORS}, got {estimator!r}")
    codes_train, factors_train, codes_test, factors_test = _check_inputs(
        codes_train, factors_train, codes_test, factors_test
    )
    if estimator == "sklearn":
        importance, acc_train, acc_test = _importance_sklearn(
            codes_train, factors_train, codes_test, factors_test
        )
    elif estimator == "gbt":
        num_classes = _resolve_num_classes(num_classes, factors_train, factors_test)
        fit = gradient_boosted_trees(
            codes_train,
            factors_train,
            codes_test,
            num_classes=num_classes,
            num_stages=num_stages,
            num_bins=num_bins,
            precision=precision,
        )
        importance = fit.importance
        acc_train = jnp.mean(fit.train_predictions == factors_train)
        acc_test = jnp.mean(fit.eval_predictions == factors_test)
    else:
        importance, acc_train, acc_test = _importance_lasso(
            codes_train, factors_train, codes_test, factors_test, alpha=lasso_alpha
        )
    d, c = dci_from_importance(importance)
    return {
        "disentanglement": d,
        "completeness": c,
        "informativeness_train": acc_train,
        "informativeness_test": acc_test,
        "importance": importance,
    }


def _importance_sklearn(codes_train, factors_train, codes_test, factors_test):
    """The reference's ``compute_importance_gbt`` with scikit-learn (host-side, NOT jittable)."""
    arrays = (codes_train, factors_train, codes_test, factors_test)
    if not all(is_concrete(a) for a in arrays):
        raise TypeError(
            "estimator='sklearn' runs scikit-learn on the host and cannot be traced "
            "(jit/vmap); use estimator='gbt'"
        )
    from sklearn.ensemble import GradientBoostingClassifier

    x_train, x_test = np.asarray(codes_train, np.float64), np.asarray(codes_test, np.float64)
    y_train, y_test = np.asarray(factors_train), np.asarray(factors_test)
    importance = np.zeros((x_train.shape[1], y_train.shape[1]))
    acc_train, acc_test = [], []
    for j in range(y_train.shape[1]):
        model = GradientBoostingClassifier().fit(x_train, y_train[:, j])
        importance[:, j] = np.abs(model.feature_importances_)
        acc_train.append(np.mean(model.predict(x_train) == y_train[:, j]))
        acc_test.append(np.mean(model.predict(x_test) == y_test[:, j]))
    return (
        jnp.asarray(importance, jnp.float32),
        jnp.asarray(np.mean(acc_train), jnp.float32),
        jnp.asarray(np.mean(acc_test), jnp.float32),
    )


def _standardise(train: Array, test: Array) -> tuple[Array, Array]:
    mean, std = jnp.mean(train, axis=0), jnp.std(train, axis=0)
    std = jnp.where(std > 0, std, 1.0)
    return (train - mean) / std, (test - mean) / std


def _r_squared(target: Array, prediction: Array) -> Array:
    """Mean over columns of ``1 - MSE / Var(target)`` (0-variance columns count as 0)."""
    var = jnp.var(target, axis=0)
    mse = jnp.mean(jnp.square(target - prediction), axis=0)
    return jnp.mean(jnp.where(var > 0, 1.0 - mse / jnp.where(var > 0, var, 1.0), 0.0))


def _importance_lasso(codes_train, factors_train, codes_test, factors_test, *, alpha):
    x_train, x_test = _standardise(codes_train, codes_test)
    y_train, y_test = _standardise(
        factors_train.astype(jnp.float32), factors_test.astype(jnp.float32)
    )
    params = fit_lasso(x_train, y_train, alpha=alpha)
    importance = jnp.abs(params.weights)  # [L, F]
    r2_train = _r_squared(y_train, x_train @ params.weights + params.bias)
    r2_test = _r_squared(y_test, x_test @ params.weights + params.bias)
    return importance, r2_train, r2_test
