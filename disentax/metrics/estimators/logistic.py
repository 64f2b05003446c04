"""Jittable multinomial logistic regression probes, fitted by L-BFGS with a fixed budget.

The classifier the metrics fit on codes (explicitness, BetaVAE score, downstream task):
a pure function of arrays that runs under ``jax.jit`` and ``jax.vmap`` (e.g. one probe
per factor, or per model), with static sizes and a fixed number of optimisation steps.

The objective follows scikit-learn's so that scores are comparable with the reference:
``fit_logistic_regression`` minimises ``sum_i CE(y_i, softmax(x_i W + b)) + l2/2 ||W||^2``,
i.e. ``LogisticRegression(C=1/l2)`` (multinomial, intercept not penalised), by L-BFGS
from zero, like scikit-learn's ``lbfgs`` solver with ``max_iter`` iterations. Classes
absent from ``y`` get no column in scikit-learn; here they keep their column but are
masked out (probability exactly 0). ``fit_logistic_regression_heads`` fits one such
probe per label column, all in one batched L-BFGS run.

References:
  Pedregosa et al., "Scikit-learn: Machine Learning in Python", JMLR 2011.
  Liu & Nocedal, "On the limited memory BFGS method for large scale optimization", 1989.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from disentax.metrics.checks import (
    CLASS_INDEX_HINT,
    check_codes,
    check_labels,
    check_memory,
    check_nonnegative,
    check_positive_int,
    check_same_num_points,
)
from disentax.metrics.estimators.lbfgs import minimize_lbfgs, minimize_lbfgs_batched
from disentax.typing import Array, ArrayLike

__all__ = [
    "LogisticHeadsParams",
    "LogisticParams",
    "fit_logistic_regression",
    "fit_logistic_regression_heads",
    "predict_logistic_heads_proba",
    "predict_logistic_logits",
    "predict_logistic_proba",
]

_MASKED_LOGIT = -1e30


class LogisticParams(NamedTuple):
    """A fitted multinomial logistic regression.

    Attributes:
      weights: ``[D, K]`` coefficients.
      bias: ``[K]`` intercepts.
      class_present: ``[K]`` bool, classes seen in training (others get probability 0).
    """

    weights: Array
    bias: Array
    class_present: Array


def predict_logistic_logits(params: LogisticParams, x: ArrayLike) -> Array:
    """Logits ``[N, K]`` of a fitted probe; absent classes get a very negative logit.

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.metrics.estimators import fit_logistic_regression, predict_logistic_logits
      >>> x = jnp.array([[0.0], [1.0], [2.0], [3.0]])
      >>> params = fit_logistic_regression(x, jnp.array([0, 0, 1, 1]), num_classes=3)
      >>> logits = predict_logistic_logits(params, x)  # class 2 never seen: very negative
      >>> logits.shape, bool((logits[:, 2] < logits[:, :2].min()).all())
      ((4, 3), True)
    """
    logits = (
        jnp.matmul(jnp.asarray(x, jnp.float32), params.weights, precision="highest") + params.bias
    )
    return jnp.where(params.class_present, logits, _MASKED_LOGIT)


def predict_logistic_proba(params: LogisticParams, x: ArrayLike) -> Array:
    """Class probabilities ``[N, K]`` (rows sum to 1; absent classes get 0).

    Args:
      params: from ``fit_logistic_regression``.
      x: ``[N, D]`` features.

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.metrics.estimators import fit_logistic_regression, predict_logistic_proba
      >>> x = jnp.array([[0.0], [1.0], [2.0], [3.0]])
      >>> params = fit_logistic_regression(x, jnp.array([0, 0, 1, 1]), num_classes=2)
      >>> proba = predict_logistic_proba(params, x)
      >>> proba.sum(axis=1).round(4).tolist(), proba.argmax(axis=1).tolist()
      ([1.0, 1.0, 1.0, 1.0], [0, 0, 1, 1])
    """
    return jax.nn.softmax(predict_logistic_logits(params, x), axis=-1)


def fit_logistic_regression(
    x: ArrayLike,
    y: ArrayLike,
    *,
    num_classes: int,
    l2: float | Array = 1.0,
    num_steps: int = 100,
    tol: float = 1e-4,
) -> LogisticParams:
    """Fits a multinomial logistic regression by L-BFGS with a fixed step budget.

    Minimises ``sum_i -log softmax(x_i W + b)[y_i] + l2/2 ||W||_F^2`` (the intercept is
    not penalised), which is scikit-learn's ``LogisticRegression(C=1/l2)``; the default
    ``l2=1`` matches its default ``C=1``. Internally the objective is divided by ``N``.

    Args:
      x: ``[N, D]`` float features (not standardised here).
      y: ``[N]`` int labels in ``[0, num_classes)``.
      num_classes: static number of classes ``K``.
      l2: L2 strength (``1/C``); may be a traced scalar (vmapped sweeps over C).
      num_steps: static maximum number of L-BFGS iterations (scikit-learn's
        ``max_iter=100``).
      tol: stop once the largest absolute gradient entry of the ``N``-normalised
        objective is ``<= tol`` (scikit-learn's ``tol=1e-4``, passed to SciPy's L-BFGS-B
        as ``gtol`` on the same normalised objective). Under ``vmap`` every probe runs
        until the slowest has converged, which only refines the others.

    Returns:
      ``LogisticParams`` with ``weights [D, K]``, ``bias [K]``, ``class_present [K]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.metrics.estimators import fit_logistic_regression, predict_logistic_proba
      >>> x = jnp.array([[0.0], [1.0], [2.0], [3.0]])
      >>> params = fit_logistic_regression(x, jnp.array([0, 0, 1, 1]), num_classes=2)
      >>> predict_logistic_proba(params, x).argmax(axis=1).tolist()
      [0, 0, 1, 1]
    """
    x = check_codes(x, name="x")
    y = check_labels(y, num_classes, name="y")
    check_same_num_points(("x", x), ("y", y))
    _check_memory(int(num_classes), x.shape[0], "fit_logistic_regression")
    check_nonnegative(l2, "l2")
    check_positive_int(num_steps, "num_steps")
    check_nonnegative(tol, "tol")
    return _fit_logistic(
        x,
        y,
        jnp.asarray(l2, jnp.float32),
        num_classes=int(num_classes),
        num_steps=int(num_steps),
        tol=float(tol),
    )


@functools.partial(jax.jit, static_argnames=("num_classes", "num_steps", "tol"))
def _fit_logistic(x: Array, y: Array, l2: Array, *, num_classes: int, num_steps: int, tol: float):
    n, d = x.shape
    present = jnp.zeros((num_classes,), bool).at[y].set(True)
    size = (d + 1) * num_classes

    def objective(theta):
        w = theta[: d * num_classes].reshape(d, num_classes)
        b = theta[d * num_classes :]
        logits = jnp.where(present, jnp.matmul(x, w, precision="highest") + b, _MASKED_LOGIT)
        logp = jax.nn.log_softmax(logits, axis=-1)
        nll = -jnp.take_along_axis(logp, y[:, None], axis=1).sum()
        return (nll + 0.5 * l2 * jnp.sum(w * w)) / n

    theta = minimize_lbfgs(
        jax.value_and_grad(objective),
        jnp.zeros((size,), jnp.float32),
        num_steps=num_steps,
        tol=tol,
    )
    weights = theta[: d * num_classes].reshape(d, num_classes)
    return LogisticParams(weights=weights, bias=theta[d * num_classes :], class_present=present)


def _check_memory(num_columns: int, num_points: int, what: str) -> None:
    check_memory(
        24 * num_columns * num_points,
        what=what,
        cause=f"{num_columns} class columns (num_classes) over {num_points} points; "
        + CLASS_INDEX_HINT,
    )


class LogisticHeadsParams(NamedTuple):
    """Several multinomial logistic regressions on the same features, side by side.

    Head ``h`` owns the columns ``offsets[h] : offsets[h] + class_counts[h]``.

    Attributes:
      weights: ``[D, C]`` coefficients, ``C = sum(class_counts)``.
      bias: ``[C]`` intercepts.
      class_present: ``[C]`` bool, classes seen in training.
      head: ``[C]`` int32, the head of each column.
    """

    weights: Array
    bias: Array
    class_present: Array
    head: Array


def _heads_softmax(logits: Array, head: Array, num_heads: int) -> tuple[Array, Array]:
    """Per-head log-sum-exp ``[N, H]`` and softmax ``[N, C]`` of ``logits [N, C]``."""
    shift = jax.lax.stop_gradient(
        jax.ops.segment_max(logits.T, head, num_segments=num_heads, indices_are_sorted=True).T
    )  # [N, H]
    exps = jnp.exp(logits - shift[:, head])
    sums = jnp.matmul(
        exps, jax.nn.one_hot(head, num_heads, dtype=exps.dtype), precision="highest"
    )  # [N, H]
    return jnp.log(sums) + shift, exps / sums[:, head]


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _heads_logsumexp(logits: Array, class_counts: tuple[int, ...]) -> Array:
    """Per-head log-sum-exp ``[N, H]`` of ``logits [N, C]`` for static contiguous heads.

    Static column slices per head, no transposes or scatters (``segment_max``); the
    derivative (each head's softmax) is written out, as automatic differentiation of the
    slices would pad and add their cotangents, slowly on XLA:CPU.
    """
    return _heads_logsumexp_fwd(logits, class_counts)[0]


def _heads_logsumexp_fwd(logits, class_counts):
    bounds = np.concatenate([[0], np.cumsum(class_counts)]).tolist()
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        block = logits[:, lo:hi]
        shift = jnp.max(block, axis=1, keepdims=True)
        out.append(jnp.log(jnp.sum(jnp.exp(block - shift), axis=1)) + shift[:, 0])
    lse = jnp.stack(out, axis=1)
    return lse, (logits, lse)


def _heads_logsumexp_bwd(class_counts, residuals, cotangent):
    logits, lse = residuals
    sizes, total = np.asarray(class_counts), int(sum(class_counts))

    def repeat(values):  # [N, H] -> [N, C], each head's value on its columns
        return jnp.repeat(values, sizes, axis=1, total_repeat_length=total)

    return (repeat(cotangent) * jnp.exp(logits - repeat(lse)),)


_heads_logsumexp.defvjp(_heads_logsumexp_fwd, _heads_logsumexp_bwd)


def predict_logistic_heads_proba(params: LogisticHeadsParams, x: ArrayLike) -> Array:
    """Class probabilities ``[N, C]``: each head's columns sum to 1 (absent classes 0)."""
    logits = (
        jnp.matmul(jnp.asarray(x, jnp.float32), params.weights, precision="highest") + params.bias
    )
    logits = jnp.where(params.class_present, logits, _MASKED_LOGIT)
    # Head ids are < C, a static bound (ids without columns are simply unused).
    return _heads_softmax(logits, params.head, params.head.shape[0])[1]


def fit_logistic_regression_heads(
    x: ArrayLike,
    labels: ArrayLike,
    *,
    class_counts: tuple[int, ...],
    l2: float | Array = 1.0,
    num_steps: int = 100,
    tol: float = 1e-4,
) -> LogisticHeadsParams:
    """Fits one multinomial logistic regression per label column, all in one L-BFGS run.

    The objective is the sum of the heads' ``fit_logistic_regression`` objectives; it
    separates over heads, so its minimiser is the set of per-head minimisers, and it
    stops once every head's gradient is ``<= tol``. Compared with ``vmap`` over padded
    heads, heads with few classes cost no more than their own columns.

    Args:
      x: ``[N, D]`` features.
      labels: ``[N, H]`` int labels, column ``h`` in ``[0, class_counts[h])``.
      class_counts: static number of classes per head.
      l2: L2 strength (``1/C``) of every head; may be traced.
      num_steps: static maximum number of L-BFGS iterations.
      tol: stop once every head's largest absolute gradient entry is ``<= tol``.

    Returns:
      ``LogisticHeadsParams`` (columns of head ``h`` at ``sum(class_counts[:h])``).
    """
    x = check_codes(x, name="x")
    labels_arr = jnp.asarray(labels) if not isinstance(labels, np.ndarray) else labels
    if labels_arr.ndim != 2 or labels_arr.shape[1] != len(class_counts):
        raise ValueError(
            f"labels must have shape [N, H] with H = len(class_counts) = {len(class_counts)}, "
            f"got {tuple(labels_arr.shape)}"
        )
    columns = [
        check_labels(labels_arr[:, h], int(k), name=f"labels[:, {h}]")
        for h, k in enumerate(class_counts)
    ]
    del columns  # checked column by column (concrete input); the kernel takes the array
    check_same_num_points(("x", x), ("labels", labels_arr))
    _check_memory(sum(int(k) for k in class_counts), x.shape[0], "fit_logistic_regression_heads")
    check_nonnegative(l2, "l2")
    check_positive_int(num_steps, "num_steps")
    return logistic_heads_lbfgs(
        x,
        jnp.asarray(labels_arr, jnp.int32),
        jnp.asarray(l2, jnp.float32),
        class_counts=tuple(int(k) for k in class_counts),
        num_steps=int(num_steps),
        tol=float(tol),
    )


@functools.partial(jax.jit, static_argnames=("class_counts", "num_steps", "tol"))
def logistic_heads_lbfgs(x, labels, l2, *, class_counts, num_steps, tol) -> LogisticHeadsParams:
    """The kernel of :func:`fit_logistic_regression_heads` (no checks).

    ``x [N, D]`` float32, ``labels [N, H]`` int32, scalar ``l2``; jitted with static
    ``class_counts``, ``num_steps`` and ``tol``, for metric kernels that fit the probes
    inside their own trace (explicitness).
    """
    n, d = x.shape
    num_heads = len(class_counts)
    total = sum(class_counts)
    offsets = np.concatenate([[0], np.cumsum(class_counts)[:-1]]).astype(np.int32)
    head = jnp.asarray(np.repeat(np.arange(num_heads), class_counts).astype(np.int32))
    columns = labels + offsets  # [N, H] global column of each label
    present = jnp.zeros((total,), bool).at[columns.reshape(-1)].set(True)
    # Each head's parameters are a row of theta [H, (D + 1) * K_max] (padding unused);
    # column c of the joint model is entry (head[c], local[c]) of the padded blocks.
    widest = max(class_counts)
    local = np.concatenate([np.arange(k) for k in class_counts])
    head_np = np.repeat(np.arange(num_heads), class_counts)

    def unpack(theta):
        blocks = theta.reshape(num_heads, d + 1, widest)
        w = blocks[head_np, :d, local].T  # [D, C]
        b = blocks[head_np, d, local]  # [C]
        return w, b

    def head_values(theta):
        w, b = unpack(theta)
        logits = jnp.where(present, jnp.matmul(x, w, precision="highest") + b, _MASKED_LOGIT)
        lse = _heads_logsumexp(logits, class_counts)
        picked = jnp.take_along_axis(logits, columns, axis=1)  # [N, H]
        penalty = jax.ops.segment_sum(jnp.sum(w * w, axis=0), head, num_heads)  # [H]
        return (jnp.sum(lse - picked, axis=0) + 0.5 * l2 * penalty) / n

    def values_and_grads(theta):
        values, pullback = jax.vjp(head_values, theta)
        return values, pullback(jnp.ones_like(values))[0]

    theta = minimize_lbfgs_batched(
        values_and_grads,
        jnp.zeros((num_heads, (d + 1) * widest), jnp.float32),
        num_steps=num_steps,
        tol=tol,
    )
    weights, bias = unpack(theta)
    return LogisticHeadsParams(weights, bias, present, head)
