"""The pmap path: the same update with ``jax.pmap``, kept for pmap-era code.

Each device encodes and decodes its rows; the outputs are all-gathered so the objective
sees the global batch, and the gradients are averaged with ``pmean`` (the transpose of
the all-gather scatters each device's share of the cotangent back, scaled by the device
count, which the mean undoes). The state is kept stacked over devices
(``TrainStep.place`` / ``TrainStep.unplace``). In-step sampling renders only each
device's rows of the global batch. Sweeps run on the jit path only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
from jax.sharding import Mesh

from disentax import parallel as par
from disentax.train.step_sampling import sample_batch
from disentax.train.update import Update

__all__ = ["make_pmap_step"]


def make_pmap_step(
    update: Update,
    static_hyper: Mapping[str, Any],
    *,
    mesh: Mesh,
    dataset=None,
    global_batch: int | None = None,
    donate: bool = True,
    batch_kind: str = "images",
    batch_options: Mapping[str, Any] | None = None,
) -> tuple[Callable, Callable, None]:
    """The step of one model with ``jax.pmap`` over the mesh's devices.

    Args:
      update: the per-shard update (``make_update(..., axis_name=DATA_AXIS,
        num_shards=mesh.size)``).
      static_hyper: the objective's hyperparameters, closed over.
      mesh: the data-parallel mesh; its devices, in order, are the pmap devices.
      dataset: the jittable dataset of in-step sampling, or None.
      global_batch: ``N`` for in-step sampling, else None.
      donate: donate the state buffers.
      batch_kind: the kind of batch sampled (``disentax.train.step_sampling``).
      batch_options: the sampler's options (static).

    Returns:
      ``(fn, precompile_fn, None)`` for :class:`disentax.train.step.TrainStep`:
      ``fn(state, batch, data)`` runs on the stacked state and batch (a dict, every entry
      ``[D, n/D, ...]``; or samples when ``batch`` is None) and returns device 0's metrics;
      ``precompile_fn(abstract_state, abstract_batch=None)`` (the unstacked state's and
      the global batch's shapes) lowers the in-step-sampling program (or the host-batch
      program) and returns a function that compiles it.
    """
    axis = par.DATA_AXIS
    options = dict(batch_options or {})

    def step_fn(state, batch, data):
        if batch is None:
            shard = (jax.lax.axis_index(axis), mesh.size)
            batch = sample_batch(
                batch_kind, options, data, state.key, state.step, global_batch, shard
            )
        return update(state, batch, {**static_hyper})

    # pmap closes over the dataset (a device-resident dataset becomes a constant of the
    # program); the jit path passes it as a replicated argument instead.
    devices = list(mesh.devices.flat)
    donate_argnums = (0,) if donate else ()
    pmapped = {
        sampled: jax.pmap(
            (lambda s: step_fn(s, None, dataset))
            if sampled
            else (lambda s, x: step_fn(s, x, dataset)),
            axis_name=axis,
            devices=devices,
            donate_argnums=donate_argnums,
        )
        for sampled in (True, False)
    }

    def fn(state, batch, data):
        del data
        if batch is None:
            state, metrics = pmapped[True](state)
        else:
            state, metrics = pmapped[False](state, batch)
        return state, jax.tree.map(lambda m: m[0], metrics)

    def precompile(abstract_state, abstract_batch=None):
        # ahead-of-time compile of the program the job runs (in-step sampling, or host
        # batches of ``abstract_batch``'s global shapes) on the stacked state's shapes: the
        # job reads its memory needs before the first step; calls then use it
        sampled = abstract_batch is None
        if sampled and dataset is None:
            return lambda: None
        d = len(devices)
        stacked = jax.tree.map(
            lambda s: jax.ShapeDtypeStruct((d, *s.shape), s.dtype), abstract_state
        )
        args = ()
        if not sampled:  # as TrainStep.__call__ reshapes the batch: [D, n / D, ...]
            args = (
                jax.tree.map(
                    lambda s: jax.ShapeDtypeStruct((d, s.shape[0] // d, *s.shape[1:]), s.dtype),
                    abstract_batch,
                ),
            )
        lowered = pmapped[sampled].lower(stacked, *args)

        def finish():
            pmapped[sampled] = lowered.compile()
            return pmapped[sampled]

        return finish

    return fn, precompile, None
