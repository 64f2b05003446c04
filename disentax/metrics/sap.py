"""Separated Attribute Predictability (SAP; Kumar, Sattigeri & Balakrishnan 2018).

``score[i, j]`` says how well code ``i`` alone predicts factor ``j``;
``SAP = mean_j (top1_i score[i, j] - top2_i score[i, j])``.

* discrete (the reference default): ``score[i, j]`` is the test accuracy of
  scikit-learn's ``LinearSVC(C=0.01, class_weight="balanced")`` trained on the one feature
  ``codes_train[:, i]`` to predict ``factors_train[:, j]``. Here that classifier is
  :mod:`disentax.metrics.estimators.svm` (the liblinear primal problem solved by Newton
  steps on prefix sums over the sorted codes), for all (code, factor, class) at once. It
  reaches the optimum to float32 precision where liblinear stops at a gradient tolerance,
  so the two can disagree on test points lying almost exactly on a decision threshold;
  ``tests/metrics`` measures the agreement with scikit-learn.
* continuous: ``score[i, j] = cov(x_i, y_j)^2 / (var(x_i) var(y_j))`` on the train split,
  0 for a code with variance ``<= 1e-12``.

Memory: codes are scored one at a time. A class count (``num_classes``, or the largest
factor value + 1) that cannot fit, or with ``num_classes * N >= 2**31`` (the int32 sort
keys), is refused up front with a ``ValueError``.

Degenerate input: a factor taking a single value (in training) cannot be classified
(scikit-learn raises) and is excluded from the average, with a warning when concrete.

References:
  Kumar, Sattigeri & Balakrishnan, "Variational Inference of Disentangled Latent Concepts
  from Unlabeled Observations", ICLR 2018.
  Fan et al., "LIBLINEAR: A Library for Large Linear Classification", JMLR 2008.
  Locatello et al., ICML 2019 (disentanglement_lib ``sap_score.py``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from disentax.metrics.checks import (
    CLASS_INDEX_HINT,
    check_codes,
    check_factors,
    check_memory,
    check_same_num_columns,
    check_same_num_points,
    class_counts,
    single_valued_factors,
)
from disentax.metrics.estimators.svm import linear_svc_1d_accuracy
from disentax.typing import Array, ArrayLike

__all__ = ["sap", "sap_from_scores", "sap_score_matrix"]


def sap_from_scores(scores: Array, valid: Array) -> Array:
    """``mean_j (top1_i scores[i, j] - top2_i scores[i, j])`` over factors with ``valid``."""
    top2 = jax.lax.top_k(scores.T, 2)[0]
    gap = top2[:, 0] - top2[:, 1]
    return jnp.sum(jnp.where(valid, gap, 0.0)) / jnp.sum(valid)


def sap_score_matrix(
    codes_train: ArrayLike,
    factors_train: ArrayLike,
    codes_test: ArrayLike | None = None,
    factors_test: ArrayLike | None = None,
    *,
    continuous_factors: bool = False,
    num_classes: int | None = None,
    c: float = 0.01,
    num_steps: int = 30,
) -> Array:
    """The ``[L, F]`` SAP score matrix (see the module docstring); same arguments as ``sap``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.metrics import sap_score_matrix
      >>> factors = jnp.stack([jnp.arange(600) % 3, jnp.arange(600) % 4], axis=1)
      >>> codes = factors.astype(jnp.float32)  # code i carries factor i only
      >>> sap_score_matrix(codes, factors, continuous_factors=True).round(2).tolist()
      [[1.0, 0.0], [0.0, 1.0]]
    """
    args = _check(codes_train, factors_train, codes_test, factors_test, continuous_factors)
    if continuous_factors:
        return jax.jit(_continuous_scores)(args[0], args[1])
    k = max(class_counts(num_classes, args[1], args[3]))
    _check_classes(k, args[0].shape[0], args[2].shape[0], args[1].shape[1])
    return _discrete_scores(*args, num_classes=k, c=float(c), num_steps=int(num_steps))


def _check(codes_train, factors_train, codes_test, factors_test, continuous):
    codes_train = check_codes(codes_train, name="codes_train")
    factors_train = check_factors(factors_train, name="factors_train")
    check_same_num_points(("codes_train", codes_train), ("factors_train", factors_train))
    if codes_train.shape[1] < 2:
        raise ValueError(f"codes_train must have at least 2 codes, got {codes_train.shape}")
    single_valued_factors(factors_train, metric="SAP", name="factors_train")
    if continuous:
        return codes_train, factors_train, None, None
    if codes_test is None or factors_test is None:
        raise ValueError("codes_test and factors_test are required unless continuous_factors")
    codes_test = check_codes(codes_test, name="codes_test")
    factors_test = check_factors(factors_test, name="factors_test")
    check_same_num_points(("codes_test", codes_test), ("factors_test", factors_test))
    check_same_num_columns(("codes_train", codes_train), ("codes_test", codes_test))
    check_same_num_columns(("factors_train", factors_train), ("factors_test", factors_test))
    return codes_train, factors_train, codes_test, factors_test


def _check_classes(num_classes: int, n: int, m: int, num_factors: int) -> None:
    cause = (
        f"num_classes = {num_classes} (given, or the largest value + 1 of factors_train and "
        f"factors_test) with {n} training points; {CLASS_INDEX_HINT}"
    )
    # Each code's sort keys are class * N + position, in int32.
    if num_classes * n >= 2**31:
        raise ValueError(f"sap needs num_classes * N < 2**31: {cause}")
    check_memory(4 * num_factors * (16 * n + 2 * m + 64 * num_classes), what="sap", cause=cause)


def _continuous_scores(codes: Array, factors: Array) -> Array:
    x = codes - codes.mean(0)
    y = factors.astype(jnp.float32)
    y = y - y.mean(0)
    cov = jnp.matmul(x.T, y, precision="highest")
    var_x = jnp.sum(x * x, 0)
    var_y = jnp.sum(y * y, 0)
    denom = var_x[:, None] * var_y[None, :]
    ok = (var_x[:, None] / (x.shape[0] - 1) > 1e-12) & (var_y[None, :] > 0)
    return jnp.where(ok, cov**2 / jnp.where(ok, denom, 1.0), 0.0)


@functools.partial(jax.jit, static_argnames=("num_classes", "c", "num_steps"))
def _discrete_scores(
    codes_train, factors_train, codes_test, factors_test, *, num_classes, c, num_steps
):
    accuracy = functools.partial(
        linear_svc_1d_accuracy, num_classes=num_classes, c=c, num_steps=num_steps
    )
    per_factor = jax.vmap(accuracy, in_axes=(None, 1, None, 1))

    def per_code(args):
        code_train, code_test = args  # [N], [M]
        order = jnp.argsort(code_train)
        return per_factor(code_train[order], factors_train[order], code_test, factors_test)

    # One code at a time (lax.map): memory O(F (N + M K)), not O(L F (N + M K)).
    return jax.lax.map(per_code, (codes_train.T, codes_test.T))  # [L, F]


def _single_valued(factors: Array) -> Array:
    return jnp.all(factors == factors[:1], axis=0)


def sap(
    codes_train: ArrayLike,
    factors_train: ArrayLike,
    codes_test: ArrayLike | None = None,
    factors_test: ArrayLike | None = None,
    *,
    continuous_factors: bool = False,
    num_classes: int | None = None,
    c: float = 0.01,
    num_steps: int = 30,
) -> Array:
    """SAP score.

    Args:
      codes_train: ``[N, L]`` training codes (``L >= 2``).
      factors_train: ``[N, F]`` int training factors.
      codes_test: ``[M, L]`` test codes (discrete form only).
      factors_test: ``[M, F]`` int test factors (discrete form only).
      continuous_factors: static; the squared-correlation form on the train split.
      num_classes: static bound on every factor value; read from concrete factors when
        omitted, required under ``jax.jit`` for the discrete form.
      c: LinearSVC's ``C`` (static).
      num_steps: static Newton iterations per one-feature SVM.

    Returns:
      scalar SAP in ``[0, 1]``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from disentax.metrics.sap import sap
      >>> factors = jnp.stack([jnp.arange(600) % 3, jnp.arange(600) % 4], axis=1)
      >>> codes = factors.astype(jnp.float32)  # the identity representation
      >>> round(float(sap(codes, factors, continuous_factors=True)), 2)
      1.0
      >>> noise = jax.random.normal(jax.random.key(0), (600, 2))  # independent of the factors
      >>> bool(sap(noise, factors, continuous_factors=True) < 0.05)
      True
    """
    scores = sap_score_matrix(
        codes_train,
        factors_train,
        codes_test,
        factors_test,
        continuous_factors=continuous_factors,
        num_classes=num_classes,
        c=c,
        num_steps=num_steps,
    )
    valid = ~_single_valued(jnp.asarray(factors_train))
    return jax.jit(sap_from_scores)(scores, valid)
