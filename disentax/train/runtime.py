"""Process-level pieces of a job: signals, closed outputs, errors, start-up time."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import threading
import time

import jax

__all__ = [
    "NonFiniteLossError",
    "SignalCatcher",
    "TerminationSignal",
    "drop_closed_output",
    "print_line",
    "seconds_since_process_start",
    "unwind_on_termination",
]

# The signals that end a job cleanly: SIGHUP is what a closed terminal or ssh session sends.
ENDING_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name)
)

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


def _closed_output(err: OSError) -> bool:
    """Whether a write failed because its reader is gone (a closed pipe or terminal)."""
    return isinstance(err, BrokenPipeError) or err.errno in (errno.EPIPE, errno.EIO)


def _silence(stream) -> None:
    """Points ``stream``'s file descriptor, and the standard ones sharing it, at os.devnull."""
    try:
        broken = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):  # no descriptor (e.g. captured): drop text
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in {1, 2, stream.fileno()}:
            try:
                same = os.path.samestat(os.fstat(fd), broken)
            except OSError:
                continue
            if same:
                os.dup2(devnull, fd)
    finally:
        os.close(devnull)
    with contextlib.suppress(OSError, ValueError):
        stream.flush()  # what the failed write left in the buffer goes to os.devnull


def print_line(text: str, *, file=None) -> None:
    """Prints one line and flushes; output nobody reads any more is dropped, not an error.

    A job whose output pipe was closed (``disentax train | head -2``) or whose terminal
    went away keeps working: at the first failed write (EPIPE, EIO) the stream, and any
    standard stream writing to the same pipe or terminal, is pointed at ``os.devnull``.

    Args:
      text: the line (without its newline).
      file: the stream (default: ``sys.stderr``).
    """
    stream = sys.stderr if file is None else file
    try:
        print(text, file=stream, flush=True)
    except OSError as err:
        drop_closed_output(err, stream)


def drop_closed_output(err: OSError, stream) -> None:
    """Points ``stream`` at ``os.devnull`` if ``err`` says its reader is gone, else raises it.

    Args:
      err: the error of a write to ``stream``.
      stream: the stream written to (standard streams writing to the same pipe or
        terminal are redirected too).
    """
    if not _closed_output(err):
        raise err
    _silence(stream)


class SignalCatcher:
    """Turns SIGTERM/SIGINT/SIGHUP into a flag the loop polls, so it can checkpoint first.

    ``requested(sync=...)`` returns the caught signal number (or 0). In a multi-process
    job the flag is combined across processes only when ``sync`` is true (on log steps),
    so that every process stops at the same step. After checkpointing, ``reraise()``
    restores the previous handlers and delivers the signal again, so the process ends as
    it would have (SIGINT raises KeyboardInterrupt, SIGTERM and SIGHUP terminate). SIGHUP
    is what a closed terminal or ssh session sends. SIGPIPE, if a host program left it at
    its default (death), is ignored meanwhile: a closed output pipe must not end a run.
    """

    SIGNALS = ENDING_SIGNALS

    def __init__(self):
        self._caught = 0
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
            if hasattr(signal, "SIGPIPE") and signal.getsignal(signal.SIGPIPE) == signal.SIG_DFL:
                self._previous[signal.SIGPIPE] = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
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


class TerminationSignal(BaseException):
    """SIGTERM or SIGHUP arrived inside :func:`unwind_on_termination` (``signum``)."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"terminated by signal {signum}")


@contextlib.contextmanager
def unwind_on_termination():
    """Runs the block so that SIGTERM and SIGHUP unwind it (its ``finally`` clauses run).

    Inside, those of the signals whose action is the default (ending the process at once)
    raise :class:`TerminationSignal`; when it leaves the block the default is put back and
    the signal delivered again, so the process ends as it would have, after the cleanup.
    Signals a host program handles or ignores are left to it. Used around work that owns
    a child process or temporary files. Outside the main thread (where Python cannot set
    handlers) the block runs as is. SIGINT unwinds by itself (KeyboardInterrupt).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum, frame):
        del frame
        raise TerminationSignal(signum)

    wanted = [
        sig
        for sig in ENDING_SIGNALS
        if sig != signal.SIGINT and signal.getsignal(sig) == signal.SIG_DFL
    ]
    previous = {sig: signal.signal(sig, handle) for sig in wanted}
    try:
        yield
    except TerminationSignal as err:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        previous = {}
        signal.raise_signal(err.signum)  # the default action: the process ends here
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
