"""Checkpoints of a run: an orbax ``CheckpointManager`` in a ``checkpoints`` folder.

Saves are asynchronous (training continues while the files are written), one numbered
folder per saved step, the latest ``max_to_keep`` kept. orbax writes each checkpoint into
a temporary folder and renames it when complete, and prunes older checkpoints only after
a newer one is committed, so a run killed mid-save leaves its previous checkpoints intact.
Each checkpoint records a CRC-32 of every leaf in its orbax metadata (orbax keeps none of
its own that a restore checks).

Restoring checks what it reads. Before any array is read, the saved layout (leaf paths,
shapes, dtypes) must be the state's: a checkpoint of another model or config is a
:class:`CheckpointMismatchError`, never taken for corruption. After reading, every leaf
must match its CRC-32 (when recorded) and every floating-point leaf must be finite.

Without a step, restoring tries the newest checkpoint first and falls back step by step,
each with a fresh orbax reader (a manager that failed on one step can fail on every other).
A step that cannot be read (an empty or foreign folder, truncated or overwritten files) is
reported; once an older step restores, a writable folder moves the unreadable newer ones to
``<folder>_corrupt/<step>-<time>`` (never deleted) so those steps can be saved again. When
no step can be read nothing is moved: :class:`UnreadableCheckpointError` lists each step
and why.

References:
  Orbax documentation, "CheckpointManager" (orbax.checkpoint).
"""

from __future__ import annotations

import contextlib
import errno
import pathlib
import shutil
import time
import zlib

import jax
import numpy as np

from disentax.train._orbax_noise import (
    NO_SPACE,
    QuietSaveFailures,
    drain_abandoned_reads,
    quiet_read_only_notice,
)
from disentax.train.runtime import print_line

__all__ = [
    "CheckpointMismatchError",
    "CheckpointSpaceError",
    "Checkpoints",
    "NoCheckpointError",
    "UnreadableCheckpointError",
    "checksums",
]

# The key of the per-leaf CRC-32s in a checkpoint's orbax custom metadata.
CHECKSUM_KEY = "disentax_crc32"


class NoCheckpointError(FileNotFoundError):
    """The folder holds no readable checkpoint (or not the requested step)."""


class UnreadableCheckpointError(NoCheckpointError):
    """Checkpoints are saved, but none of them (or not the requested step) can be read.

    Attributes:
      failures: ``{step: reason}`` of every step that was tried.
    """

    def __init__(self, message: str, failures: dict[int, str]):
        super().__init__(message)
        self.failures = dict(failures)


class CheckpointSpaceError(OSError):
    """The disk holding the checkpoints has no room for the next one (``errno`` ENOSPC)."""


class CheckpointMismatchError(ValueError):
    """A checkpoint's layout (leaf paths, shapes, dtypes) is not that of the given state."""


class _Unreadable(Exception):
    """One step could not be read (internal; ``reason`` is one line)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _mib(num_bytes: int) -> str:
    return f"{num_bytes / 2**20:.1f} MiB"


def _log(message: str) -> None:
    if jax.process_index() == 0:
        print_line(message)


def _reason(err: BaseException) -> str:
    first = (str(err).splitlines() or [""])[0].split(" See full TensorStore details")[0]
    return f"{type(err).__name__}: {first[:200]}"


def _key_name(entry) -> str:
    for attribute in ("key", "name", "idx"):
        if hasattr(entry, attribute):
            return str(getattr(entry, attribute))
    return str(entry)


def _leaves(tree) -> dict[str, object]:
    """``{"params/vae/encoder/...": leaf}``: orbax stores dataclasses and tuples by name."""
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {"/".join(_key_name(k) for k in path): leaf for path, leaf in flat}


def _is_key(leaf) -> bool:
    return jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key)


def _host(leaf) -> np.ndarray | None:
    """The leaf's values on this host (None if another process holds part of them)."""
    if isinstance(leaf, jax.Array) and not (leaf.is_fully_addressable or leaf.is_fully_replicated):
        return None
    if _is_key(leaf):
        leaf = jax.random.key_data(leaf)
    return np.ascontiguousarray(np.asarray(leaf))


def _crc32(values: np.ndarray) -> int:
    return zlib.crc32(values.reshape(-1).view(np.uint8))


def checksums(state) -> dict[str, int]:
    """The CRC-32 of every leaf's bytes, by leaf path (what a checkpoint records).

    Args:
      state: a pytree of arrays (PRNG keys are checksummed by their key data).

    Example:
      >>> import jax.numpy as jnp
      >>> checksums({"w": jnp.zeros(2)})
      {'w': 1696784233}
    """
    sums = {}
    for name, leaf in _leaves(state).items():
        values = _host(leaf)
        if values is not None:
            sums[name] = _crc32(values)
    return sums


def _finite(values: np.ndarray) -> bool:
    if not jax.dtypes.issubdtype(values.dtype, np.inexact):
        return True
    if values.dtype.kind not in "fc":  # e.g. bfloat16
        values = values.astype(np.float32)
    return bool(np.isfinite(values).all())


def _verify(state, recorded: dict | None) -> None:
    """Raises :class:`_Unreadable` for a leaf off its CRC-32 or with non-finite values."""
    for name, leaf in _leaves(state).items():
        values = _host(leaf)
        if values is None:
            continue
        if recorded and name in recorded and _crc32(values) != int(recorded[name]):
            raise _Unreadable(f"{name} does not match the CRC-32 recorded when it was saved")
        if not _finite(values):
            raise _Unreadable(f"{name} holds NaN or infinite values")


def _restore_arrays(reader, step: int, abstract_state):
    """``((state, recorded CRC-32s), None)``, or ``(None, reason)`` if orbax fails to read."""
    import orbax.checkpoint as ocp

    try:
        state = reader.restore(step, args=ocp.args.StandardRestore(abstract_state))
        jax.block_until_ready(state)
        recorded = (reader.metadata(step).custom_metadata or {}).get(CHECKSUM_KEY)
    except Exception as err:  # noqa: BLE001 -- any read failure: unreadable
        return None, _reason(err)
    return (state, recorded), None


def _layout_problems(abstract_state, saved) -> list[str]:
    """How the saved tree metadata differs from ``abstract_state`` (parameters first)."""
    wanted, stored = _leaves(abstract_state), _leaves(saved)
    problems = [f"{n}: in the state, not in the checkpoint" for n in wanted.keys() - stored.keys()]
    problems += [f"{n}: in the checkpoint, not in the state" for n in stored.keys() - wanted.keys()]
    for name in wanted.keys() & stored.keys():
        want, have = wanted[name], stored[name]
        if _is_key(want) or getattr(have, "shape", None) is None:
            continue
        have_dtype = np.dtype(have.dtype) if getattr(have, "dtype", None) is not None else None
        if tuple(have.shape) != tuple(want.shape) or have_dtype not in (None, want.dtype):
            problems.append(
                f"{name}: saved {tuple(have.shape)} {have_dtype}, "
                f"the state has {tuple(want.shape)} {np.dtype(want.dtype)}"
            )
    return sorted(problems, key=lambda p: (not p.startswith("params"), p))


class Checkpoints:
    """A run's checkpoint folder.

    Args:
      directory: the ``checkpoints`` folder (created on the first save when writable).
      max_to_keep: how many of the newest checkpoints to keep.
      read_only: open for restoring only (evaluation, visualisation).
      asynchronous: write checkpoints in a background thread.
    """

    def __init__(
        self,
        directory: str | pathlib.Path,
        *,
        max_to_keep: int = 3,
        read_only: bool = False,
        asynchronous: bool = True,
    ):
        self.read_only = read_only
        self.directory = pathlib.Path(directory).absolute()
        if read_only and not self.directory.is_dir():
            raise NoCheckpointError(f"no checkpoints folder in {self.directory.parent}")
        self._max_to_keep = max_to_keep
        self._asynchronous = asynchronous
        self._ocp = None
        self._manager_ = None
        self._quiet = QuietSaveFailures()
        if read_only or self.directory.is_dir():
            self._manager  # noqa: B018 -- open an existing folder now (reports errors early)

    @property
    def _manager(self):
        """The orbax manager, made on first use.

        A fresh run imports orbax when it saves its first checkpoint, so the import does
        not delay its first train step.
        """
        if self._manager_ is None:
            import orbax.checkpoint as ocp

            read_only = self.read_only
            options = ocp.CheckpointManagerOptions(
                max_to_keep=None if read_only else self._max_to_keep,
                save_interval_steps=0 if read_only else 1,
                create=not read_only,
                read_only=read_only,
                # a save cut short (kill -9, a full disk) leaves a temporary folder: the
                # next writer (the run folder's lock holder) removes it
                cleanup_tmp_directories=not read_only,
                enable_async_checkpointing=self._asynchronous and not read_only,
            )
            self._ocp = ocp
            with quiet_read_only_notice():
                self._manager_ = ocp.CheckpointManager(self.directory, options=options)
        return self._manager_

    def steps(self) -> list[int]:
        """The committed checkpoint steps, oldest first."""
        if self._manager_ is None and not self.directory.is_dir():
            return []
        self._manager.reload()
        return sorted(self._manager.all_steps())

    def latest_step(self) -> int | None:
        """The newest committed checkpoint step, or None when there is none."""
        steps = self.steps()
        return steps[-1] if steps else None

    def save(self, step: int, state) -> bool:
        """Starts saving ``state`` as checkpoint ``step`` (asynchronous); False if it exists.

        The CRC-32 of every leaf is computed now, from the state given, and recorded with
        the checkpoint.
        """
        step = int(step)
        if step in self._manager.all_steps():
            return False
        self._check_space(step, state)
        self._quiet.install()  # until close(): a failed save is one error, not pages
        recorded = {CHECKSUM_KEY: checksums(state)}
        args = self._ocp.args.StandardSave(state)
        with self._out_of_space_named():
            return bool(self._manager.save(step, args=args, force=True, custom_metadata=recorded))

    def wait(self) -> None:
        """Blocks until every started save is committed to disk."""
        if self._manager_ is not None:
            with self._out_of_space_named():
                self._manager_.wait_until_finished()

    def _free_bytes(self) -> int:
        folder = self.directory
        while not folder.is_dir() and folder != folder.parent:
            folder = folder.parent
        return shutil.disk_usage(folder).free

    def _check_space(self, step: int, state) -> None:
        """Refuses a save the disk has no room for, before orbax writes any of it.

        A save that runs out of space fails in orbax's writer threads, which print pages of
        tracebacks and leave a partial temporary folder. One process only: the processes
        of a multi-host job would have to agree on the refusal (there an out-of-space
        save is still reported as :class:`CheckpointSpaceError`, by orbax's error).
        """
        if jax.process_count() > 1:
            return
        sizes = [getattr(leaf, "nbytes", 0) for leaf in jax.tree.leaves(state)]
        needed = int(sum(sizes)) + (1 << 20)  # the arrays, plus orbax's metadata
        free = self._free_bytes()
        if free < 2 * needed:  # the previous save may still be writing: let it finish
            self.wait()
            free = self._free_bytes()
        if free < needed:
            raise CheckpointSpaceError(
                errno.ENOSPC,
                f"no room to save checkpoint {step} in {self.directory}: it needs about "
                f"{_mib(needed)} and {_mib(free)} are free; {self._kept()}",
            )

    def _kept(self) -> str:
        steps = self.steps()
        if not steps:
            return "no checkpoint is saved yet"
        kept = (
            f"checkpoint {steps[0]} is"
            if len(steps) == 1
            else "checkpoints " + ", ".join(map(str, steps)) + " are"
        )
        return (
            f"{kept} kept: free some space and run the same command to resume from step {steps[-1]}"
        )

    @contextlib.contextmanager
    def _out_of_space_named(self):
        """Orbax's error of a save that ran out of space, as one :class:`CheckpointSpaceError`."""
        try:
            yield
        except CheckpointSpaceError:
            raise
        except Exception as err:
            if NO_SPACE not in str(err):
                raise
            # the failed save may be an earlier one still in flight: no step is named
            raise CheckpointSpaceError(
                errno.ENOSPC,
                f"the disk filled up while saving a checkpoint in {self.directory}; {self._kept()}",
            ) from None

    def close(self) -> None:
        """Waits for the started saves to be committed, then closes the orbax manager."""
        try:
            if self._manager_ is not None:
                with self._out_of_space_named():
                    self._manager_.wait_until_finished()
                self._manager_.close()
        finally:
            self._quiet.remove()

    def restore(self, abstract_state, *, step: int | None = None):
        """Restores the newest readable checkpoint (or exactly ``step``), verified.

        Args:
          abstract_state: pytree of ``jax.ShapeDtypeStruct`` (with shardings) describing
            the state, e.g. ``jax.eval_shape`` of the initialisation.
          step: restore this step only (no fallback); None: newest readable.

        Returns:
          ``(state, step)``.

        Raises:
          NoCheckpointError: no checkpoint, or ``step`` is not saved.
          UnreadableCheckpointError: ``step``, or every saved step, cannot be read (each
            step's reason in the message and in ``failures``); nothing is moved.
          CheckpointMismatchError: a checkpoint's layout is not ``abstract_state``'s
            (names the first differing leaves); nothing is moved.
        """
        steps = self.steps()
        if step is not None:
            step = int(step)
            if step not in steps:
                raise NoCheckpointError(
                    f"no checkpoint for step {step} in {self.directory}; saved steps: {steps}"
                )
            try:
                return self._read(abstract_state, step), step
            except _Unreadable as err:
                raise UnreadableCheckpointError(
                    f"checkpoint {step} in {self.directory} cannot be read ({err.reason}); "
                    f"saved steps: {steps}",
                    {step: err.reason},
                ) from None
        if not steps:
            raise NoCheckpointError(f"no checkpoint in {self.directory}")
        failures: dict[int, str] = {}
        for candidate in reversed(steps):
            try:
                state = self._read(abstract_state, candidate)
            except _Unreadable as err:
                failures[candidate] = err.reason
                _log(f"checkpoint {candidate} in {self.directory} cannot be read ({err.reason})")
                continue
            for bad in failures if not self.read_only else ():
                # set aside (not deleted) so that this step can be saved again
                _log(f"moved unreadable checkpoint {bad} to {self.set_aside(bad)}")
            if failures:
                _log(f"using checkpoint {candidate} in {self.directory}")
            return state, candidate
        listed = "; ".join(f"step {s}: {reason}" for s, reason in failures.items())
        raise UnreadableCheckpointError(
            f"no readable checkpoint in {self.directory} ({listed}); nothing was moved",
            failures,
        )

    def _reader(self):
        """A fresh read-only orbax manager for one restore."""
        import orbax.checkpoint as ocp

        options = ocp.CheckpointManagerOptions(
            read_only=True, create=False, save_interval_steps=0, max_to_keep=None
        )
        with quiet_read_only_notice():
            return ocp.CheckpointManager(
                self.directory, item_handlers=ocp.StandardCheckpointHandler(), options=options
            )

    def _read(self, abstract_state, step: int):
        """Step ``step``'s state, checked; :class:`_Unreadable` if it cannot be used."""
        folder = self.directory / str(step)
        if folder.is_dir() and not any(folder.iterdir()):
            raise _Unreadable("an empty folder")
        reader = self._reader()
        try:
            try:
                saved = reader.item_metadata(step)
            except Exception as err:  # noqa: BLE001 -- any metadata failure: unreadable
                raise _Unreadable(_reason(err)) from None
            if saved is None:
                raise _Unreadable("no item metadata")
            problems = _layout_problems(abstract_state, saved)
            if problems:
                more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
                raise CheckpointMismatchError(
                    f"checkpoint {step} in {self.directory} does not match the model: "
                    f"{'; '.join(problems[:3])}{more}. It was saved by another config or "
                    "another version of the model; nothing was moved"
                )
            state, failure = _restore_arrays(reader, step, abstract_state)
        finally:
            reader.close()
        if failure is not None:
            del reader
            drain_abandoned_reads()
            raise _Unreadable(failure)
        _verify(*state)
        return state[0]

    def set_aside(self, step: int) -> pathlib.Path:
        """Moves checkpoint ``step`` to ``<folder>_corrupt/<step>-<time>``; returns the target.

        The files are kept (for inspection); the step can be saved again.
        """
        source = self.directory / str(step)
        corrupt = self.directory.with_name(f"{self.directory.name}_corrupt")
        target = corrupt / f"{step}-{int(time.time())}"
        if jax.process_index() == 0 and source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(source), str(target))
        self._manager.reload()
        return target
