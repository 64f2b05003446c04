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
from jax.sharding import PartitionSpec

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
    spmd_axis_name: str | None = None,
    mesh=None,
) -> Callable:
    """The S-model step from the single-model one.

    Args:
      one_model: ``(state, batch, swept, data) -> (state, metrics)`` of one model, where
        ``swept`` holds that model's hyperparameters (scalars).
      swept_hyper: the per-model hyperparameters, ``[S]`` arrays.
      num_models: ``S``.
      sweep_mode: ``"vmap"`` or ``"unrolled"`` (see the module docstring).
      spmd_axis_name: the mesh axis the model axis is split over (``"models"``), or None
        (the models replicated on every device). With it, the vmapped step's sharding
        constraints split the model axis over that mesh axis too; the unrolled step runs
        as a ``shard_map`` over it, each device unrolling only its own models.
      mesh: the ``models`` × ``data`` mesh (with ``spmd_axis_name``).

    Returns:
      ``step_fn(state, batch, data) -> (state, metrics)`` over a state and metrics with a
      leading model axis ``[S, ...]``; ``batch`` and ``data`` are shared by the models.
    """
    if sweep_mode == "vmap":
        return _vmapped(one_model, swept_hyper, spmd_axis_name)
    if spmd_axis_name is not None:
        return _sharded_unrolled(one_model, swept_hyper, num_models, mesh, spmd_axis_name)
    return _unrolled(one_model, swept_hyper, num_models)


def _vmapped(one_model, swept_hyper, spmd_axis_name=None):
    batched = jax.vmap(one_model, in_axes=(0, None, 0, None), spmd_axis_name=spmd_axis_name)

    def step_fn(state, batch, data):
        return batched(state, batch, swept_hyper, data)

    return step_fn


def _unrolled(one_model, swept_hyper, num_models):
    def step_fn(state, batch, data):
        return _unrolled_models(one_model, state, swept_hyper, batch, data, num_models)

    return step_fn


def _unrolled_models(one_model, state, swept_hyper, batch, data, num_models):
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


def _sharded_unrolled(one_model, swept_hyper, num_models, mesh, axis):
    # Unrolling under jit over a model-sharded state would make XLA partition every
    # model's slice across the models axis; a shard_map manual over that axis alone
    # gives each device its own models (the data axis stays automatic inside).
    local = num_models // int(mesh.shape[axis])
    split, whole = PartitionSpec(axis), PartitionSpec()

    def local_models(state, swept, batch, data):
        return _unrolled_models(one_model, state, swept, batch, data, local)

    sharded = jax.shard_map(
        local_models,
        mesh=mesh,
        in_specs=(split, split, whole, whole),
        out_specs=split,
        axis_names=frozenset({axis}),
        check_vma=False,
    )

    def step_fn(state, batch, data):
        return sharded(state, swept_hyper, batch, data)

    return step_fn
