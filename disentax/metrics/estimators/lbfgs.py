"""A jittable L-BFGS minimiser with a fixed iteration budget (the logistic probes' solver).

Limited-memory BFGS with the two-loop recursion over a ring buffer of curvature pairs and
a backtracking (Armijo, step-halving) line search from a unit step. Everything is a
``jax.lax`` loop with static sizes, so a fit runs under ``jax.jit`` and ``jax.vmap``;
``minimize_lbfgs_batched`` runs several independent problems that share one function
evaluation per step.

References:
  Liu & Nocedal, "On the limited memory BFGS method for large scale optimization", 1989.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

__all__ = ["minimize_lbfgs", "minimize_lbfgs_batched"]

# Full float32 products everywhere: GPUs would otherwise round matmul inputs to TF32.
_dot = functools.partial(jnp.dot, precision="highest")


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
    absolute gradient entry is ``<= tol``. Backtracking rather than a zoom line search on
    purpose: the program stays small and compiles quickly.

    Args:
      value_and_grad_fn: ``theta [P] -> (value, grad [P])``.
      theta0: ``[P]`` starting point.
      num_steps: static maximum number of iterations.
      tol: static gradient tolerance.
      memory: static number of stored curvature pairs.

    Returns:
      ``[P]`` minimiser estimate.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from disentax.metrics.estimators import minimize_lbfgs
      >>> fn = jax.value_and_grad(lambda t: jnp.sum((t - jnp.array([1.0, -2.0])) ** 2))
      >>> minimize_lbfgs(fn, jnp.zeros(2), num_steps=20, tol=1e-6).round(4).tolist()
      [1.0, -2.0]
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
      num_steps: static maximum number of iterations (per row).
      tol: static gradient tolerance (per row).
      memory: static number of stored curvature pairs (per row).

    Returns:
      ``[H, P]`` minimiser estimates.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from disentax.metrics.estimators import minimize_lbfgs_batched
      >>> targets = jnp.array([[1.0, -2.0], [3.0, 0.5]])  # H = 2 separate quadratics
      >>> def fn(theta):
      ...     return jnp.sum((theta - targets) ** 2, axis=1), 2.0 * (theta - targets)
      >>> minimize_lbfgs_batched(fn, jnp.zeros((2, 2)), num_steps=20, tol=1e-6).round(4).tolist()
      [[1.0, -2.0], [3.0, 0.5]]
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
