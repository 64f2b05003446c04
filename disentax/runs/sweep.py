"""Train several configs that share one objective as one vmapped program (a sweep).

The configs of a sweep may differ only in their seed and in the values of the
objective's hyperparameters (e.g. beta-TCVAE with beta = 1, the plain VAE, and beta = 6).
They train together through ``disentax.train.make_train_step(..., num_models=S)``: one
compiled step updates all ``S`` models, each with its own parameters, optimizer state, key
and hyperparameter values. Model ``i`` is initialised from ``jax.random.key(seed_i)``, as
:func:`disentax.runs.train` initialises a single run, so it follows the trajectory of its
own single-model run.

Each model gets an ordinary run folder, so :func:`disentax.runs.load`, ``disentax
evaluate`` and ``disentax traverse`` read it exactly like a folder written by ``disentax
train``. A sweep resumes from the newest checkpoint step that every one of its folders
holds. The loop is :func:`disentax.train.fit`, as for a single run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from disentax import parallel as par
from disentax.runs import spec as spec_lib
from disentax.runs.folder import RunFolder
from disentax.runs.lock import holds_workdir
from disentax.runs.memory import checked
from disentax.runs.training import build_train_step
from disentax.train import Checkpoints, Writer, fit

__all__ = ["check_sweep", "train_sweep"]

# Keys that must agree between the configs of one sweep (one compiled program).
_SHARED = (
    "model",
    "dataset",
    "correlations",
    "num_latents",
    "batch_size",
    "num_steps",
    "learning_rate",
    "reconstruction",
    "log_every",
    "checkpoint_every",
    "keep_checkpoints",
)


def check_sweep(specs: Sequence[spec_lib.RunSpec]) -> tuple[str, list[str]]:
    """Checks that validated configs can train as one sweep.

    Returns:
      ``(objective, swept)``: the shared objective name and the hyperparameter names
      whose values differ between the configs.

    Raises:
      ValueError: fewer than one config, different objectives, or a difference in a key
        other than the seed and the objective's hyperparameters (named).
    """
    if not specs:
        raise ValueError("a sweep needs at least one config")
    first = specs[0]
    for spec in specs[1:]:
        if spec.objective != first.objective:
            raise ValueError(
                f"a sweep trains one objective; got {first.objective!r} and {spec.objective!r}"
            )
        for key in _SHARED:
            if getattr(spec, key) != getattr(first, key):
                raise ValueError(
                    f"configs of one sweep must share config.{key}: "
                    f"{getattr(first, key)!r} != {getattr(spec, key)!r}"
                )
        if set(spec.hyperparameters) != set(first.hyperparameters):
            raise ValueError("configs of one sweep must name the same hyperparameters")
    swept = []
    for name, value in first.hyperparameters.items():
        values = [s.hyperparameters[name] for s in specs]
        if any(v != value for v in values):
            if isinstance(value, str | bool) or value is None:
                raise ValueError(f"hyperparameter {name!r} is not numeric and cannot be swept")
            swept.append(name)
    return first.objective, swept


def _compile_checked(step_fn, state, batch_size: int, num_models: int):
    """``(step, seconds)``: the step compiled for ``state`` and its memory checked.

    Compiled before the first step so that a group too large for the machine is refused
    in one line (:mod:`disentax.runs.memory`) rather than dying in XLA's allocation.
    """
    start = time.perf_counter()
    step_fn = checked(step_fn, batch_size=batch_size, models=num_models)
    if step_fn.precompile_fn is not None:
        abstract = jax.tree.map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state
        )
        step_fn.precompile_fn(abstract)()
    return step_fn, time.perf_counter() - start


def _take(tree, i: int):
    return jax.tree.map(lambda x: x[i], tree)


def _stack(trees):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


class _SweepCheckpoints:
    """One checkpoint folder per model; a stacked state is saved as its models."""

    def __init__(self, managers: list[Checkpoints], mesh=None):
        self.managers = managers
        self.directory = [m.directory for m in managers]
        # A model-sharded state is gathered by one compiled program before the models
        # are sliced out (eager slicing of a sharded array is left to the replicated case).
        self.gather = (
            jax.jit(lambda t: t, out_shardings=par.replicated_sharding(mesh))
            if mesh is not None and par.MODELS_AXIS in mesh.axis_names
            else (lambda t: t)
        )

    def save(self, step: int, state) -> bool:
        state = self.gather(state)
        saved = [m.save(step, _take(state, i)) for i, m in enumerate(self.managers)]
        return all(saved)

    def wait(self) -> None:
        for m in self.managers:
            m.wait()

    def latest_step(self) -> int | None:
        common = set.intersection(*(set(m.steps()) for m in self.managers))
        return max(common) if common else None


class _SweepWriter:
    """One scalar log per model; progress as one plain line for the whole sweep."""

    def __init__(self, writers: list[Writer], names: list[str], log, *, num_steps, batch_size):
        self.writers, self.names, self.log = writers, names, log
        self.num_steps, self.batch_size = num_steps, batch_size

    def write_scalars(self, step: int, scalars: dict) -> None:
        for i, writer in enumerate(self.writers):
            own = {k: (v[i] if np.ndim(v) else v) for k, v in scalars.items()}
            own["images_per_s"] = own["steps_per_s"] * self.batch_size
            writer.write_scalars(step, own)

    def progress(self, step: int, scalars: dict) -> None:
        shown = np.atleast_1d(scalars["loss"])[: len(self.writers)]  # not the padding copies
        losses = " ".join(f"{float(v):.1f}" for v in shown)
        rate, num = scalars["steps_per_s"], len(self.writers)
        self.log(
            f"sweep step {step}/{self.num_steps}: loss {losses}; {rate:.2f} steps/s "
            f"({rate * self.batch_size * num:.0f} images/s over {num} models)"
        )

    def message(self, text: str) -> None:
        self.log(f"sweep {self.names}: {text}")

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


def _initial_states(step_fn, specs, checkpoints: _SweepCheckpoints, names, log):
    start = checkpoints.latest_step()
    if start is not None:
        abstract = jax.eval_shape(step_fn.init_fn, jax.random.key(0))
        states = [m.restore(abstract, step=start)[0] for m in checkpoints.managers]
        log(f"sweep {names}: resuming from step {start}")
        return states, start
    init_one = jax.jit(step_fn.init_fn)
    return [init_one(jax.random.key(s.seed)) for s in specs], 0


def _sweep_mesh(mesh_shape):
    """One device, or a ``models`` × ``data`` mesh of this process's devices."""
    if mesh_shape is None:
        return par.make_mesh(1, devices=jax.local_devices()[:1])
    if jax.process_count() > 1:  # checkpoints save each model from this process's devices
        raise ValueError("mesh_shape: a sweep over a models mesh runs in a single process")
    models, data = mesh_shape
    return par.make_model_mesh(models, data, devices=jax.local_devices())


def _writers(folders, first, start: int, log) -> list[Writer]:
    """A log writer per folder, each log first trimmed to the step the sweep resumes from."""
    for folder in folders:
        trimmed = folder.trim_metrics(start)
        if trimmed:
            log(trimmed)
    return [
        Writer(f.metrics, tensorboard_dir=f.tensorboard, num_steps=first.num_steps,
               start_step=start, interactive=False)
        for f in folders
    ]  # fmt: skip


@holds_workdir("train_sweep", create=True, argument="workdirs")
def train_sweep(
    configs,
    workdirs: Sequence[str | os.PathLike],
    *,
    deadline: float | None = None,
    stop_fn: Callable[[int], bool] | None = None,
    log: Callable[[str], None] = print,
    mesh_shape: tuple[int, int] | None = None,
) -> dict:
    """Trains ``configs`` as one vmapped sweep, one run folder per config.

    Args:
      configs: ``ml_collections.ConfigDict`` training configs (the keys of
        ``disentax/configs``) that differ only in seed and objective hyperparameters.
      workdirs: one run folder per config.
      deadline: ``time.time()`` at which to stop early (checkpoint saved at the step
        reached), or None to train to ``num_steps``.
      stop_fn: ``stop_fn(step) -> bool`` asked after every step (as in
        :func:`disentax.runs.train`).
      log: where progress lines go.
      mesh_shape: None trains every model on one device; ``(models, data)`` splits the
        models over a ``models`` × ``data`` mesh of this process's devices
        (:func:`disentax.parallel.make_model_mesh`; 0 picks a side, ``(0, 0)`` puts every
        device on ``models``). Models that do not fill the models axis are padded with
        copies of the last one, trained and never saved.

    Returns:
      ``{"step", "seconds", "steps_per_s", "images_per_s", "compile_s"}`` of this call.

    Raises:
      ValueError: configs that cannot share one program, or a folder holding another run.
    """
    if len(configs) != len(workdirs):
        raise ValueError(f"got {len(configs)} configs and {len(workdirs)} workdirs")
    specs = [spec_lib.validate(c) for c in configs]
    _, swept = check_sweep(specs)
    folders = [RunFolder(w) for w in workdirs]
    for folder, spec in zip(folders, specs, strict=True):
        spec_lib.check_workdir(folder.path, spec.resolved)
    first = specs[0]
    parts = spec_lib.build(first)
    if not parts.sample_in_step:
        raise ValueError(f"sweeps sample inside the step; dataset {first.dataset!r} cannot")
    mesh = _sweep_mesh(mesh_shape)
    padded = par.padded_num_models(len(specs), mesh)
    hyper = dict(parts.hyperparameters)
    for name in swept:
        values = [s.hyperparameters[name] for s in specs]
        hyper[name] = np.asarray(values + values[-1:] * (padded - len(specs)), np.float32)
    step_fn = build_train_step(
        first, parts, mesh, hyperparameters=hyper, num_models=padded, parallel="jit"
    )
    names = [f.path.name for f in folders]
    for folder, spec in zip(folders, specs, strict=True):
        folder.write_config(spec.resolved, mesh=mesh, sweep=names)
    checkpoints = _SweepCheckpoints(
        [Checkpoints(f.checkpoints, max_to_keep=first.keep_checkpoints) for f in folders], mesh
    )
    writer = None
    t_start = time.perf_counter()
    try:
        states, start = _initial_states(step_fn, specs, checkpoints, names, log)
        states += states[-1:] * (padded - len(states))
        state = jax.device_put(_stack(states), par.model_sharding(mesh))
        del states
        if start >= first.num_steps:
            log(f"sweep {names}: already trained to step {start}")
            nan = float("nan")
            return {"step": start, "seconds": 0.0, "compile_s": nan, "steps_per_s": nan,
                    "images_per_s": nan}  # fmt: skip
        step_fn, precompile_s = _compile_checked(step_fn, state, first.batch_size, len(specs))
        writers = _writers(folders, first, start, log)
        writer = _SweepWriter(
            writers, names, log, num_steps=first.num_steps, batch_size=first.batch_size
        )
        if deadline is not None:
            user_stop = stop_fn
            stop_fn = lambda step: time.time() >= deadline or bool(user_stop and user_stop(step))  # noqa: E731
        t_fit = time.perf_counter()
        last = fit(
            step_fn,
            state,
            num_steps=first.num_steps,
            log_every=first.log_every,
            checkpoint_every=first.checkpoint_every,
            checkpoints=checkpoints,
            writer=writer,
            stop_fn=stop_fn,
            start_step=start,
            images_per_step=first.batch_size * len(specs),
        )
        fit_s = time.perf_counter() - t_fit
    finally:
        for m in checkpoints.managers:
            m.close()
        if writer is not None:
            writer.close()
    timed = last["step"] - start - 1  # the first step (compilation) is not timed
    rate = timed / (fit_s - last["first_step_s"]) if timed > 0 else float("nan")
    return {
        "step": last["step"],
        "seconds": time.perf_counter() - t_start,
        "compile_s": precompile_s + last["first_step_s"],
        "steps_per_s": rate,
        "images_per_s": rate * first.batch_size * len(specs),
    }
