"""Process-level pieces of the training job: signals, errors, versions, start-up time."""

from __future__ import annotations

import os
import signal
import threading
import time

import jax

__all__ = [
    "NonFiniteLossError",
    "SignalCatcher",
    "seconds_since_process_start",
]

_IMPORT_TIME = time.perf_counter()


class NonFiniteLossError(FloatingPointError):
    """The loss (or gradient norm) became NaN or infinite.

    Attributes:
      step: the first step whose loss or gradient norm was not finite.
      last_good_checkpoint: the newest checkpoint saved before it (None if none), which
        stays intact.
    """

    def __init__(self, step: int, last_good_checkpoint: int | None, directory):
        self.step = step
        self.last_good_checkpoint = last_good_checkpoint
        where = (
            f"the last good checkpoint is step {last_good_checkpoint} in {directory}"
            if last_good_checkpoint is not None
            else f"no checkpoint was saved before it (in {directory})"
        )
        super().__init__(
            f"non-finite loss or gradient at step {step}; training stopped; {where}. "
            "Lower the learning rate or check the data, then run again to resume."
        )


def seconds_since_process_start() -> float:
    """Wall-clock seconds since this process started (Linux /proc; else since import)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])  # field 22 (starttime), counted after the comm field
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _IMPORT_TIME


class SignalCatcher:
    """Turns SIGTERM/SIGINT into a flag the loop polls, so it can checkpoint first.

    ``requested(sync=...)`` returns the caught signal number (or 0). In a multi-process
    job the flag is combined across processes only when ``sync`` is true (on log steps),
    so that every process stops at the same step. After checkpointing, ``reraise()``
    restores the previous handlers and delivers the signal again, so the process ends as
    it would have (SIGINT raises KeyboardInterrupt, SIGTERM terminates).
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self._caught = 0
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        del frame
        self._caught = signum

    def requested(self, *, sync: bool = False) -> int:
        """The caught signal number, or 0 (combined over processes when ``sync``)."""
        if jax.process_count() == 1:
            return self._caught
        if not sync:
            return 0
        from jax.experimental import multihost_utils

        flags = multihost_utils.process_allgather(jax.numpy.int32(self._caught))
        return int(max(flags.ravel()))

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
        return False

    def reraise(self) -> None:
        """Delivers the caught signal again with the original handlers in place."""
        self.__exit__()
        if self._caught:
            signal.raise_signal(self._caught)
