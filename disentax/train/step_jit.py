"""The jit path: the step compiled with ``jax.jit`` over a ``Mesh`` with explicit shardings.

The state is replicated and donated, the batch is split over the mesh's ``"data"`` axis.
XLA partitions the global-batch computation, so batch-level terms (the total-correlation
estimators, DIP-VAE's covariance, FactorVAE's permutation) see the whole global batch,
exactly as on one device. Single models and sweeps (:mod:`disentax.train.step_sweep`)
are compiled here alike.

Two programs are compiled on demand: one samples its batch inside the step from a
device-resident or procedural dataset (passed as a replicated argument, put on the
devices once), the other takes a global batch (a dict of arrays, every entry split over
the data axis) from a host pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
from jax.sharding import Mesh

from disentax import parallel as par
from disentax.train.step_sampling import sample_batch
from disentax.train.update import Update

__all__ = ["STEP_COMPILER_OPTIONS", "make_jit_model_step", "make_jit_step"]

# Per-platform XLA options of the jitted step. CPU compiles at LLVM level 1: it compiles
# faster than the default level with the same step time, which is spent in the convolution
# and matmul library calls (docs/performance/train.md).
STEP_COMPILER_OPTIONS = {"cpu": {"xla_backend_optimization_level": 1}}


def make_jit_model_step(
    update: Update,
    static_hyper: Mapping[str, Any],
    *,
    mesh: Mesh,
    global_batch: int | None,
    batch_kind: str = "images",
    batch_options: Mapping[str, Any] | None = None,
) -> Callable:
    """The single-model step of the jit path, sampling its batch when given none.

    Args:
      update: the global-view update (``make_update(..., axis_name=None)``).
      static_hyper: hyperparameters shared by every model, closed over.
      mesh: the data-parallel mesh; sampled batches are constrained to its data sharding.
      global_batch: ``N`` for in-step sampling, else None.
      batch_kind: the kind of batch sampled (``disentax.train.step_sampling``).
      batch_options: the sampler's options (static).

    Returns:
      ``one_model(state, batch, swept, data) -> (state, metrics)``: ``batch`` None
      samples the global batch from ``data``; ``swept`` holds per-model hyperparameters.
    """
    data_spec = par.data_sharding(mesh)
    options = dict(batch_options or {})

    def one_model(state, batch, swept, data):
        if batch is None:
            batch = sample_batch(batch_kind, options, data, state.key, state.step, global_batch)
            batch = jax.lax.with_sharding_constraint(batch, data_spec)
        return update(state, batch, {**static_hyper, **swept})

    return one_model


def make_jit_step(
    step_fn: Callable, *, mesh: Mesh, dataset=None, donate: bool = True, state_sharding=None
) -> tuple[Callable, Callable, Any]:
    """Compiles ``step_fn`` with ``jax.jit`` over ``mesh``.

    Args:
      step_fn: ``(state, batch, data) -> (state, metrics)``, one model or a sweep.
      mesh: the data-parallel mesh (or a ``models`` × ``data`` mesh for a sweep).
      dataset: the jittable dataset of in-step sampling, or None.
      donate: donate the state buffers.
      state_sharding: the sharding of the state and of the metrics (default replicated;
        a sweep on a models mesh splits their leading model axis over ``models``).

    Returns:
      ``(fn, precompile_fn, placed_dataset)`` for :class:`disentax.train.step.TrainStep`:
      ``fn(state, batch, data)`` runs the sampling program when ``batch`` is None and
      the host-batch program (``batch`` a dict of global arrays) otherwise;
      ``precompile_fn(abstract_state, abstract_batch=None)`` lowers the sampling
      program (or, given the host batch's shapes, the host-batch program) and returns a
      function that compiles it; ``placed_dataset`` is ``dataset`` replicated on the
      mesh's devices.
    """
    donate_argnums = (0,) if donate else ()
    replicated = par.replicated_sharding(mesh)
    state_sharding = replicated if state_sharding is None else state_sharding
    compiler_options = STEP_COMPILER_OPTIONS.get(mesh.devices.flat[0].platform)
    jitted = {
        True: jax.jit(
            lambda s, data: step_fn(s, None, data),
            in_shardings=(state_sharding, replicated),
            out_shardings=(state_sharding, state_sharding),
            donate_argnums=donate_argnums,
            compiler_options=compiler_options,
        ),
        False: jax.jit(
            lambda s, x: step_fn(s, x, None),
            in_shardings=(state_sharding, par.data_sharding(mesh)),
            out_shardings=(state_sharding, state_sharding),
            donate_argnums=donate_argnums,
            compiler_options=compiler_options,
        ),
    }

    def fn(state, batch, data):
        if batch is None:
            return jitted[True](state, data)
        return jitted[False](state, batch)

    def precompile(abstract_state, abstract_batch=None):
        # ahead-of-time compile of the program the job runs (in-step sampling, or host
        # batches of ``abstract_batch``'s shapes); calls then use it
        sampled = abstract_batch is None
        if sampled and dataset is None:
            return lambda: None
        args = (placed_dataset,) if sampled else (abstract_batch,)
        lowered = jitted[sampled].lower(abstract_state, *args)

        def finish():
            jitted[sampled] = lowered.compile()
            return jitted[sampled]  # the compiled program (its memory_analysis(), for the job)

        return finish

    # a device-resident dataset is put on the devices once, replicated
    placed_dataset = None if dataset is None else jax.device_put(dataset, replicated)
    return fn, precompile, placed_dataset
