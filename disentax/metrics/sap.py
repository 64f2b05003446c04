"""Separated Attribute Predictability (SAP; Kumar, Sattigeri & Balakrishnan 2018).

``score[i, j]`` says how well code ``i`` alone predicts factor ``j``;
``SAP = mean_j (top1_i score[i, j] - top2_i score[i, j])``.

* discrete (the reference default): ``score[i, j]`` is the test accuracy of
  scikit-learn's ``LinearSVC(C=0.01, class_weight="balanced")`` trained on the one feature
  ``codes_train[:, i]`` to predict ``factors_train[:, j]``. Here that classifier is
  reproduced in JAX for all (code, factor, class) at once. LinearSVC solves, per class
  ``c`` (one-vs-rest), the liblinear primal problem
  ``min_{w,b} 1/2 (w^2 + b^2) + sum_n C_n max(0, 1 - y_n (w x_n + b))^2`` with the
  intercept penalised like a weight (``intercept_scaling=1``), ``C_n = C N/(K N_c)`` for
  the class's own points and ``C`` for the rest (``C N/(K N_other)`` when ``K = 2``). In
  one dimension the sums over the margin-violating points are prefix sums over the sorted
  codes, so each Newton step (generalised Hessian, a best-of-ten step-halving line search)
  costs ``O(log N)``; ``num_steps`` steps from zero reach the optimum to float32
  precision, where liblinear's trust-region Newton stops at a gradient tolerance. The two
  classifiers can therefore disagree on test points lying almost exactly on a decision
  threshold; ``tests/metrics`` measures the agreement with scikit-learn. Prediction is
  the arg-max of the per-class decision values (the sign for two classes).
* continuous: ``score[i, j] = cov(x_i, y_j)^2 / (var(x_i) var(y_j))`` on the train split,
  0 for a code with variance ``<= 1e-12``.

Degenerate input: a factor taking a single value (in training) cannot be classified
(scikit-learn raises) and is excluded from the average, with a warning when concrete.

References:
  Kumar, Sattigeri & Balakrishnan, "Variational Inference of Disentangled Latent Concepts
  from Unlabeled Observations", ICLR 2018.
  Fan et al., "LIBLINEAR: A Library for Large Linear Classification", JMLR 2008.
  Keerthi & DeCoste, "A Modified Finite Newton Method for Fast Solution of Large Scale
  Linear SVMs", JMLR 2005.
  Locatello et al., ICML 2019 (disentanglement_lib ``sap_score.py``).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from disentax.metrics.checks import (
    check_codes,
    check_factors,
    check_same_num_columns,
    check_same_num_points,
    class_counts,
    single_valued_factors,
)
from disentax.typing import Array, ArrayLike

__all__ = ["sap", "sap_from_scores", "sap_score_matrix"]

_STEP_SIZES = np.array([1.0, 0.5, 0.25, 0.1, 0.01])


def sap_from_scores(scores: Array, valid: Array) -> Array:
    """``mean_j (top1_i scores[i, j] - top2_i scores[i, j])`` over factors with ``valid``."""
    top2 = jax.lax.top_k(scores.T, 2)[0]
    gap = top2[:, 0] - top2[:, 1]
    return jnp.sum(jnp.where(valid, gap, 0.0)) / jnp.sum(valid)


def _prefix(values: Array) -> Array:
    """``[N+1, 3]`` prefix sums of ``(1, x, x^2)`` over a ``[N]`` vector."""
    powers = jnp.stack([jnp.ones_like(values), values, values * values], axis=-1)
    return jnp.concatenate([jnp.zeros((1, 3), values.dtype), jnp.cumsum(powers, 0)])


class _Sorted(NamedTuple):
    """One (code, factor) training set, sorted for interval sums.

    ``xs``: codes in ascending order. ``keys``: ascending ``y * N + position`` (position in
    ``xs``), i.e. the points grouped by class and sorted by code within a class.
    ``total``/``grouped``: ``(1, x, x^2)`` prefix sums in the two orders.
    """

    xs: Array
    keys: Array
    total: Array
    grouped: Array


def _sort_pair(xs: Array, y_by_x: Array) -> _Sorted:
    n = xs.shape[0]
    keys = jnp.sort(y_by_x * n + jnp.arange(n, dtype=jnp.int32))
    return _Sorted(xs, keys, _prefix(xs), _prefix(xs[keys % n]))


def _class_sums(data: _Sorted, c: Array, lo: Array, hi: Array) -> tuple[Array, Array]:
    """Moments of class ``c``'s points and of all points at sorted positions ``[lo, hi)``."""
    n = data.xs.shape[0]
    hi = jnp.maximum(lo, hi)
    idx = jnp.searchsorted(data.keys, c * n + jnp.stack([lo, hi]), side="left")
    return data.grouped[idx[1]] - data.grouped[idx[0]], data.total[hi] - data.total[lo]


def _violator_intervals(xs: Array, w: Array, b: Array):
    """Sorted-position intervals of margin violators: positives ``w x + b < 1``, negatives
    ``w x + b > -1`` (``[lo, hi)`` each)."""
    n = xs.shape[0]
    safe_w = jnp.where(w == 0, 1.0, w)
    thresholds = jnp.stack([(1.0 - b) / safe_w, (-1.0 - b) / safe_w])
    left = jnp.searchsorted(xs, thresholds, side="left")
    right = jnp.searchsorted(xs, thresholds, side="right")
    zero = jnp.int32(0)
    pos = jnp.where(
        w > 0,
        jnp.stack([zero, left[0]]),
        jnp.where(w < 0, jnp.stack([right[0], n]), jnp.stack([zero, jnp.where(b < 1, n, 0)])),
    )
    neg = jnp.where(
        w > 0,
        jnp.stack([right[1], n]),
        jnp.where(w < 0, jnp.stack([zero, left[1]]), jnp.stack([zero, jnp.where(b > -1, n, 0)])),
    )
    return pos, neg


def _svm_1d(data: _Sorted, c: Array, c_pos: Array, c_neg: Array, *, num_steps: int) -> Array:
    """Solves class ``c``'s one-vs-rest squared-hinge SVM; returns ``theta = (w, b)``."""

    def moments(theta):
        pos, neg = _violator_intervals(data.xs, theta[0], theta[1])
        s, _ = _class_sums(data, c, pos[0], pos[1])
        neg_class, neg_all = _class_sums(data, c, neg[0], neg[1])
        return s, neg_all - neg_class

    def objective(theta):
        w, b = theta
        s, t = moments(theta)
        pos = (1 - b) ** 2 * s[0] - 2 * (1 - b) * w * s[1] + w * w * s[2]
        neg = (1 + b) ** 2 * t[0] + 2 * (1 + b) * w * t[1] + w * w * t[2]
        return 0.5 * (w * w + b * b) + c_pos * pos + c_neg * neg

    def cond(carry):
        i, _, _, done = carry
        return (i < num_steps) & ~done

    def step(carry):
        i, theta, value, _ = carry
        w, b = theta
        s, t = moments(theta)
        grad_w = (
            w - 2 * c_pos * ((1 - b) * s[1] - w * s[2]) + 2 * c_neg * ((1 + b) * t[1] + w * t[2])
        )
        grad_b = (
            b - 2 * c_pos * ((1 - b) * s[0] - w * s[1]) + 2 * c_neg * ((1 + b) * t[0] + w * t[1])
        )
        h_ww = 1 + 2 * (c_pos * s[2] + c_neg * t[2])
        h_wb = 2 * (c_pos * s[1] + c_neg * t[1])
        h_bb = 1 + 2 * (c_pos * s[0] + c_neg * t[0])
        det = h_ww * h_bb - h_wb * h_wb
        direction = jnp.stack([h_wb * grad_b - h_bb * grad_w, h_wb * grad_w - h_ww * grad_b]) / det
        candidates = theta[None] + jnp.asarray(_STEP_SIZES, theta.dtype)[:, None] * direction
        values = jax.vmap(objective)(candidates)
        best = jnp.argmin(values)
        improved = values[best] < value
        theta = jnp.where(improved, candidates[best], theta)
        return i + 1, theta, jnp.minimum(values[best], value), ~improved

    theta0 = jnp.zeros((2,), data.xs.dtype)
    carry = (0, theta0, objective(theta0), False)
    return jax.lax.while_loop(cond, step, carry)[1]


def _linear_svc_accuracy(xs, y_by_x, x_test, y_test, *, num_classes, c, num_steps):
    """Test accuracy of the 1-D balanced LinearSVC for one (code, factor) pair."""
    n = xs.shape[0]
    data = _sort_pair(xs, y_by_x)
    classes = jnp.arange(num_classes, dtype=jnp.int32)
    starts = jnp.searchsorted(data.keys, jnp.arange(num_classes + 1, dtype=jnp.int32) * n)
    counts = jnp.diff(starts).astype(xs.dtype)
    present = counts > 0
    num_present = jnp.sum(present)
    weight = n / (num_present * jnp.where(present, counts, 1.0))  # "balanced" class weights
    other_weight = jnp.sum(jnp.where(present, weight, 0.0)) - weight  # the other class if K=2
    c_pos = c * weight
    c_neg = jnp.where(num_present == 2, c * other_weight, c)
    solve = functools.partial(_svm_1d, data, num_steps=num_steps)
    theta = jax.vmap(solve)(classes, c_pos, c_neg)  # [K, 2]
    decision = x_test[:, None] * theta[:, 0] + theta[:, 1]
    predicted = jnp.argmax(jnp.where(present, decision, -jnp.inf), axis=1)
    return jnp.mean(predicted == y_test)


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
    """The ``[L, F]`` SAP score matrix (see the module docstring); same arguments as ``sap``."""
    args = _check(codes_train, factors_train, codes_test, factors_test, continuous_factors)
    if continuous_factors:
        return jax.jit(_continuous_scores)(args[0], args[1])
    k = max(class_counts(num_classes, args[1], args[3]))
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
        _linear_svc_accuracy, num_classes=num_classes, c=c, num_steps=num_steps
    )
    order = jnp.argsort(codes_train, axis=0)  # [N, L]: one sort per code
    xs = jnp.take_along_axis(codes_train, order, axis=0)
    y_by_x = factors_train[order]  # [N, L, F]
    per_factor = jax.vmap(accuracy, in_axes=(None, 1, None, 1))
    per_code = jax.vmap(per_factor, in_axes=(1, 1, 1, None))
    return per_code(xs, y_by_x, codes_test, factors_test)  # [L, F]


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
