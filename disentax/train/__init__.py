"""disentax.train: the config-free training machinery.

Public API:

* :class:`TrainState`, :func:`create_train_state` — the state pytree, initialised in one
  jitted program.
* :func:`make_train_step` -> :class:`TrainStep` — the compiled, sharded (jit over a mesh,
  or pmap) step ``(state, batch) -> (state, metrics)``, also for vmapped sweeps.
* :func:`fit` — the one training loop (logging, checkpoints, signals, early stop).
* :class:`Checkpoints` — a checkpoint folder (orbax); :class:`Writer` — where scalars go.

Configs and run folders are read one layer up, in :mod:`disentax.runs`.
"""

from disentax.train.checkpoint import (
    CheckpointMismatchError,
    Checkpoints,
    CheckpointSpaceError,
    NoCheckpointError,
    UnreadableCheckpointError,
)
from disentax.train.loop import fit
from disentax.train.runtime import NonFiniteLossError
from disentax.train.state import TrainState, create_train_state
from disentax.train.step import TrainStep, make_train_step, step_keys
from disentax.train.writer import Writer

__all__ = [
    "CheckpointMismatchError",
    "CheckpointSpaceError",
    "Checkpoints",
    "NoCheckpointError",
    "NonFiniteLossError",
    "TrainState",
    "TrainStep",
    "UnreadableCheckpointError",
    "Writer",
    "create_train_state",
    "fit",
    "make_train_step",
    "step_keys",
]
