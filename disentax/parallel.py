"""Meshes, shardings, multi-host start-up and global batches.

disentax is data parallel: a one-dimensional :class:`jax.sharding.Mesh` over every device
of every process, with the batch split along its ``"data"`` axis and the parameters
replicated. The same code runs on one CPU, on 8 simulated CPU devices, on a GPU node and
on a TPU pod; only the mesh changes. A sweep of S models may instead run on a
two-dimensional ``("models", "data")`` mesh (:func:`make_model_mesh`): each device holds
its share of the models (:func:`model_sharding`), each model's batch split over ``data``.

Multi-host: call :func:`initialize_distributed` before anything touches a device. It calls
:func:`jax.distributed.initialize` when asked to explicitly (``coordinator``,
``num_processes``, ``process_id``) or when the environment says the job spans several
processes (a TPU pod slice, a SLURM or Open MPI job with more than one task, or
``JAX_COORDINATOR_ADDRESS`` set), and does nothing for a single process.

References:
  JAX documentation, "Distributed arrays and automatic parallelization" and
  "Multi-process environments" (jax.distributed, make_array_from_process_local_data).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

#: Name of the mesh axis the batch is split along.
DATA_AXIS = "data"
#: Name of the mesh axis a sweep's models are split along (a ``models`` × ``data`` mesh).
MODELS_AXIS = "models"

__all__ = [
    "DATA_AXIS",
    "MODELS_AXIS",
    "check_global_batch",
    "check_models_split",
    "data_sharding",
    "environment_wants_distributed",
    "global_array",
    "global_batch_from_process_local",
    "initialize_distributed",
    "data_axis_size",
    "make_mesh",
    "make_model_mesh",
    "model_sharding",
    "padded_num_models",
    "process_rows",
    "replicated_sharding",
]


def environment_wants_distributed(environ: Mapping[str, str] | None = None) -> str | None:
    """Names the multi-process launcher found in the environment, or ``None``.

    Recognised: ``JAX_COORDINATOR_ADDRESS``; SLURM (``SLURM_JOB_ID`` with ``SLURM_NTASKS``
    > 1); Open MPI (``OMPI_COMM_WORLD_SIZE`` > 1); a Cloud TPU pod slice
    (``TPU_WORKER_HOSTNAMES`` listing more than one host, or ``MEGASCALE_COORDINATOR_ADDRESS``).

    Examples:
      >>> from disentax.parallel import environment_wants_distributed
      >>> environment_wants_distributed({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"})
      'SLURM'
      >>> print(environment_wants_distributed({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1"}))
      None
    """
    env = os.environ if environ is None else environ

    def more_than_one(name: str) -> bool:
        try:
            return int(env.get(name, "1")) > 1
        except ValueError:
            return False

    if env.get("JAX_COORDINATOR_ADDRESS"):
        return "JAX_COORDINATOR_ADDRESS"
    if env.get("SLURM_JOB_ID") and more_than_one("SLURM_NTASKS"):
        return "SLURM"
    if more_than_one("OMPI_COMM_WORLD_SIZE"):
        return "Open MPI"
    if "," in env.get("TPU_WORKER_HOSTNAMES", "") or env.get("MEGASCALE_COORDINATOR_ADDRESS"):
        return "Cloud TPU pod"
    return None


def initialize_distributed(
    *,
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> bool:
    """Starts the multi-process runtime when asked to or when the environment says so.

    Must run before any JAX computation (it configures the backends). Idempotent: a
    second call after a successful one does nothing. CPU processes exchange collectives
    over gloo (``jax_cpu_collectives_implementation``), so the same call works for a
    multi-process test on one machine (loopback).

    Args:
      coordinator: ``host:port`` of process 0's coordination service.
      num_processes: total number of processes (> 0).
      process_id: this process's index in ``[0, num_processes)``.

    Returns:
      True when the job is (now) multi-process, False for a single process.

    Raises:
      ValueError: only some of the three explicit arguments are given, or they are out
        of range.

    Examples:
      The explicit arguments are checked before anything starts:

      >>> from disentax.parallel import initialize_distributed
      >>> initialize_distributed(coordinator="10.0.0.1:1234", num_processes=2, process_id=2)
      Traceback (most recent call last):
      ...
      ValueError: process_id must be in [0, num_processes=2), got 2
    """
    explicit = (coordinator, num_processes, process_id)
    if any(v is not None for v in explicit):
        if any(v is None for v in explicit):
            raise ValueError(
                "multi-host start-up needs all of coordinator (host:port), num_processes and "
                f"process_id; got coordinator={coordinator!r}, num_processes={num_processes!r}, "
                f"process_id={process_id!r}"
            )
        if not isinstance(coordinator, str) or ":" not in coordinator:
            raise ValueError(f"coordinator must be 'host:port', got {coordinator!r}")
        if int(num_processes) < 1:
            raise ValueError(f"num_processes must be >= 1, got {num_processes}")
        if not 0 <= int(process_id) < int(num_processes):
            raise ValueError(
                f"process_id must be in [0, num_processes={num_processes}), got {process_id}"
            )
    if jax.distributed.is_initialized():
        return True
    launcher = environment_wants_distributed()
    if coordinator is None and launcher is None:
        return False
    if jax.config.jax_cpu_collectives_implementation in (None, "", "none"):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if coordinator is not None:
        jax.distributed.initialize(
            coordinator_address=coordinator,
            num_processes=int(num_processes),
            process_id=int(process_id),
        )
    else:
        jax.distributed.initialize()  # cluster auto-detection (TPU, SLURM, Open MPI, env)
    return True


def make_mesh(num_devices: int | None = None, *, devices=None) -> Mesh:
    """A one-dimensional data-parallel mesh with axis ``"data"``.

    Args:
      num_devices: how many of the global devices to use (default all).
      devices: explicit device list (default ``jax.devices()``, every process's devices).

    Returns:
      ``Mesh`` of shape ``(D,)`` with axis name ``"data"`` (automatic sharding mode).

    Examples:
      >>> from disentax.parallel import make_mesh
      >>> mesh = make_mesh(1)  # the first device; make_mesh() takes them all
      >>> mesh.axis_names, mesh.size
      (('data',), 1)
    """
    devices = list(jax.devices() if devices is None else devices)
    if num_devices is None:
        num_devices = len(devices)
    if not isinstance(num_devices, int) or not 1 <= num_devices <= len(devices):
        raise ValueError(
            f"num_devices must be an int in [1, {len(devices)}] (the available devices), "
            f"got {num_devices!r}"
        )
    if num_devices < len(devices) and jax.process_count() > 1:
        raise ValueError("num_devices must use every device in a multi-process job")
    return Mesh(
        np.asarray(devices[:num_devices]),
        (DATA_AXIS,),
        axis_types=(jax.sharding.AxisType.Auto,),
    )


def make_model_mesh(models: int = 0, data: int = 0, *, devices=None) -> Mesh:
    """A ``("models", "data")`` mesh for sweeps whose models are split over devices.

    Args:
      models: devices along the models axis; 0 chooses ``len(devices) // data`` (with
        ``data`` 0 too: every device on the models axis, what small models want).
      data: devices along the data axis (each model's batch is split over them); 0
        chooses ``len(devices) // models``.
      devices: the devices (default ``jax.devices()``, every process's devices).

    Returns:
      ``Mesh`` of shape ``(models, data)`` with axis names ``("models", "data")``.

    Raises:
      ValueError: a shape that does not use exactly the devices given.

    Examples:
      >>> from disentax.parallel import make_model_mesh
      >>> mesh = make_model_mesh()  # every device on the models axis
      >>> mesh.axis_names, mesh.shape["data"]
      (('models', 'data'), 1)
    """
    devices = list(jax.devices() if devices is None else devices)
    count = len(devices)
    for name, value in (("models", models), ("data", data)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"mesh {name} must be an int >= 0 (0: automatic), got {value!r}")
    if models == 0:
        models = count // data if data else count
    if data == 0:
        data = count // models if models else 0
    if models * data != count:
        raise ValueError(
            f"a models x data mesh of {models} x {data} does not fit the {count} devices: "
            "the product must equal the device count (0 picks a side automatically)"
        )
    grid = np.asarray(devices).reshape(models, data)
    return Mesh(grid, (MODELS_AXIS, DATA_AXIS), axis_types=(jax.sharding.AxisType.Auto,) * 2)


def model_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (model) axis split over the mesh's models axis (replicated without one).

    Examples:
      >>> from disentax.parallel import make_mesh, make_model_mesh, model_sharding
      >>> tuple(model_sharding(make_model_mesh()).spec), tuple(model_sharding(make_mesh(1)).spec)
      (('models',), ())
    """
    if MODELS_AXIS not in mesh.axis_names:
        return replicated_sharding(mesh)
    return NamedSharding(mesh, PartitionSpec(MODELS_AXIS))


def data_axis_size(mesh: Mesh) -> int:
    """Devices along the data axis: what a global batch must be divisible by.

    Examples:
      >>> from disentax.parallel import data_axis_size, make_model_mesh
      >>> data_axis_size(make_model_mesh())
      1
    """
    return int(mesh.shape[DATA_AXIS])


def padded_num_models(num_models: int, mesh: Mesh) -> int:
    """``num_models`` rounded up to a multiple of the models axis (1 without one).

    Examples:
      >>> from disentax.parallel import make_mesh, padded_num_models
      >>> padded_num_models(5, make_mesh(1))
      5
    """
    size = int(mesh.shape[MODELS_AXIS]) if MODELS_AXIS in mesh.axis_names else 1
    return -(-num_models // size) * size


def check_models_split(num_models: int | None, mesh: Mesh) -> None:
    """Raises ``ValueError`` unless a sweep of ``num_models`` splits over the models axis.

    Examples:
      >>> from disentax.parallel import check_models_split, make_model_mesh
      >>> check_models_split(8, make_model_mesh(data=1))  # one model per device
    """
    if num_models is None:
        raise ValueError("a models x data mesh runs sweeps (num_models) with parallel='jit'")
    size = int(mesh.shape[MODELS_AXIS]) if MODELS_AXIS in mesh.axis_names else 1
    if num_models % size:
        raise ValueError(
            f"num_models={num_models} does not split over the mesh's {size} model devices; "
            f"pad the sweep to {padded_num_models(num_models, mesh)} models "
            "(disentax.runs.train_sweep pads with copies it does not save)"
        )


def global_array(x, sharding: NamedSharding) -> jax.Array:
    """A global array of ``sharding`` from a value every process holds (typed keys too).

    ``jax.device_put`` cannot target other processes' devices; each process builds its own
    shards of the same host value instead.

    Examples:
      >>> import numpy as np
      >>> from disentax.parallel import global_array, make_mesh, replicated_sharding
      >>> global_array(np.arange(3), replicated_sharding(make_mesh(1))).tolist()
      [0, 1, 2]
    """
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        data = global_array(jax.random.key_data(x), sharding)
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def data_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) axis split over the mesh's data axis; other axes whole.

    Examples:
      >>> from disentax.parallel import data_sharding, make_mesh
      >>> tuple(data_sharding(make_mesh(1)).spec)
      ('data',)
    """
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
    """Every device holds the whole array (parameters, optimizer state, keys).

    Examples:
      >>> from disentax.parallel import make_mesh, replicated_sharding
      >>> replicated_sharding(make_mesh(1)).is_fully_replicated
      True
    """
    return NamedSharding(mesh, PartitionSpec())


def check_global_batch(global_batch_size: int, num_devices: int, *, name: str = "batch_size"):
    """Raises ``ValueError`` unless the global batch splits evenly over the devices.

    Examples:
      >>> from disentax.parallel import check_global_batch
      >>> check_global_batch(64, 8)  # 8 rows per device: fine
      >>> check_global_batch(60, 8)  # doctest: +ELLIPSIS
      Traceback (most recent call last):
      ...
      ValueError: batch_size=60 is not divisible by the device count 8; use a multiple of 8 ...
    """
    if isinstance(global_batch_size, bool) or not isinstance(global_batch_size, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(global_batch_size).__name__}")
    if global_batch_size < 1:
        raise ValueError(f"{name} must be positive, got {global_batch_size}")
    if global_batch_size % num_devices:
        suggestion = num_devices * max(1, global_batch_size // num_devices)
        raise ValueError(
            f"{name}={global_batch_size} is not divisible by the device count {num_devices}; "
            f"use a multiple of {num_devices} (e.g. {suggestion})"
        )


def process_rows(global_batch_size: int, mesh: Mesh) -> slice:
    """The rows of a global batch that this process holds under :func:`data_sharding`.

    Devices of one process are contiguous on the mesh built by :func:`make_mesh` (device
    order of ``jax.devices()``), so each process owns one contiguous block of rows.

    Examples:
      >>> from disentax.parallel import make_mesh, process_rows
      >>> process_rows(8, make_mesh(1))  # a single process holds every row
      slice(0, 8, None)
    """
    check_global_batch(global_batch_size, mesh.size)
    per_device = global_batch_size // mesh.size
    flat = list(mesh.devices.flat)
    mine = [i for i, d in enumerate(flat) if d.process_index == jax.process_index()]
    if mine != list(range(mine[0], mine[0] + len(mine))):
        raise ValueError("this process's devices are not contiguous on the mesh")
    return slice(mine[0] * per_device, (mine[-1] + 1) * per_device)


def global_batch_from_process_local(local, mesh: Mesh, global_batch_size: int):
    """Assembles a global, data-sharded ``jax.Array`` pytree from this process's rows.

    Args:
      local: pytree of host arrays ``[rows, ...]`` holding the rows
        ``process_rows(global_batch_size, mesh)`` of the global batch.
      mesh: the data-parallel mesh.
      global_batch_size: ``N``, rows of the global batch.

    Returns:
      Pytree of ``jax.Array`` ``[N, ...]`` sharded over the data axis.

    Examples:
      >>> import numpy as np
      >>> from disentax.parallel import global_batch_from_process_local, make_mesh
      >>> batch = {"images": np.zeros((4, 1, 1, 2)), "factors": np.zeros((4, 2), np.int32)}
      >>> arrays = global_batch_from_process_local(batch, make_mesh(1), 4)
      >>> arrays["images"].shape, tuple(arrays["images"].sharding.spec)
      ((4, 1, 1, 2), ('data',))
    """
    sharding = data_sharding(mesh)

    def one(x):
        x = np.asarray(x)
        return jax.make_array_from_process_local_data(
            sharding, x, (global_batch_size, *x.shape[1:])
        )

    return jax.tree.map(one, local)
