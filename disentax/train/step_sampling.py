"""In-step sampling: the images of a step's global batch, drawn inside the compiled step.

Shared by the jit path (:mod:`disentax.train.step_jit`, which renders the whole global
batch and lets XLA shard it) and the pmap path (:mod:`disentax.train.step_pmap`, where
each device renders only its rows). Both draw the batch that a host pipeline draws from
the same data key (``disentax.data.sampling.batch_for_step``), so ``train_step(state,
None)`` and ``train_step(state, images)`` see the same images.
"""

from __future__ import annotations

import jax

from disentax.train.update import step_keys

__all__ = ["sample_images"]


def sample_images(dataset, state_key, step, global_batch: int, shard=None) -> jax.Array:
    """Images ``[N,H,W,C]`` of the step's global batch (or of one shard of it).

    The batch is ``disentax.data.sampling.batch_for_step(dataset, data_key, step, N)``
    with ``data_key = step_keys(state_key, step)[0]``; a shard renders only its rows of
    that same batch.

    Args:
      dataset: a jittable ``GroundTruthData``.
      state_key: the state's root key.
      step: the step number (traced int32 scalar).
      global_batch: the global batch size ``N``.
      shard: None for the whole batch, or ``(start, size)``: the rows ``start:start+size``
        (``start`` may be traced).

    Returns:
      ``[N,H,W,C]`` images, or ``[size,H,W,C]`` with ``shard``.
    """
    from disentax.data import sampling

    data_key, _ = step_keys(state_key, step)
    if shard is None:
        images, _ = sampling.batch_for_step(dataset, data_key, step, global_batch)
        return images
    start, size = shard
    factors = sampling.sample_factors_for_step(dataset, data_key, step, global_batch)
    factors = jax.lax.dynamic_slice_in_dim(factors, start, size)
    if getattr(dataset, "takes_key", False):
        keys = sampling.row_keys_for_step(data_key, step, global_batch)
        return dataset.observations(factors, key=jax.lax.dynamic_slice_in_dim(keys, start, size))
    return dataset.observations(factors)
