"""Per-step batches as pure functions of ``(data_key, step)``, per host and global.

The global batch of step ``t`` is fixed by ``(data_key, t)`` alone: its factors are
``dataset.sample_factors(fold_in(data_key, t), global_batch_size)`` and, for datasets
whose images need randomness (``dataset.takes_key``), row ``i`` gets the key
``split(fold_in(fold_in(data_key, t), 1), global_batch_size)[i]``. Every host computes
the (small) factor array of the whole batch, renders only the rows its devices hold,
and the global ``jax.Array`` is assembled with ``jax.make_array_from_process_local_data``.
Hence the same global batch results whatever the number of hosts or devices, and a
resumed run needs no data-pipeline state.

Two paths:

* :func:`batch_for_step` is jittable: call it inside the train step (procedural and
  device-resident datasets) and let ``jit`` shard the result;
* :func:`global_batch` is the host pipeline for multi-host runs or datasets rendered
  outside the step.

References:
  JAX documentation, "Introduction to multi-controller JAX" and
  ``jax.make_array_from_process_local_data`` (per-process data loading).
"""

from __future__ import annotations

import functools

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec, Sharding

from disentax.data.ground_truth import GroundTruthData, check_key, check_num
from disentax.typing import Array, PRNGKey

_OBSERVATION_STREAM = 1


def sample_factors_for_step(
    dataset: GroundTruthData, data_key: PRNGKey, step, global_batch: int
) -> Array:
    """Factors ``[global_batch, F]`` of the global batch of ``step``; jittable.

    Args:
      dataset: any ground-truth dataset.
      data_key: the run's data key (typed, ``jax.random.key``).
      step: int or traced int scalar.
      global_batch: the global batch size (a Python int).

    Examples:
      >>> import jax
      >>> from disentax.data import Identity, sampling
      >>> dataset, data_key = Identity((3, 5)), jax.random.key(0)
      >>> factors = sampling.sample_factors_for_step(dataset, data_key, 7, 4)
      >>> factors.shape
      (4, 2)
      >>> bool((factors == sampling.sample_factors_for_step(dataset, data_key, 7, 4)).all())
      True
    """
    check_key(data_key, "data_key")
    return dataset.sample_factors(jax.random.fold_in(data_key, step), global_batch)


def row_keys_for_step(data_key: PRNGKey, step, global_batch: int) -> Array:
    """One key per row of the global batch of ``step`` (images' own randomness).

    Examples:
      >>> import jax
      >>> from disentax.data import sampling
      >>> sampling.row_keys_for_step(jax.random.key(0), 7, 4).shape
      (4,)
    """
    step_key = jax.random.fold_in(data_key, step)
    return jax.random.split(jax.random.fold_in(step_key, _OBSERVATION_STREAM), global_batch)


def _observe(dataset, factors, keys):
    if keys is None:
        return dataset.observations(factors)
    return dataset.observations(factors, key=keys)


@functools.partial(jax.jit, static_argnames=("global_batch", "num_rows"))
def realise_rows(
    dataset: GroundTruthData,
    data_key: PRNGKey,
    step,
    global_batch: int,
    start=0,
    num_rows: int | None = None,
) -> tuple[Array, Array]:
    """Images and factors of rows ``start:start+num_rows`` of the batch of ``step``.

    Jitted (one program per dataset and row count; ``start`` and ``step`` are traced).

    Args:
      dataset: any ground-truth dataset.
      data_key: the run's data key (typed, ``jax.random.key``).
      step: int or traced int scalar.
      global_batch: the global batch size (a Python int).
      start: first row of the global batch to realise.
      num_rows: how many rows (default: the whole batch).

    Returns:
      ``(images [num_rows, H, W, C], factors [num_rows, F])``, equal to the same rows of
      the whole global batch whichever rows are asked for.
    """
    global_batch = check_num(global_batch, "global_batch")
    num_rows = global_batch if num_rows is None else check_num(num_rows, "num_rows")
    factors = sample_factors_for_step(dataset, data_key, step, global_batch)
    factors = jax.lax.dynamic_slice_in_dim(factors, start, num_rows)
    keys = None
    if getattr(dataset, "takes_key", False):
        keys = row_keys_for_step(data_key, step, global_batch)
        keys = jax.lax.dynamic_slice_in_dim(keys, start, num_rows)
    return _observe(dataset, factors, keys), factors


def batch_for_step(
    dataset: GroundTruthData, data_key: PRNGKey, step, global_batch: int
) -> tuple[Array, Array]:
    """The whole global batch ``(images, factors)`` of ``step``; call it inside ``jit``.

    Examples:
      >>> import jax
      >>> from disentax.data import Identity, sampling
      >>> dataset, data_key = Identity((3, 5)), jax.random.key(0)
      >>> @jax.jit
      ... def batch(step):  # step is traced: one program for every step
      ...     return sampling.batch_for_step(dataset, data_key, step, 4)
      >>> images, factors = batch(7)
      >>> images.shape, factors.shape
      ((4, 1, 1, 2), (4, 2))
    """
    global_batch = check_num(global_batch, "global_batch")
    factors = sample_factors_for_step(dataset, data_key, step, global_batch)
    keys = None
    if getattr(dataset, "takes_key", False):
        keys = row_keys_for_step(data_key, step, global_batch)
    return _observe(dataset, factors, keys), factors


def _batch_sharding(sharding: Sharding, ndim: int) -> Sharding:
    """The sharding of an ``ndim`` array split like ``sharding`` along its first axis."""
    if isinstance(sharding, NamedSharding):
        spec = tuple(sharding.spec)[:1]
        return NamedSharding(sharding.mesh, PartitionSpec(*spec))
    if len(sharding.device_set) == 1:
        return sharding
    raise TypeError(
        "sharding must be a NamedSharding (or a single-device sharding) whose first "
        f"dimension is the batch, got {type(sharding).__name__}"
    )


def local_rows(sharding: Sharding, global_batch: int) -> slice:
    """The contiguous rows of the global batch held by this process's devices.

    Raises:
      ValueError: the rows of this process are not contiguous.

    Examples:
      >>> from disentax import parallel
      >>> from disentax.data import sampling
      >>> sampling.local_rows(parallel.data_sharding(parallel.make_mesh(1)), 8)
      slice(0, 8, None)
    """
    index_map = _batch_sharding(sharding, 1).addressable_devices_indices_map((global_batch,))
    spans = sorted({idx[0].indices(global_batch)[:2] for idx in index_map.values()})
    start, stop = spans[0][0], max(s[1] for s in spans)
    covered = np.zeros(global_batch, bool)
    for lo, hi in spans:
        covered[lo:hi] = True
    if not covered[start:stop].all():
        raise ValueError(
            f"this process holds non-contiguous rows {spans} of the global batch; order the "
            "mesh devices so that each process owns one block of the batch axis"
        )
    return slice(start, stop)


def global_batch(
    dataset: GroundTruthData,
    data_key: PRNGKey,
    step: int,
    global_batch_size: int,
    sharding: Sharding,
) -> tuple[Array, Array]:
    """The global batch of ``step`` as global ``jax.Array`` s sharded by ``sharding``.

    Each process renders only the rows its devices hold (:func:`local_rows`) and the
    arrays are assembled with ``jax.make_array_from_process_local_data``.

    Args:
      dataset: any ground-truth dataset (procedural or device-resident).
      data_key: the run's data key.
      step: the step number (int).
      global_batch_size: rows of the global batch; divisible by the batch-axis shards.
      sharding: ``NamedSharding`` whose first dimension splits the batch.

    Returns:
      ``(images [B, H, W, C] float32, factors [B, F] int32)``.

    Examples:
      >>> import jax
      >>> from disentax import parallel
      >>> from disentax.data import Identity, sampling
      >>> dataset, data_key = Identity((3, 5)), jax.random.key(0)
      >>> sharding = parallel.data_sharding(parallel.make_mesh(1))  # rows split over "data"
      >>> images, factors = sampling.global_batch(dataset, data_key, 7, 4, sharding)
      >>> images.shape, tuple(images.sharding.spec)
      ((4, 1, 1, 2), ('data',))
    """
    check_key(data_key, "data_key")
    global_batch_size = check_num(global_batch_size, "global_batch_size")
    rows = local_rows(sharding, global_batch_size)
    num_rows = rows.stop - rows.start
    images, factors = realise_rows(dataset, data_key, step, global_batch_size, rows.start, num_rows)
    image_sharding = _batch_sharding(sharding, images.ndim)
    factor_sharding = _batch_sharding(sharding, factors.ndim)
    images = jax.make_array_from_process_local_data(
        image_sharding, np.asarray(images), (global_batch_size, *images.shape[1:])
    )
    factors = jax.make_array_from_process_local_data(
        factor_sharding, np.asarray(factors), (global_batch_size, factors.shape[1])
    )
    return images, factors
