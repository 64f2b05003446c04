"""The training job: ``run(config, workdir)``, the only code that reads a training config.

``run`` validates the whole config (names, keys, hyperparameters, batch vs device count)
and the run folder before anything is compiled or written, then:

1. writes ``workdir/config.json`` (resolved config, library versions, devices);
2. resumes from the newest readable checkpoint in ``workdir/checkpoints`` (and says so)
   or initialises a fresh state in one jitted program;
3. runs the compiled train step; metrics leave the device only on log and checkpoint
   steps, where they are checked for non-finite values, averaged over the window and
   written to ``metrics.jsonl``, TensorBoard and the terminal;
4. saves checkpoints (asynchronously) every ``checkpoint_every`` steps, at the end, and
   when the process receives SIGTERM or SIGINT (after which the signal takes its usual
   effect). A single-process run notices the signal at the next step (a host-side flag
   read every step; at most :data:`MAX_STEPS_IN_FLIGHT` steps are dispatched ahead of the
   device, so the checkpoint follows within about two step times); a multi-process run
   combines the flags of its processes on log steps, so that all stop at the same step;
5. at the end, when ``config.evaluate``, writes the evaluation and traversal outputs
   (``disentax.evaluation.evaluate_workdir``, ``disentax.viz.traverse_workdir``).

:func:`load_run` reads a run folder back (config, model, parameters, dataset, step) for
evaluation and visualisation.
"""

from __future__ import annotations

import collections
import json
import pathlib
import time
from typing import Any, NamedTuple

import jax
import numpy as np

from disentax import parallel as par
from disentax.train import config_schema
from disentax.train.checkpoint import Checkpoints, NoCheckpointError
from disentax.train.runtime import (
    NonFiniteLossError,
    SignalCatcher,
    library_versions,
    seconds_since_process_start,
)
from disentax.train.step import make_train_step, step_keys
from disentax.train.writer import Writer

__all__ = ["LoadedRun", "NonFiniteLossError", "build_train_step", "load_run", "run"]


# Steps dispatched but not yet finished, at most. With asynchronous dispatch the loop
# would otherwise run ahead of the device (tens of steps on CPU, where a step is 0.1-0.3 s):
# a SIGTERM/SIGINT, noticed by the loop at the next step, would then wait for all queued
# steps before its checkpoint (7.6 s measured on the default config). Two keeps the
# device busy (the next step is always queued) and bounds that wait to two steps.
MAX_STEPS_IN_FLIGHT = 2


class LoadedRun(NamedTuple):
    """A trained run read back from its folder."""

    config: Any  # ml_collections.ConfigDict
    model: Any  # disentax.models.VAE
    params: Any  # the VAE's parameters
    dataset: Any  # GroundTruthData
    step: int


def _abstract_state(train_step, key, sharding):
    shapes = jax.eval_shape(train_step.init_fn, key)
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), shapes)


def _trace_init(train_step, key, mesh):
    """Traces the state initialisation once (``jax.jit(...).trace``).

    Returns ``(abstract_state, init)``: the state's shapes with the replicated sharding
    (what the step is compiled for) and a function compiling and running that same trace,
    as ``train_step.init(key)`` does (one program, compiled without backend optimisation:
    the same initial state, bit for bit), so the initialisation is not traced twice.
    """
    from disentax.train.state import INIT_COMPILER_OPTIONS

    traced = jax.jit(train_step.init_fn).trace(key)
    sharding = par.replicated_sharding(mesh)
    abstract = jax.tree.map(
        lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), traced.out_info
    )

    def init():
        return train_step.place(traced.lower().compile(INIT_COMPILER_OPTIONS)(key))

    return abstract, init


def _write_config_json(workdir: pathlib.Path, resolved: dict, mesh) -> None:
    record = {
        "config": resolved,
        "versions": library_versions(),
        "devices": {
            "count": mesh.size,
            "kind": mesh.devices.flat[0].device_kind,
            "platform": mesh.devices.flat[0].platform,
            "processes": jax.process_count(),
        },
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    tmp = workdir / "config.json.tmp"
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(workdir / "config.json")


def _mean_scalars(window: list[dict]) -> dict[str, float]:
    host = jax.device_get(window)
    keys = host[-1].keys()
    return {k: float(np.mean([np.asarray(m[k], np.float64) for m in host])) for k in keys}


def _first_nonfinite(window: list[dict], first_step: int) -> int | None:
    host = jax.device_get(window)
    for i, metrics in enumerate(host):
        for name in ("loss", "grad_norm"):
            if name in metrics and not np.isfinite(metrics[name]):
                return first_step + i
    return None


def build_train_step(spec, parts, mesh, **overrides):
    """The train step of a validated config (``config_schema.validate`` / ``build``).

    What the run's config fixes (model, objective, optimizers, hyperparameters,
    reconstruction, parallel mode, in-step sampling when the dataset allows it) is passed
    to :func:`disentax.train.make_train_step`; ``overrides`` replace any of its keyword
    arguments (e.g. ``hyperparameters`` and ``num_models`` for a sweep).
    """
    kwargs = dict(
        mesh=mesh,
        dataset=parts.dataset if parts.sample_in_step else None,
        batch_size=spec.batch_size if parts.sample_in_step else None,
        hyperparameters=parts.hyperparameters,
        reconstruction=spec.reconstruction,
        discriminator=parts.discriminator,
        discriminator_tx=parts.discriminator_tx,
        parallel=spec.parallel,
    )
    kwargs.update(overrides)
    return make_train_step(parts.model, parts.objective, parts.tx, **kwargs)


def run(config, workdir: str | pathlib.Path) -> dict[str, float]:
    """Trains (or resumes) the run described by ``config`` in ``workdir``.

    Args:
      config: ``ml_collections.ConfigDict`` with the keys of ``experiments/configs``
        (``model``, ``objective``, ``dataset``, ``num_latents``, ``batch_size``,
        ``num_steps``, ``learning_rate``, ``seed``, ``log_every``, ``checkpoint_every``,
        ``evaluate``, ``parallel``, ...).
      workdir: the run folder (created if missing).

    Returns:
      The last logged scalars (window means), with ``step``.

    Raises:
      ValueError: a bad config (unknown name or key, bad value, batch not divisible by
        the device count) or a workdir holding a run of another config; raised before
        any compile, with nothing in the workdir touched.
      NonFiniteLossError: the loss or gradient became NaN/inf; names the step and the
        last good checkpoint.
    """
    process_start = seconds_since_process_start()
    t_enter = time.perf_counter()
    spec = config_schema.validate(config)
    workdir = pathlib.Path(workdir).absolute()
    mesh = par.make_mesh()
    par.check_global_batch(spec.batch_size, mesh.size, name="config.batch_size")
    if spec.parallel == "pmap" and jax.process_count() > 1:
        raise ValueError("config.parallel='pmap' runs in a single process; use 'jit'")
    config_schema.check_workdir(workdir, spec.resolved)
    parts = config_schema.build(spec)

    main = jax.process_index() == 0
    if main:
        workdir.mkdir(parents=True, exist_ok=True)
        _write_config_json(workdir, spec.resolved, mesh)

    train_step = build_train_step(spec, parts, mesh)
    key = jax.random.key(spec.seed)
    checkpoints = Checkpoints(workdir / "checkpoints", max_to_keep=spec.keep_checkpoints)
    writer = None
    latest = checkpoints.latest_step()
    # compile the train step in the background while the state is initialised/restored
    needed = latest is None or latest < spec.num_steps
    if latest is None and spec.parallel == "jit":
        # a fresh run traces the initialisation once, for the step's state layout and
        # for the initial state itself
        abstract_init, init_state = _trace_init(train_step, key, mesh)
        compile_step = _in_thread(train_step.precompile_fn(abstract_init))
    else:
        init_state = lambda: train_step.init(key)  # noqa: E731
        compile_step = _in_thread(train_step.precompile(key) if needed else (lambda: None))
    trained_now = False
    try:
        if latest is not None:
            abstract = _abstract_state(train_step, key, par.replicated_sharding(mesh))
            state, start = checkpoints.restore(abstract)
            state = train_step.place(state)
            if main:
                print(f"resuming {workdir} from checkpoint step {start}", flush=True)
        else:
            state, start = init_state(), 0
        compile_step()
        if start >= spec.num_steps:
            if main:
                print(f"{workdir} already trained to step {start} (num_steps={spec.num_steps})")
            last = {"step": start}
        else:
            trained_now = True
            writer = Writer(workdir, num_steps=spec.num_steps, start_step=start, enabled=main)
            last = _train(
                spec,
                parts,
                train_step,
                state,
                start,
                checkpoints,
                writer,
                mesh,
                t_enter,
                process_start,
            )
        checkpoints.wait()
    finally:
        checkpoints.close()
        if writer is not None:
            writer.close()
    finished = last.get("step", 0) >= spec.num_steps
    if spec.evaluate and finished and (trained_now or not (workdir / "evaluation.json").exists()):
        _evaluate(workdir, eval_sizes=spec.eval_sizes)
    return last


def _in_thread(fn):
    """Starts ``fn()`` in a thread; returns a function that waits and re-raises its error."""
    import threading

    errors: list[BaseException] = []

    def target():
        try:
            fn()
        except BaseException as err:  # noqa: BLE001 -- re-raised in the caller's thread
            errors.append(err)

    thread = threading.Thread(target=target, name="compile-train-step", daemon=True)
    thread.start()

    def wait():
        thread.join()
        if errors:
            raise errors[0]

    return wait


def _train(spec, parts, train_step, state, start, checkpoints, writer, mesh, t_enter, t_process):
    """The step loop; returns the last logged scalars."""
    data_key = None
    if not parts.sample_in_step:
        data_key = step_keys(train_step.unplace(state).key, 0)[0]
    window: list[dict] = []
    window_start, window_time = start, time.perf_counter()
    last: dict[str, float] = {"step": start}
    last_good = checkpoints.latest_step()
    first_step_s = None
    in_flight: collections.deque = collections.deque()
    with SignalCatcher() as signals:
        step = start
        while step < spec.num_steps:
            batch = None
            if data_key is not None:
                from disentax.data import sampling

                batch = sampling.global_batch(
                    parts.dataset, data_key, step, spec.batch_size, par.data_sharding(mesh)
                )
            state, metrics = train_step(state, batch)
            window.append(metrics)
            in_flight.append(metrics)
            if len(in_flight) > MAX_STEPS_IN_FLIGHT:
                # bounded run-ahead: wait (no transfer) until the step before the
                # previous one is done; the device keeps the next step queued
                jax.block_until_ready(in_flight.popleft())
            step += 1
            if first_step_s is None:
                # the first step includes compilation: report it, keep it out of steps/s
                jax.block_until_ready(metrics)
                first_step_s = t_process + time.perf_counter() - t_enter
                writer.message(
                    f"first train step done {first_step_s:.1f} s after process start "
                    f"(compile included)"
                )
                window_start, window_time = step, time.perf_counter()
            stop = signals.requested(sync=step % spec.log_every == 0)
            log_now = step % spec.log_every == 0 or step == spec.num_steps
            save_now = step % spec.checkpoint_every == 0 or step == spec.num_steps or stop
            if (log_now or save_now) and window:
                bad = _first_nonfinite(window, step - len(window) + 1)
                if bad is not None:
                    checkpoints.wait()
                    raise NonFiniteLossError(bad, last_good, checkpoints.directory)
            if log_now and window:
                elapsed = time.perf_counter() - window_time
                scalars = _mean_scalars(window)
                timed = step - window_start
                steps_per_s = timed / elapsed if timed > 0 and elapsed > 0 else float("nan")
                scalars["steps_per_s"] = steps_per_s
                scalars["images_per_s"] = steps_per_s * spec.batch_size
                if not last.get("time_to_first_step_s_logged"):
                    scalars["time_to_first_step_s"] = first_step_s
                writer.write_scalars(step, scalars)
                writer.progress(step, scalars)
                last = {"step": step, **scalars, "time_to_first_step_s_logged": True}
                window, window_start, window_time = [], step, time.perf_counter()
            if save_now:
                if checkpoints.save(step, train_step.unplace(state)):
                    last_good = step
                if stop:
                    checkpoints.wait()
                    writer.message(f"stopped by signal {stop} at step {step}; checkpoint saved")
                    break
    last.pop("time_to_first_step_s_logged", None)
    last["step"] = step
    if stop:
        signals.reraise()
    return last


def _evaluate(workdir: pathlib.Path, *, eval_sizes: str) -> None:
    """Writes evaluation.json, then the traversal pictures and report.html (process 0)."""
    from disentax import evaluation, viz

    if jax.process_index() != 0:
        return
    evaluation.evaluate_workdir(
        workdir, eval_sizes=eval_sizes, workers=evaluation.default_workers()
    )
    viz.traverse_workdir(workdir)


def load_run(workdir: str | pathlib.Path, *, step: int | None = None) -> LoadedRun:
    """Reads a run folder: its config, model, dataset and the parameters of a checkpoint.

    Args:
      workdir: a run folder written by :func:`run`.
      step: checkpoint step to load (default: the newest readable one).

    Returns:
      :class:`LoadedRun` with parameters on the default device.

    Raises:
      FileNotFoundError: the folder, its config.json or its checkpoints are missing
        (names the folder).
    """
    workdir = pathlib.Path(workdir).absolute()
    config = config_schema.read_config_json(workdir)
    spec = config_schema.validate(config)
    parts = config_schema.build(spec)
    mesh = par.make_mesh(1, devices=jax.local_devices()[:1])
    # the state's layout only: no in-step sampling, one device, jit
    train_step = build_train_step(spec, parts, mesh, dataset=None, batch_size=None, parallel="jit")
    abstract = _abstract_state(train_step, jax.random.key(spec.seed), par.replicated_sharding(mesh))
    try:
        checkpoints = Checkpoints(workdir / "checkpoints", read_only=True)
    except NoCheckpointError as err:
        raise FileNotFoundError(f"no checkpoints in {workdir}: {err}") from err
    try:
        state, restored = checkpoints.restore(abstract, step=step)
    except NoCheckpointError as err:
        raise FileNotFoundError(f"no checkpoint to load in {workdir}: {err}") from err
    finally:
        checkpoints.close()
    return LoadedRun(
        config=config,
        model=parts.model,
        params=state.params["vae"],
        dataset=parts.dataset,
        step=int(restored),
    )
