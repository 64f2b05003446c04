"""The L-BFGS minimiser vs SciPy's L-BFGS-B, and its batched form vs separate runs.

Oracle: ``scipy.optimize.minimize(method="L-BFGS-B")`` run to a tight tolerance in
float64 on the same smooth, strictly convex objective (an L2-regularised logistic loss),
whose minimiser is unique.
"""

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from disentax.metrics.estimators import minimize_lbfgs, minimize_lbfgs_batched


def _problem(seed, n=300, d=5):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x @ rng.normal(size=d) + rng.normal(size=n) > 0).astype(np.float32)
    return x, y


def _objective(theta, x, y):
    # Mean logistic loss + 0.5 * 0.1 ||theta||^2 (written for jnp and np alike).
    margins = x @ theta
    return jnp.mean(jnp.logaddexp(0.0, margins) - y * margins) + 0.05 * jnp.sum(theta * theta)


def test_minimiser_matches_scipy():
    x, y = _problem(0)
    theta = jax.jit(
        lambda x, y: minimize_lbfgs(
            jax.value_and_grad(lambda t: _objective(t, x, y)),
            jnp.zeros(x.shape[1], jnp.float32),
            num_steps=100,
            tol=1e-6,
        )
    )(x, y)

    def value_and_grad(t):
        margins = x.astype(np.float64) @ t
        p = 1.0 / (1.0 + np.exp(-margins))
        value = np.mean(np.logaddexp(0.0, margins) - y * margins) + 0.05 * t @ t
        return value, x.T.astype(np.float64) @ (p - y) / len(y) + 0.1 * t

    reference = scipy.optimize.minimize(
        value_and_grad, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B", tol=1e-12
    )
    np.testing.assert_allclose(np.asarray(theta), reference.x, atol=1e-4)


def test_batched_rows_equal_separate_runs():
    problems = [_problem(seed) for seed in (1, 2, 3)]
    xs = jnp.stack([p[0] for p in problems])
    ys = jnp.stack([p[1] for p in problems])

    def values_and_grads(theta):  # [H, P] -> ([H], [H, P]): separable over rows
        return jax.vmap(jax.value_and_grad(_objective))(theta, xs, ys)

    batched = minimize_lbfgs_batched(
        values_and_grads, jnp.zeros((3, xs.shape[2]), jnp.float32), num_steps=50, tol=1e-5
    )
    for h, (x, y) in enumerate(problems):
        single = minimize_lbfgs(
            jax.value_and_grad(lambda t, x=x, y=y: _objective(t, x, y)),
            jnp.zeros(x.shape[1], jnp.float32),
            num_steps=50,
            tol=1e-5,
        )
        np.testing.assert_allclose(np.asarray(batched[h]), np.asarray(single), atol=1e-6)
