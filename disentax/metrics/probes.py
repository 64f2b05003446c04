"""Jittable linear probes with a fixed iteration budget.

These are the small supervised models the metrics fit on codes: a multinomial logistic
regression (explicitness, BetaVAE score, downstream task), ridge/least-squares linear
regression, and an L1-regularised linear regression (Lasso; UDR, DCI-lasso). Each is a
pure function of arrays that runs under ``jax.jit`` and ``jax.vmap`` (e.g. one probe per
factor, or per model), with static sizes and a fixed number of optimisation steps.

Objectives follow scikit-learn's so that scores are comparable with the reference:

* ``fit_logistic_regression``: ``sum_i CE(y_i, softmax(x_i W + b)) + l2/2 ||W||^2``,
  i.e. ``LogisticRegression(C=1/l2)`` (multinomial, intercept not penalised), minimised
  by L-BFGS from zero, like scikit-learn's ``lbfgs`` solver with ``max_iter``
  iterations. Classes absent from ``y`` get no column in scikit-learn; here they keep
  their column but are masked out (probability exactly 0).
* ``fit_linear_regression``: ``||Y - X W - b||^2 + l2 ||W||^2`` in closed form.
* ``fit_lasso``: ``1/(2N) ||Y - X W - b||^2 + alpha ||W||_1`` (scikit-learn ``Lasso``),
  by cyclic coordinate descent on the Gram matrix with a fixed number of sweeps.

References:
  Pedregosa et al., "Scikit-learn: Machine Learning in Python", JMLR 2011.
  Liu & Nocedal, "On the limited memory BFGS method for large scale optimization", 1989.
  Friedman, Hastie & Tibshirani, "Regularization paths for generalized linear models via
  coordinate descent", J. Stat. Softw. 2010.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from disentax.metrics.checks import check_codes, check_labels, check_same_num_points, is_concrete
from disentax.typing import Array, ArrayLike

__all__ = [
    "LinearParams",
    "LogisticHeadsParams",
    "LogisticParams",
    "fit_lasso",
    "fit_linear_regression",
    "fit_logistic_regression",
    "fit_logistic_regression_heads",
    "minimize_lbfgs",
    "minimize_lbfgs_batched",
    "predict_linear",
    "predict_logistic_heads_proba",
    "predict_logistic_logits",
    "predict_logistic_proba",
]

_MASKED_LOGIT = -1e30
# Full float32 products everywhere: GPUs would otherwise round matmul inputs to TF32.
_dot = functools.partial(jnp.dot, precision="highest")


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


class LinearParams(NamedTuple):
    """A fitted linear map ``x @ weights + bias``: ``weights [D, T]``, ``bias [T]``."""

    weights: Array
    bias: Array


def _check_nonnegative(value, name: str) -> None:
    if is_concrete(value) and not float(np.asarray(value)) >= 0.0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")


def _check_steps(num_steps, name: str) -> None:
    if isinstance(num_steps, bool) or not isinstance(num_steps, int | np.integer):
        raise TypeError(f"{name} must be a static Python int, got {type(num_steps).__name__}")
    if num_steps < 1:
        raise ValueError(f"{name} must be >= 1, got {num_steps}")


def predict_logistic_logits(params: LogisticParams, x: ArrayLike) -> Array:
    """Logits ``[N, K]`` of a fitted probe; absent classes get a very negative logit."""
    logits = (
        jnp.matmul(jnp.asarray(x, jnp.float32), params.weights, precision="highest") + params.bias
    )
    return jnp.where(params.class_present, logits, _MASKED_LOGIT)


def predict_logistic_proba(params: LogisticParams, x: ArrayLike) -> Array:
    """Class probabilities ``[N, K]`` (rows sum to 1; absent classes get 0).

    Args:
      params: from ``fit_logistic_regression``.
      x: ``[N, D]`` features.
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
    """
    x = check_codes(x, name="x")
    y = check_labels(y, num_classes, name="y")
    check_same_num_points(("x", x), ("y", y))
    _check_nonnegative(l2, "l2")
    _check_steps(num_steps, "num_steps")
    _check_nonnegative(tol, "tol")
    return _fit_logistic(
        x,
        y,
        jnp.asarray(l2, jnp.float32),
        num_classes=int(num_classes),
        num_steps=int(num_steps),
        tol=float(tol),
    )


def _two_loop(grad, s_mem, y_mem, rho, newest, count):
    """L-BFGS two-loop recursion: ``-H grad`` from the last ``count`` pairs (ring buffer)."""
    memory = s_mem.shape[0]

    def backward(j, carry):
        q, alphas = carry
        slot = (newest - j) % memory
        used = j < count
        alpha = jnp.where(used, rho[slot] * _dot(s_mem[slot], q), 0.0)
        return q - alpha * y_mem[slot], alphas.at[slot].set(alpha)

    q, alphas = jax.lax.fori_loop(0, memory, backward, (grad, jnp.zeros((memory,), grad.dtype)))
    last_y = y_mem[newest]
    gamma = jnp.where(
        count > 0, _dot(s_mem[newest], last_y) / jnp.maximum(_dot(last_y, last_y), 1e-30), 1.0
    )
    r = gamma * q

    def forward(j, r):
        slot = (newest - (memory - 1 - j)) % memory
        used = (memory - 1 - j) < count
        beta = rho[slot] * _dot(y_mem[slot], r)
        return r + jnp.where(used, alphas[slot] - beta, 0.0) * s_mem[slot]

    return -jax.lax.fori_loop(0, memory, forward, r)


def minimize_lbfgs(value_and_grad_fn, theta0, *, num_steps: int, tol: float, memory: int = 10):
    """Minimises a smooth function of a flat ``[P]`` vector by L-BFGS (jittable).

    Backtracking (Armijo, step halving) line search from a unit step (the first step is
    capped at unit length); stops after ``num_steps`` iterations or once the largest
    absolute gradient entry is ``<= tol``. Compact on purpose: it compiles in about a
    second, where a zoom line search takes several.

    Args:
      value_and_grad_fn: ``theta [P] -> (value, grad [P])``.
      theta0: ``[P]`` starting point.
      num_steps: static maximum number of iterations.
      tol: static gradient tolerance.
      memory: static number of stored curvature pairs.

    Returns:
      ``[P]`` minimiser estimate.
    """

    def batched(theta):
        value, grad = value_and_grad_fn(theta[0])
        return value[None], grad[None]

    return minimize_lbfgs_batched(
        batched, theta0[None], num_steps=num_steps, tol=tol, memory=memory
    )[0]


def minimize_lbfgs_batched(
    values_and_grads_fn, theta0, *, num_steps: int, tol: float, memory: int = 10
):
    """``H`` independent L-BFGS runs sharing one function evaluation per step.

    For separable problems evaluated together (e.g. one probe per factor from one matrix
    product): each row of ``theta`` has its own curvature memory, line search and
    stopping test, exactly as ``H`` separate ``minimize_lbfgs`` runs, but every step costs
    one joint evaluation; rows that have converged are left as they are.

    Args:
      values_and_grads_fn: ``theta [H, P] -> (values [H], grads [H, P])``, row ``h`` of
        the gradient being the derivative of ``values[h]`` (separable problems).
      theta0: ``[H, P]`` starting points.
      num_steps, tol, memory: as in ``minimize_lbfgs``, per row.

    Returns:
      ``[H, P]`` minimiser estimates.
    """
    num_rows, size = theta0.shape
    dtype = theta0.dtype
    value0, grad0 = values_and_grads_fn(theta0)

    def running(grad, stopped):
        return ~stopped & (jnp.max(jnp.abs(grad), axis=1) > tol)

    def cond(carry):
        i, _, _, grad, *_, stopped = carry
        return (i < num_steps) & jnp.any(running(grad, stopped))

    def body(carry):
        i, theta, value, grad, s_mem, y_mem, rho, newest, count, stopped = carry
        active = running(grad, stopped)
        direction = jax.vmap(_two_loop)(grad, s_mem, y_mem, rho, newest, count)
        slope = jnp.sum(grad * direction, axis=1)
        # Not a descent direction (numerical trouble): fall back to steepest descent.
        descent = slope < 0
        direction = jnp.where(descent[:, None], direction, -grad)
        slope = jnp.where(descent, slope, -jnp.sum(grad * grad, axis=1))
        norm = jnp.linalg.norm(direction, axis=1)
        first = jnp.where(count == 0, jnp.minimum(1.0, 1.0 / jnp.maximum(norm, 1e-30)), 1.0)

        def sufficient(step, trial_value):
            armijo = trial_value <= value + 1e-4 * step * slope
            return (armijo & jnp.isfinite(trial_value)) | ~active

        def search_cond(state):
            k, step, trial_value, _ = state
            return (k < 30) & ~jnp.all(sufficient(step, trial_value))

        def search_body(state):
            k, step, trial_value, trial_grad = state
            step = jnp.where(sufficient(step, trial_value), step, 0.5 * step)
            trial_value, trial_grad = values_and_grads_fn(theta + step[:, None] * direction)
            return k + 1, step, trial_value, trial_grad

        trial_value, trial_grad = values_and_grads_fn(theta + first[:, None] * direction)
        _, step, new_value, new_grad = jax.lax.while_loop(
            search_cond, search_body, (0, first, trial_value, trial_grad)
        )
        accepted = active & jnp.isfinite(new_value) & (new_value <= value)
        s = step[:, None] * direction
        y = new_grad - grad
        curvature = jnp.sum(s * y, axis=1)
        store = accepted & (curvature > 1e-10 * jnp.sum(y * y, axis=1))
        slot = (newest + 1) % memory
        rows = jnp.arange(num_rows)
        s_mem = jnp.where(store[:, None, None], s_mem.at[rows, slot].set(s), s_mem)
        y_mem = jnp.where(store[:, None, None], y_mem.at[rows, slot].set(y), y_mem)
        inverse = 1.0 / jnp.where(store, curvature, 1.0)
        rho = jnp.where(store[:, None], rho.at[rows, slot].set(inverse), rho)
        newest = jnp.where(store, slot, newest)
        count = jnp.where(store, jnp.minimum(count + 1, memory), count)
        theta = jnp.where(accepted[:, None], theta + s, theta)
        value = jnp.where(accepted, new_value, value)
        grad = jnp.where(accepted[:, None], new_grad, grad)
        stopped = stopped | (active & ~accepted)
        return i + 1, theta, value, grad, s_mem, y_mem, rho, newest, count, stopped

    zeros = jnp.zeros((num_rows, memory, size), dtype)
    index = jnp.zeros((num_rows,), jnp.int32)
    carry = (
        0,
        theta0,
        value0,
        grad0,
        zeros,
        zeros,
        jnp.zeros((num_rows, memory), dtype),
        index,
        index,
        jnp.zeros((num_rows,), bool),
    )
    return jax.lax.while_loop(cond, body, carry)[1]


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
      l2, num_steps, tol: as in ``fit_logistic_regression``.

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
    _check_nonnegative(l2, "l2")
    _check_steps(num_steps, "num_steps")
    return _fit_heads(
        x,
        jnp.asarray(labels_arr, jnp.int32),
        jnp.asarray(l2, jnp.float32),
        class_counts=tuple(int(k) for k in class_counts),
        num_steps=int(num_steps),
        tol=float(tol),
    )


@functools.partial(jax.jit, static_argnames=("class_counts", "num_steps", "tol"))
def _fit_heads(x, labels, l2, *, class_counts, num_steps, tol) -> LogisticHeadsParams:
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


def predict_linear(params: LinearParams, x: ArrayLike) -> Array:
    """Predictions ``[N, T]`` of a linear probe."""
    return (
        jnp.matmul(jnp.asarray(x, jnp.float32), params.weights, precision="highest") + params.bias
    )


def _as_targets(y: ArrayLike) -> tuple[Array, bool]:
    y = jnp.asarray(y)
    if y.ndim == 1:
        return y[:, None], True
    if y.ndim != 2:
        raise ValueError(f"y must have shape [N] or [N, T], got {tuple(y.shape)}")
    return y, False


def fit_linear_regression(x: ArrayLike, y: ArrayLike, *, l2: float | Array = 0.0) -> LinearParams:
    """Least squares (``l2=0``, minimum-norm solution) or ridge regression, closed form.

    Minimises ``||Y - X W - b||^2 + l2 ||W||^2`` (intercept unpenalised), i.e.
    scikit-learn's ``Ridge(alpha=l2)`` / ``LinearRegression()``.

    Args:
      x: ``[N, D]`` features.
      y: ``[N]`` or ``[N, T]`` targets.
      l2: ridge strength, ``>= 0``.

    Returns:
      ``LinearParams`` with ``weights [D, T]`` and ``bias [T]`` (``T=1`` for a ``[N]`` y).
    """
    x = check_codes(x, name="x")
    y2, _ = _as_targets(y)
    y2 = check_codes(y2, name="y")
    check_same_num_points(("x", x), ("y", y2))
    _check_nonnegative(l2, "l2")
    return _fit_ridge(x, y2, jnp.asarray(l2, jnp.float32))


@jax.jit
def _fit_ridge(x: Array, y: Array, l2: Array) -> LinearParams:
    x_mean, y_mean = x.mean(0), y.mean(0)
    xc, yc = x - x_mean, y - y_mean
    gram = jnp.matmul(xc.T, xc, precision="highest")
    evals, evecs = jnp.linalg.eigh(gram)
    shifted = evals + l2
    cutoff = jnp.max(jnp.abs(evals)) * x.shape[1] * jnp.finfo(jnp.float32).eps
    inv = jnp.where(shifted > cutoff, 1.0 / jnp.where(shifted > cutoff, shifted, 1.0), 0.0)
    projected = jnp.matmul(evecs.T, jnp.matmul(xc.T, yc, precision="highest"), precision="highest")
    weights = jnp.matmul(evecs, inv[:, None] * projected, precision="highest")
    return LinearParams(
        weights=weights, bias=y_mean - jnp.matmul(x_mean, weights, precision="highest")
    )


def fit_lasso(
    x: ArrayLike, y: ArrayLike, *, alpha: float | Array = 1.0, num_sweeps: int = 300
) -> LinearParams:
    """L1-regularised least squares by cyclic coordinate descent (fixed sweeps).

    Minimises ``1/(2N) ||Y - X W - b||^2 + alpha ||W||_1`` per target column with an
    unpenalised intercept, i.e. scikit-learn's ``Lasso(alpha)``. Each sweep updates every
    coordinate once in order, as scikit-learn's cyclic solver does; scikit-learn instead
    stops at a duality-gap tolerance (``tol=1e-4``) or ``max_iter=1000`` sweeps.

    Args:
      x: ``[N, D]`` features.
      y: ``[N]`` or ``[N, T]`` targets.
      alpha: L1 strength, ``>= 0``; may be traced.
      num_sweeps: static number of passes over the ``D`` coordinates.

    Returns:
      ``LinearParams`` with ``weights [D, T]`` and ``bias [T]``.
    """
    x = check_codes(x, name="x")
    y2, _ = _as_targets(y)
    y2 = check_codes(y2, name="y")
    check_same_num_points(("x", x), ("y", y2))
    _check_nonnegative(alpha, "alpha")
    _check_steps(num_sweeps, "num_sweeps")
    return _fit_lasso(x, y2, jnp.asarray(alpha, jnp.float32), num_sweeps=int(num_sweeps))


@functools.partial(jax.jit, static_argnames=("num_sweeps",))
def _fit_lasso(x: Array, y: Array, alpha: Array, *, num_sweeps: int) -> LinearParams:
    n, d = x.shape
    x_mean, y_mean = x.mean(0), y.mean(0)
    xc, yc = x - x_mean, y - y_mean
    gram = jnp.matmul(xc.T, xc, precision="highest") / n  # [D, D]
    corr = jnp.matmul(xc.T, yc, precision="highest") / n  # [D, T]
    diag = jnp.diagonal(gram)
    safe_diag = jnp.where(diag > 0, diag, 1.0)

    def update(j, w):
        # Partial residual correlation for coordinate j, excluding its own contribution.
        rho = corr[j] - jnp.matmul(gram[j], w, precision="highest") + diag[j] * w[j]
        new = jnp.sign(rho) * jnp.maximum(jnp.abs(rho) - alpha, 0.0) / safe_diag[j]
        return w.at[j].set(jnp.where(diag[j] > 0, new, 0.0))

    def sweep(_, w):
        return jax.lax.fori_loop(0, d, update, w)

    weights = jax.lax.fori_loop(0, num_sweeps, sweep, jnp.zeros((d, y.shape[1]), jnp.float32))
    return LinearParams(
        weights=weights, bias=y_mean - jnp.matmul(x_mean, weights, precision="highest")
    )
