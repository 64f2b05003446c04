"""In-step sampling: the step's global batch, a dict of arrays drawn inside the compiled step.

A batch is ``{"images": [N,H,W,C], ...}``: the entries of the objective's batch kind
(``Objective.batch``), each with a leading row axis split over the mesh's data axis. The
kinds are the keys of :data:`BATCH_SAMPLERS`: ``"images"`` (the unsupervised batch) and
``"pairs"`` (weak supervision, :mod:`disentax.data.pairs`). A sampler is a jittable, pure
function of ``(data_key, step)``::

    sampler(dataset, data_key, step, global_batch, shard=None, **options) -> dict

where ``shard`` is None for the whole global batch (the jit path renders it and lets XLA
shard it) or ``(index, count)`` for the rows ``[index * n / count, (index + 1) * n / count)``
of every entry (the pmap path, where each device renders only its rows; ``index`` may be
traced), and ``options`` are the objective's ``batch_hyperparameters`` (e.g. the pairs'
``k``). :data:`BATCH_CHECKS` checks a dataset and the options before anything is
compiled; :data:`BATCH_KEYS` names the entries of each kind (what the step keeps of a host
batch). :func:`host_batch` is the host pipeline of the same batches (per-process rows,
assembled into global arrays), so ``train_step(state, None)`` and ``train_step(state,
host_batch(...))`` see the same batches.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import numpy as np

from disentax.data import labelled, pairs, sampling
from disentax.train.update import step_keys

__all__ = [
    "BATCH_CHECKS",
    "BATCH_KEYS",
    "BATCH_SAMPLERS",
    "check_batch",
    "host_batch",
    "image_batch",
    "sample_batch",
    "sample_images",
]


def image_batch(dataset, data_key, step, global_batch: int, shard=None) -> dict:
    """``{"images"}``: the unsupervised batch of ``step`` (or one shard of it); jittable."""
    if shard is None:
        images, _ = sampling.batch_for_step(dataset, data_key, step, global_batch)
        return {"images": images}
    index, count = shard
    size = global_batch // count
    start = index * size
    factors = sampling.sample_factors_for_step(dataset, data_key, step, global_batch)
    factors = jax.lax.dynamic_slice_in_dim(factors, start, size)
    if getattr(dataset, "takes_key", False):
        keys = sampling.row_keys_for_step(data_key, step, global_batch)
        keys = jax.lax.dynamic_slice_in_dim(keys, start, size)
        return {"images": dataset.observations(factors, key=keys)}
    return {"images": dataset.observations(factors)}


def _check_pairs(dataset, *, k) -> None:
    sizes = pairs.check_pair_dataset(dataset)
    pairs.check_pair_k(k, len(sizes))


#: Batch kind -> sampler (see the module docstring).
BATCH_SAMPLERS: dict[str, Callable[..., dict]] = {
    "images": image_batch,
    "pairs": pairs.pair_batch_for_step,
    "labelled": labelled.labelled_batch,  # semi-supervised (disentax.data.labelled)
}
#: Batch kind -> the names of its entries.
BATCH_KEYS: dict[str, tuple[str, ...]] = {
    "images": ("images",),
    "pairs": pairs.PAIR_KEYS,
    "labelled": labelled.LABELLED_KEYS,
}
#: Batch kind -> ``check(dataset, **options)``, raising ValueError before any compile.
BATCH_CHECKS: dict[str, Callable[..., None]] = {
    "images": lambda dataset: None,
    "pairs": _check_pairs,
    "labelled": labelled.check_labelled_options,
}


def check_batch(kind: str, dataset, options: dict) -> None:
    """Checks a batch kind, its options and (when given) the dataset it samples from.

    Raises:
      ValueError: an unknown kind, options the kind does not take or rejects, a dataset
        the kind cannot sample from (e.g. pairs of a dataset without factors).
    """
    if kind not in BATCH_SAMPLERS:
        raise ValueError(f"batch kind {kind!r} is unknown; known: {sorted(BATCH_SAMPLERS)}")
    if dataset is not None:
        BATCH_CHECKS[kind](dataset, **options)


def sample_batch(
    kind: str, options: dict, dataset, state_key, step, global_batch: int, shard=None
) -> dict:
    """The batch of ``kind`` for ``step`` (or one shard of it), from the state's key.

    Args:
      kind: a key of :data:`BATCH_SAMPLERS`.
      options: the sampler's options (static Python values).
      dataset: a jittable ``GroundTruthData``.
      state_key: the state's root key; the data key is ``step_keys(state_key, step)[0]``.
      step: the step number (traced int32 scalar).
      global_batch: ``N``.
      shard: None or ``(index, count)`` (see the module docstring).

    Returns:
      The batch dict.
    """
    data_key, _ = step_keys(state_key, step)
    return BATCH_SAMPLERS[kind](dataset, data_key, step, global_batch, shard, **options)


def sample_images(dataset, state_key, step, global_batch: int, shard=None) -> jax.Array:
    """Images ``[N,H,W,C]`` of the step's unsupervised batch (``shard``: ``(index, count)``)."""
    return sample_batch("images", {}, dataset, state_key, step, global_batch, shard)["images"]


@functools.partial(jax.jit, static_argnums=(0, 1, 4, 6))
def _local_rows(kind, options, dataset, data_key, global_batch, step, count, index):
    return BATCH_SAMPLERS[kind](
        dataset, data_key, step, global_batch, (index, count), **dict(options)
    )


def host_batch(
    kind: str, dataset, data_key, step: int, global_batch: int, sharding, **options
) -> dict:
    """The batch of ``step`` as global ``jax.Array`` s split by ``sharding``, from the host.

    Each process renders only the rows its devices hold (one jitted program) and every
    entry is assembled with ``jax.make_array_from_process_local_data``.

    Args:
      kind: a key of :data:`BATCH_SAMPLERS`.
      dataset: any ground-truth dataset.
      data_key: the run's data key (``step_keys(state.key, step)[0]``).
      step: the step number.
      global_batch: ``N``, divisible by the batch-axis shards.
      sharding: ``NamedSharding`` whose first dimension splits the batch.
      **options: the sampler's options.

    Returns:
      The batch dict of global arrays.

    Examples:
      >>> import jax
      >>> from disentax import parallel
      >>> from disentax.data import Identity
      >>> from disentax.train.step_sampling import host_batch
      >>> sharding = parallel.data_sharding(parallel.make_mesh(1))
      >>> batch = host_batch("pairs", Identity((3, 5)), jax.random.key(0), 7, 4, sharding, k=1)
      >>> sorted(batch), batch["images_2"].shape
      (['changed', 'images', 'images_2'], (4, 1, 1, 2))
    """
    check_batch(kind, dataset, options)
    rows = sampling.local_rows(sharding, global_batch)
    size = rows.stop - rows.start
    count, index = global_batch // size, rows.start // size
    local = _local_rows(
        kind, tuple(sorted(options.items())), dataset, data_key, global_batch, step, count, index
    )
    out = {}
    for name, value in local.items():
        entry_sharding = sampling._batch_sharding(sharding, value.ndim)  # noqa: SLF001
        shape = (value.shape[0] * count, *value.shape[1:])
        out[name] = jax.make_array_from_process_local_data(entry_sharding, np.asarray(value), shape)
    return out
