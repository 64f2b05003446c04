"""disentax.train: the train step, the training job and run folders.

Public API:

* :class:`TrainState`, :func:`create_train_state` — the state pytree, initialised in one
  jitted program.
* :func:`make_train_step` -> :class:`TrainStep` — the compiled, sharded (jit over a mesh,
  or pmap) step ``(state, batch) -> (state, metrics)``, also for vmapped sweeps.
* ``disentax.train.loop.run(config, workdir)`` — the ``disentax train`` job.
* :func:`load_run` -> :class:`LoadedRun` — a trained run read back from its folder.
"""

from disentax.train.loop import LoadedRun, load_run, run
from disentax.train.runtime import NonFiniteLossError
from disentax.train.state import TrainState, create_train_state
from disentax.train.step import TrainStep, make_train_step, step_keys

__all__ = [
    "LoadedRun",
    "NonFiniteLossError",
    "TrainState",
    "TrainStep",
    "create_train_state",
    "load_run",
    "make_train_step",
    "run",
    "step_keys",
]
