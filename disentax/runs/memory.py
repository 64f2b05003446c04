"""Will one train step fit? The compiled step's memory against what the machine has.

A batch too large for the machine used to die in XLA's allocation of the step's
temporary buffer, after compiling, with a traceback or the kernel's out-of-memory
killer. XLA states a compiled program's needs (``Compiled.memory_analysis()``: its
temporary buffer, outputs and donated arguments), so the job checks them once the step
has compiled, before it runs, and refuses in one line naming ``config.batch_size``. The
check costs no compile: it reads the program the job compiles anyway (:func:`checked`
wraps the step's ahead-of-time compile).

Available memory: on a CPU, ``MemAvailable`` of ``/proc/meminfo`` (what the kernel can
give without swapping; every CPU device of a process shares it); on an accelerator, the
device's ``bytes_limit`` less ``bytes_in_use`` (``Device.memory_stats()``). Where either
side is unknown the check is skipped.
"""

from __future__ import annotations

import dataclasses
import os

__all__ = ["available_bytes", "check_step_memory", "checked", "step_bytes"]


def available_bytes(device) -> int | None:
    """Bytes a new allocation can get on ``device`` (host memory for a CPU), or None."""
    if device.platform != "cpu":
        try:
            stats = device.memory_stats() or {}
        except Exception:  # noqa: BLE001 -- backends without statistics: no check
            return None
        if "bytes_limit" not in stats:
            return None
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the file counts kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):  # not a POSIX system
        return None


def step_bytes(compiled) -> int | None:
    """Bytes one run of ``compiled`` allocates on one device, or None if XLA does not say.

    The temporary buffer and the outputs, less the outputs written into donated
    arguments (the state): the arguments themselves are already allocated.
    """
    try:
        stats = compiled.memory_analysis()
    except Exception:  # noqa: BLE001 -- a backend without the analysis: no check
        return None
    if stats is None:
        return None
    return int(stats.temp_size_in_bytes + stats.output_size_in_bytes - stats.alias_size_in_bytes)


def check_step_memory(
    compiled, devices, *, batch_size: int, available: int | None = None, models: int = 1
) -> None:
    """Refuses a compiled train step that needs more memory than ``devices`` have.

    Args:
      compiled: the step's ``jax.stages.Compiled`` program.
      devices: the devices it runs on (CPU devices share the host's memory).
      batch_size: the config's global batch, named in the message.
      available: bytes available (default: :func:`available_bytes` of the first device).
      models: the models the program trains (a sweep's; the message then also offers
        fewer models per program).

    Raises:
      ValueError: the step needs more than is available (names ``config.batch_size``).
    """
    devices = list(devices)
    per_device = step_bytes(compiled)
    if per_device is None or not devices:
        return
    device = devices[0]
    shared = device.platform == "cpu"  # one host memory for every CPU device
    needed = per_device * (len(devices) if shared else 1)
    if available is None:
        available = available_bytes(device)
    if available is None or needed <= available:
        return
    where = "host" if shared else f"{device.device_kind} device"
    fits = max(1, int(batch_size * available / needed))
    fewer = ""
    if models > 1:
        fewer = (
            f", or train fewer models per program (config.models_per_program; this one "
            f"trains {models})"
        )
    raise ValueError(
        f"config.batch_size={batch_size}: one train step needs about {_size(needed)} of "
        f"{where} memory and {_size(available)} are available; lower config.batch_size "
        f"(about {fits} would fit){fewer}"
    )


def _size(num_bytes: int) -> str:
    return f"{num_bytes / 2**30:.1f} GiB" if num_bytes >= 2**30 else f"{num_bytes / 2**20:.0f} MiB"


def checked(train_step, *, batch_size: int, models: int = 1):
    """``train_step`` whose ahead-of-time compile also checks the step's memory.

    The check runs when the compile finishes (the job waits for it before the first
    step), on the program compiled for the run, so it adds no compile.

    Args:
      train_step: a :class:`disentax.train.TrainStep`.
      batch_size: the config's global batch (named in the error).
      models: the models the step trains (a sweep's), for the error's advice.

    Returns:
      The same step, its ``precompile_fn`` wrapped (unchanged when it has none).
    """
    precompile_fn = train_step.precompile_fn
    if precompile_fn is None:
        return train_step
    devices = list(train_step.mesh.devices.flat)

    def precompile_and_check(abstract_state, *batch):
        finish = precompile_fn(abstract_state, *batch)

        def finish_and_check():
            compiled = finish()
            if compiled is not None:
                check_step_memory(compiled, devices, batch_size=batch_size, models=models)
            return compiled

        return finish_and_check

    return dataclasses.replace(train_step, precompile_fn=precompile_and_check)
