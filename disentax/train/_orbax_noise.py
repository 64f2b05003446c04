"""What orbax prints that a checkpoint job reports itself: filters and hooks that drop it.

orbax logs through absl and its threads report through ``sys.unraisablehook``. A restore
opens a read-only manager (one warning each time); a failed restore abandons reads that
each print a traceback; a save that runs out of space is logged by every writer thread.
:mod:`disentax.train.checkpoint` reports each of these in one line, so the repeats are
dropped here, and nothing else.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
import time
import traceback

__all__ = [
    "NO_SPACE",
    "QuietSaveFailures",
    "drain_abandoned_reads",
    "from_orbax_loop",
    "quiet_read_only_notice",
]

# orbax's CheckpointManager warns through absl (the "absl" logger) whenever it is opened
# read-only, which every restore does on purpose: that one notice is dropped, nothing else.
_READ_ONLY_NOTICE = "Given directory is read only"


def _not_read_only_notice(record: logging.LogRecord) -> bool:
    """False for orbax's read-only notice (a logging filter); True for every other record."""
    return not (record.levelno == logging.WARNING and str(record.msg).startswith(_READ_ONLY_NOTICE))


@contextlib.contextmanager
def quiet_read_only_notice():
    """Drops orbax's "Given directory is read only" warning while a read-only manager opens."""
    logger = logging.getLogger("absl")
    logger.addFilter(_not_read_only_notice)
    try:
        yield
    finally:
        logger.removeFilter(_not_read_only_notice)


NO_SPACE = "No space left on device"


def _not_out_of_space(record: logging.LogRecord) -> bool:
    """False for orbax's error reports of a save that ran out of space (a logging filter).

    The save's failure is raised as one ``CheckpointSpaceError`` naming the kept
    checkpoints; orbax's writer threads also log it, each with a full traceback.
    """
    text = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
        text += str(record.exc_info[1])
    return not (record.levelno >= logging.ERROR and NO_SPACE in text)


class QuietSaveFailures:
    """While installed: orbax's reports of a failed save are dropped, not printed.

    A save that fails in orbax's background threads (a disk filling up while it writes)
    is logged by each thread with a traceback, and the writes still in flight report
    "Event loop is closed" when orbax closes its loop; the failure itself reaches the job
    as one error, so these are dropped. Everything else passes.
    """

    def __init__(self):
        self._previous = None

    def _hook(self, unraisable):
        closed = isinstance(unraisable.exc_value, RuntimeError) and "Event loop is closed" in str(
            unraisable.exc_value
        )
        if not (closed and from_orbax_loop(unraisable)):
            self._previous(unraisable)

    def install(self) -> None:
        """Drops the reports from now on (again: nothing more)."""
        if self._previous is None:
            self._previous = sys.unraisablehook
            sys.unraisablehook = self._hook
            logging.getLogger("absl").addFilter(_not_out_of_space)

    def remove(self) -> None:
        """Lets every report through again (the hook a host installed since is kept)."""
        if self._previous is not None:
            if sys.unraisablehook == self._hook:
                sys.unraisablehook = self._previous
            self._previous = None
            logging.getLogger("absl").removeFilter(_not_out_of_space)


def from_orbax_loop(unraisable) -> bool:
    """Whether an unraisable error comes from orbax's reads abandoned by a failed restore."""
    files = [frame.filename for frame in traceback.extract_tb(unraisable.exc_traceback)]
    asyncio_loop = os.path.join("asyncio", "base_events.py")
    return any("orbax" in f or f.endswith(asyncio_loop) for f in files)


def drain_abandoned_reads(quiet_s: float = 0.2, limit_s: float = 5.0) -> None:
    """Waits for the reads a failed orbax restore abandoned, dropping what they report.

    orbax closes its event loop when the first read fails; each read still in flight then
    reports "Event loop is closed" or an exception nobody awaits, as a Python traceback
    each (hundreds of lines that say no more than the failure). They are dropped until
    none has come for ``quiet_s`` seconds (at most ``limit_s``); other errors pass.
    """
    previous = sys.unraisablehook
    last = [time.monotonic()]

    def hook(unraisable):
        if from_orbax_loop(unraisable):
            last[0] = time.monotonic()
        else:
            previous(unraisable)

    sys.unraisablehook = hook
    start = time.monotonic()
    try:
        while time.monotonic() - last[0] < quiet_s and time.monotonic() - start < limit_s:
            gc.collect()
            time.sleep(0.05)
        gc.collect()
    finally:
        sys.unraisablehook = previous
