"""A one-feature linear SVM (scikit-learn's balanced ``LinearSVC``) in JAX: SAP's probe.

scikit-learn's ``LinearSVC(C, class_weight="balanced")`` on a single feature, for all
classes at once. LinearSVC solves, per class ``c`` (one-vs-rest), the liblinear primal
problem ``min_{w,b} 1/2 (w^2 + b^2) + sum_n C_n max(0, 1 - y_n (w x_n + b))^2`` with the
intercept penalised like a weight (``intercept_scaling=1``), ``C_n = C N/(K N_c)`` for
the class's own points and ``C`` for the rest (``C N/(K N_other)`` when ``K = 2``). In
one dimension the sums over the margin-violating points are prefix sums over the sorted
values, so each Newton step (generalised Hessian, a best-of-five step-size line search)
costs ``O(log N)``; ``num_steps`` steps from zero reach the optimum to float32 precision,
where liblinear's trust-region Newton stops at a gradient tolerance. The two classifiers
can therefore disagree on test points lying almost exactly on a decision threshold.
Prediction is the arg-max of the per-class decision values (the sign for two classes).

References:
  Fan et al., "LIBLINEAR: A Library for Large Linear Classification", JMLR 2008.
  Keerthi & DeCoste, "A Modified Finite Newton Method for Fast Solution of Large Scale
  Linear SVMs", JMLR 2005.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from disentax.typing import Array

__all__ = ["linear_svc_1d_accuracy"]

_STEP_SIZES = np.array([1.0, 0.5, 0.25, 0.1, 0.01])


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
    """Sorted-position intervals ``[lo, hi)`` of the margin violators.

    Positives violate the margin where ``w x + b < 1``, negatives where ``w x + b > -1``.
    """
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


def linear_svc_1d_accuracy(xs, y_by_x, x_test, y_test, *, num_classes, c, num_steps):
    """Test accuracy of a balanced one-vs-rest LinearSVC on one feature (no checks).

    Args:
      xs: ``[N]`` float training values of the feature, sorted ascending.
      y_by_x: ``[N]`` int32 training labels in the order of ``xs``, in
        ``[0, num_classes)``.
      x_test: ``[M]`` float test values of the feature.
      y_test: ``[M]`` int test labels.
      num_classes: static number of classes ``K`` (absent classes are never predicted).
      c: static ``C`` of ``LinearSVC(C=c, class_weight="balanced")``.
      num_steps: static maximum number of Newton steps per class.

    Returns:
      scalar accuracy on the test points.
    """
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
