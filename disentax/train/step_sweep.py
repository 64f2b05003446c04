"""Sweeps: S models trained by one compiled program, over a leading model axis.

``make_train_step(..., num_models=S)`` runs the single-model update over a leading model
axis of the state (one key, step and parameter set per model) and over per-model
hyperparameters (``[S]`` arrays), so each model follows the trajectory of its own
single-model run. The sweep forms here turn the single-model step into the S-model one;
:mod:`disentax.train.step_jit` compiles the result over the mesh like any other step.

* ``sweep_mode="vmap"`` batches the S updates (``jax.vmap``: one grouped convolution per
  layer, what fills an accelerator).
* ``sweep_mode="unrolled"`` places S copies of the update side by side in the program,
  each model's layers as plain convolutions (compile time grows with S).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["SWEEP_MODES", "make_sweep_step", "split_hyperparameters"]

# How a sweep is executed, per platform; platforms not listed use "vmap". CPU unrolls: one
# core has no idle lanes for batching to fill, and the vmapped conv VAE's grouped
# convolutions run slower there than plain ones (docs/performance/train.md).
SWEEP_MODES = {"cpu": "unrolled"}


def split_hyperparameters(
    hyper: Mapping[str, Any], num_models: int | None
) -> tuple[dict[str, Any], dict[str, jax.Array]]:
    """Splits hyperparameters into closed-over constants and per-model ``[S]`` arrays.

    Args:
      hyper: keyword hyperparameters of the objective.
      num_models: ``S`` for a sweep, else None.

    Returns:
      ``(static, swept)``: strings, booleans, None and scalars in ``static``; ``[S]``
      values (sweeps only) as arrays in ``swept``.

    Raises:
      ValueError: a value that is neither a scalar nor, in a sweep, of shape ``(S,)``.
    """
    static: dict[str, Any] = {}
    swept: dict[str, jax.Array] = {}
    for name, value in hyper.items():
        if isinstance(value, str | bool) or value is None:
            static[name] = value
            continue
        shape = np.shape(value)
        if shape == ():
            static[name] = value
        elif num_models is not None and shape == (num_models,):
            swept[name] = jnp.asarray(value)
        else:
            expected = "a scalar" if num_models is None else f"a scalar or shape ({num_models},)"
            raise ValueError(f"hyperparameter {name!r} must be {expected}, got shape {shape}")
    return static, swept


def make_sweep_step(
    one_model: Callable,
    swept_hyper: Mapping[str, jax.Array],
    *,
    num_models: int,
    sweep_mode: str,
) -> Callable:
    """The S-model step from the single-model one.

    Args:
      one_model: ``(state, batch, swept, data) -> (state, metrics)`` of one model, where
        ``swept`` holds that model's hyperparameters (scalars).
      swept_hyper: the per-model hyperparameters, ``[S]`` arrays.
      num_models: ``S``.
      sweep_mode: ``"vmap"`` or ``"unrolled"`` (see the module docstring).

    Returns:
      ``step_fn(state, batch, data) -> (state, metrics)`` over a state and metrics with a
      leading model axis ``[S, ...]``; ``batch`` and ``data`` are shared by the models.
    """
    if sweep_mode == "vmap":
        return _vmapped(one_model, swept_hyper)
    return _unrolled(one_model, swept_hyper, num_models)


def _vmapped(one_model, swept_hyper):
    def step_fn(state, batch, data):
        return jax.vmap(one_model, in_axes=(0, None, 0, None))(state, batch, swept_hyper, data)

    return step_fn


def _unrolled(one_model, swept_hyper, num_models):
    def step_fn(state, batch, data):
        outputs = [
            one_model(
                jax.tree.map(lambda x, i=i: x[i], state),
                batch,
                {name: value[i] for name, value in swept_hyper.items()},
                data,
            )
            for i in range(num_models)
        ]
        return jax.tree.map(lambda *xs: jnp.stack(xs), *outputs)

    return step_fn
