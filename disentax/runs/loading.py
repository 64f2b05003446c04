"""Reading a trained run back: config, model, dataset and a checkpoint's parameters."""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import jax

from disentax import parallel as par
from disentax.runs import spec as spec_lib
from disentax.runs.folder import RunFolder
from disentax.train import Checkpoints, NoCheckpointError, create_train_state

__all__ = ["LoadedRun", "abstract_state", "load"]


class LoadedRun(NamedTuple):
    """A trained run read back from its folder."""

    config: Any  # ml_collections.ConfigDict
    model: Any  # disentax.models.VAE
    params: Any  # the VAE's parameters
    dataset: Any  # GroundTruthData
    step: int


def abstract_state(parts: spec_lib.Parts, key: jax.Array, sharding=None):
    """The shapes and dtypes of a run's :class:`disentax.train.TrainState` (nothing computed).

    Args:
      parts: what the run is made of (:func:`disentax.runs.spec.build`).
      key: the run's seed key (a ``[S]`` batch of keys for a sweep).
      sharding: the sharding every leaf is restored with (None: the default device).
    """

    def init(k):
        return create_train_state(
            k,
            parts.model,
            parts.tx,
            discriminator=parts.discriminator,
            discriminator_tx=parts.discriminator_tx,
            objective_init=objective_init,
        )

    params_init = getattr(parts.objective, "params_init", None)  # an objective's own params
    objective_init = params_init(parts.dataset, parts.hyperparameters) if params_init else None
    shapes = jax.eval_shape(init, key)
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), shapes)


def load(workdir: str | os.PathLike, *, step: int | None = None) -> LoadedRun:
    """Reads a run folder: its config, model, dataset and the parameters of a checkpoint.

    Every restored leaf is checked (the CRC-32 recorded when it was saved, finite
    values); without ``step``, a checkpoint that fails is reported and the previous one
    is used. Nothing in the folder is moved or written.

    Args:
      workdir: a run folder written by :func:`disentax.runs.train`.
      step: checkpoint step to load (default: the newest readable one).

    Returns:
      :class:`LoadedRun` with parameters on the default device.

    Raises:
      FileNotFoundError: the folder, its stored config or its checkpoints are missing,
        no checkpoint can be read, or ``step`` is not saved or cannot be read (names the
        folder and the reason, in one line).
      ValueError: the checkpoint's parameter layout is not the stored config's model
        (:class:`disentax.train.CheckpointMismatchError`, naming the leaves).
    """
    folder = RunFolder(workdir)
    config = spec_lib.read_config(folder)
    spec = spec_lib.validate(config)
    parts = spec_lib.build(spec)
    device = jax.local_devices()[0]
    sharding = par.replicated_sharding(par.make_mesh(1, devices=[device]))
    abstract = abstract_state(parts, jax.random.key(spec.seed), sharding)
    try:
        checkpoints = Checkpoints(folder.checkpoints, read_only=True)
    except NoCheckpointError as err:
        raise FileNotFoundError(f"no checkpoints in {folder.path}: {err}") from err
    try:
        state, restored = checkpoints.restore(abstract, step=step)
    except NoCheckpointError as err:
        raise FileNotFoundError(f"no checkpoint to load in {folder.path}: {err}") from err
    finally:
        checkpoints.close()
    return LoadedRun(
        config=config,
        model=parts.model,
        params=state.params["vae"],
        dataset=parts.dataset if parts.eval_dataset is None else parts.eval_dataset,
        step=int(restored),
    )
