"""One job at a time in a run folder: an exclusive lock on the workdir.

Two trainings in one folder interleave their ``config.json``, checkpoints and log; an
evaluation or a traversal next to a training reads a half-trained run and writes beside
it. Every job that writes a run folder (:func:`disentax.runs.train`, ``train_sweep``,
``evaluate``, ``traverse``, ``write_report`` and the pipeline ``run``) therefore holds
the folder's lock file (:attr:`disentax.runs.RunFolder.lock`) while it runs, and a
second job refuses to start, naming the host, process id and job that hold it.

The lock is ``flock(LOCK_EX)`` on that file. The kernel releases it when its process
ends, however it ends (``kill -9`` included), so a file left behind is not a lock: the
next job takes it over. The holder removes the file when it is done. One process may take
a lock it already holds (a pipeline's train then evaluate); on several hosts only
process 0 locks, since it is the one that writes the folder's files.

Taking the lock is also the first write into the folder, so a read-only folder or a full
disk stops a job here, in one line, before it computes anything.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import inspect
import json
import os
import pathlib
import socket
import threading
import time
from collections.abc import Iterator, Sequence

from disentax.runs.folder import RunFolder

__all__ = [
    "WorkdirBusyError",
    "WorkdirNotWritableError",
    "holds_workdir",
    "lock_workdirs",
]


class WorkdirBusyError(BlockingIOError):
    """Another process holds the run folder's lock (the message names it)."""


class WorkdirNotWritableError(PermissionError):
    """The run folder cannot be written (read-only, no permission, or a full disk)."""


# path -> [open file descriptor, depth]: the locks this process holds (re-entrant)
_HELD: dict[pathlib.Path, list[int]] = {}
_HELD_GUARD = threading.Lock()


def _holder(fd: int) -> str:
    """Who holds the lock, from the file's contents (written by the holder)."""
    try:
        record = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        return (
            f"`disentax {record['job']}` (pid {record['pid']} on host {record['host']}, "
            f"since {record['since']})"
        )
    except (OSError, ValueError, KeyError, TypeError):  # not written yet, or not ours
        return "another process"


def _not_writable(folder: RunFolder, job: str, err: OSError) -> WorkdirNotWritableError:
    reason = "no space left on device" if err.errno == errno.ENOSPC else err.strerror or err
    return WorkdirNotWritableError(
        f"workdir {folder.path} cannot be written ({reason}); `disentax {job}` writes its "
        "results there: free some space, make it writable, or use another --workdir"
    )


def _make_folder(folder: RunFolder) -> list[pathlib.Path]:
    """Creates the folder and its missing parents; returns those created, deepest first."""
    created = []
    path = folder.path
    while not path.exists() and path != path.parent:
        created.append(path)
        path = path.parent
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(
            f"workdir {folder.path}: {path} is a file, not a folder (choose another --workdir)"
        )
    try:
        folder.path.mkdir(parents=True, exist_ok=True)
    except FileExistsError as err:
        raise NotADirectoryError(
            f"workdir {folder.path} exists and is not a folder (choose another --workdir)"
        ) from err
    return created


def _open_locked(folder: RunFolder, job: str) -> int:
    """Opens the lock file, takes the lock and writes this process into it."""
    while True:
        try:
            fd = os.open(folder.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise _not_writable(folder, job, err) from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise WorkdirBusyError(
                f"workdir {folder.path} is in use by {holder}; wait for it to finish or use "
                "another --workdir"
            ) from None
        try:  # the holder before us may have removed the file: lock the current one
            same = os.stat(folder.lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    record = {
        "job": job,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
    except OSError as err:
        _release(folder, fd)
        raise _not_writable(folder, job, err) from err
    return fd


def _release(folder: RunFolder, fd: int) -> None:
    """Removes the lock file (while still holding it) and lets the lock go."""
    with contextlib.suppress(OSError):
        if os.stat(folder.lock).st_ino == os.fstat(fd).st_ino:
            os.unlink(folder.lock)
    os.close(fd)


@contextlib.contextmanager
def _lock_one(folder: RunFolder, job: str, *, create: bool) -> Iterator[None]:
    """Holds ``folder``'s lock (re-entrant within a process)."""
    with _HELD_GUARD:
        held = folder.path in _HELD
        if held:
            _HELD[folder.path][1] += 1
    if held:
        try:
            yield
        finally:
            _leave(folder)
        return
    if not create and not folder.path.is_dir():
        yield  # nothing to lock: the job reports the missing folder itself
        return
    created = _make_folder(folder) if create else []
    try:
        fd = _open_locked(folder, job)
    except BaseException:
        _remove_empty(created)
        raise
    with _HELD_GUARD:
        _HELD[folder.path] = [fd, 1]
    try:
        yield
    finally:
        _leave(folder, created)


def _leave(folder: RunFolder, created: Sequence[pathlib.Path] = ()) -> None:
    """Drops one level of ``folder``'s lock; the last one releases it."""
    with _HELD_GUARD:
        entry = _HELD[folder.path]
        entry[1] -= 1
        if entry[1]:
            return
        del _HELD[folder.path]
    _release(folder, entry[0])
    _remove_empty(created)


def _remove_empty(created: Sequence[pathlib.Path]) -> None:
    """Removes the folders this job created if they stayed empty (a job that failed early)."""
    for path in created:
        try:
            path.rmdir()
        except OSError:
            return


@contextlib.contextmanager
def lock_workdirs(
    workdirs: Sequence[str | os.PathLike], *, job: str, create: bool = False
) -> Iterator[None]:
    """Holds the lock of every run folder in ``workdirs`` (on process 0 only).

    Args:
      workdirs: run folders.
      job: the job's name, written into the lock file for the message of a second job.
      create: create missing folders (removed again if the job leaves them empty);
        without it a missing folder is not locked (the job reports it).

    Raises:
      WorkdirBusyError: another process holds one of the locks.
      WorkdirNotWritableError: a folder is read-only or its disk is full.
      NotADirectoryError: a workdir, or a folder above it, is a file.

    Example:
      >>> import tempfile
      >>> with tempfile.TemporaryDirectory() as tmp:
      ...     with lock_workdirs([tmp], job="train"):
      ...         (pathlib.Path(tmp) / ".lock").is_file()
      True
    """
    import jax

    with contextlib.ExitStack() as stack:
        if jax.process_index() == 0:
            for folder in sorted({RunFolder(w) for w in workdirs}, key=lambda f: f.path):
                stack.enter_context(_lock_one(folder, job, create=create))
        yield


def holds_workdir(job: str, *, create: bool = False, argument: str = "workdir"):
    """Decorates a job so that it runs holding the lock of its run folder(s).

    Args:
      job: the job's name (in the message a second job gets).
      create: as in :func:`lock_workdirs` (a training creates its folder).
      argument: the parameter holding the folder (``workdirs``: a sequence of folders).

    Returns:
      The decorator.
    """

    def decorate(fn):
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def locked(*args, **kwargs):
            given = signature.bind_partial(*args, **kwargs).arguments.get(argument)
            if given is None:
                return fn(*args, **kwargs)
            folders = [given] if isinstance(given, str | os.PathLike) else list(given)
            with lock_workdirs(folders, job=job, create=create):
                return fn(*args, **kwargs)

        return locked

    return decorate
