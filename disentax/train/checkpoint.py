"""Checkpoints of a run: an orbax ``CheckpointManager`` in ``workdir/checkpoints``.

Saves are asynchronous (training continues while the files are written), one numbered
folder per saved step, the latest ``max_to_keep`` kept. orbax writes each checkpoint into
a temporary folder and renames it when complete, and prunes older checkpoints only after
a newer one is committed, so a run killed mid-save leaves its previous checkpoints intact.

Restoring tries the newest step first. A checkpoint that cannot be read (truncated,
corrupt, written by an incompatible run) is reported and the previous one is used; a
training run also moves it aside to ``workdir/checkpoints_corrupt/<step>-<time>`` (never
deleted) so that the step can be saved again.

References:
  Orbax documentation, "CheckpointManager" (orbax.checkpoint).
"""

from __future__ import annotations

import pathlib
import shutil
import sys
import time

import jax

__all__ = ["Checkpoints", "NoCheckpointError"]


class NoCheckpointError(FileNotFoundError):
    """The folder holds no readable checkpoint."""


def _log(message: str) -> None:
    if jax.process_index() == 0:
        print(message, file=sys.stderr, flush=True)


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
                enable_async_checkpointing=self._asynchronous and not read_only,
            )
            self._ocp = ocp
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
        """Starts saving ``state`` as checkpoint ``step`` (asynchronous); False if it exists."""
        step = int(step)
        if step in self._manager.all_steps():
            return False
        return bool(self._manager.save(step, args=self._ocp.args.StandardSave(state), force=True))

    def wait(self) -> None:
        """Blocks until every started save is committed to disk."""
        if self._manager_ is not None:
            self._manager_.wait_until_finished()

    def close(self) -> None:
        """Waits for the started saves to be committed, then closes the orbax manager."""
        if self._manager_ is not None:
            self._manager_.wait_until_finished()
            self._manager_.close()

    def restore(self, abstract_state, *, step: int | None = None):
        """Restores the newest readable checkpoint (or exactly ``step``).

        Args:
          abstract_state: pytree of ``jax.ShapeDtypeStruct`` (with shardings) describing
            the state, e.g. ``jax.eval_shape`` of the initialisation.
          step: restore this step only (no fallback); None: newest readable.

        Returns:
          ``(state, step)``.

        Raises:
          NoCheckpointError: no (readable) checkpoint, or ``step`` is not saved.
        """
        steps = self.steps()
        if step is not None:
            if int(step) not in steps:
                raise NoCheckpointError(
                    f"no checkpoint for step {step} in {self.directory}; saved steps: {steps}"
                )
            return self._restore_one(abstract_state, int(step)), int(step)
        if not steps:
            raise NoCheckpointError(f"no checkpoint in {self.directory}")
        for candidate in reversed(steps):
            try:
                return self._restore_one(abstract_state, candidate), candidate
            except Exception as err:  # noqa: BLE001 -- any read failure means unusable
                reason = f"{type(err).__name__}: {(str(err).splitlines() or [''])[0][:300]}"
                if self.read_only:
                    action = "using the previous one"
                else:  # set aside (not deleted) so that this step can be saved again
                    action = f"moved it to {self._set_aside(candidate)}; using the previous one"
                _log(
                    f"checkpoint {candidate} in {self.directory} could not be read "
                    f"({reason}); {action}"
                )
        raise NoCheckpointError(f"no readable checkpoint in {self.directory}")

    def _restore_one(self, abstract_state, step: int):
        state = self._manager.restore(step, args=self._ocp.args.StandardRestore(abstract_state))
        jax.block_until_ready(state)
        return state

    def _set_aside(self, step: int) -> pathlib.Path:
        source = self.directory / str(step)
        target = self.directory.parent / "checkpoints_corrupt" / f"{step}-{int(time.time())}"
        if jax.process_index() == 0 and source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(source), str(target))
        self._manager.reload()
        return target
