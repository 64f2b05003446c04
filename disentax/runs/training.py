"""The training job: ``train(config, workdir)`` trains or resumes one run in its folder.

``train`` validates the whole config (names, keys, hyperparameters, batch vs device count)
and the run folder before anything is compiled or written, then:

1. writes the folder's config record (resolved config, library versions, devices);
2. resumes from the newest readable checkpoint (and says so) or initialises a fresh
   state in one jitted program, while the train step compiles in a background thread;
   a folder whose checkpoints cannot be read is never trained again from step 0 unless
   ``restart=True``; the training log keeps only its rows up to the step resumed from;
3. runs :func:`disentax.train.fit`: scalars to the folder's log, TensorBoard and the
   terminal; checkpoints every ``checkpoint_every`` steps, at the end, on
   SIGTERM/SIGINT/SIGHUP and when ``stop_fn`` says so.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp

from disentax import parallel as par
from disentax.data import sampling
from disentax.runs import spec as spec_lib
from disentax.runs import terminal
from disentax.runs.folder import RunFolder
from disentax.runs.loading import abstract_state
from disentax.runs.lock import holds_workdir
from disentax.runs.memory import checked
from disentax.train import Checkpoints, Writer, fit, make_train_step, step_keys
from disentax.train.checkpoint import UnreadableCheckpointError
from disentax.train.runtime import print_line, seconds_since_process_start
from disentax.train.state import INIT_COMPILER_OPTIONS

__all__ = ["build_train_step", "train"]


def build_train_step(spec: spec_lib.RunSpec, parts: spec_lib.Parts, mesh, **overrides):
    """The train step of a validated config (:func:`~disentax.runs.spec.validate`, ``build``).

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


def _trace_init(train_step, key, mesh):
    """Traces the state initialisation once; returns ``(abstract_state, init)``.

    ``abstract_state`` carries the replicated sharding the step is compiled for; ``init()``
    compiles and runs that same trace as ``train_step.init(key)`` does (one program,
    without backend optimisation: the same initial state, bit for bit).
    """
    traced = jax.jit(train_step.init_fn).trace(key)
    sharding = par.replicated_sharding(mesh)
    abstract = jax.tree.map(
        lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), traced.out_info
    )

    def init():
        return train_step.place(traced.lower().compile(INIT_COMPILER_OPTIONS)(key))

    return abstract, init


def in_thread(fn: Callable[[], object], name: str = "compile-train-step") -> Callable[..., None]:
    """Starts ``fn()`` in a thread; returns ``wait()``, which joins it and re-raises its error.

    ``wait(unwinding=error)`` only joins, through any further KeyboardInterrupt: the
    caller is unwinding on ``error``. It must be called before such an error
    leaves the job: a process that exits while XLA compiles in another thread aborts
    ("FATAL: exception not rethrown") instead of raising. An interrupt while the thread
    starts waits for it likewise.
    """
    errors: list[BaseException] = []

    def target():
        try:
            fn()
        except BaseException as err:  # noqa: BLE001 -- re-raised in the caller's thread
            errors.append(err)

    thread = threading.Thread(target=target, name=name, daemon=True)
    try:
        thread.start()
    except BaseException as err:  # the thread may run all the same: let it end first
        _join_through_interrupts(thread, err)
        raise

    def wait(unwinding: BaseException | None = None):
        if unwinding is not None:
            _join_through_interrupts(thread, unwinding)
            return
        thread.join()
        if errors:
            raise errors[0]

    return wait


def _join_through_interrupts(thread: threading.Thread, why: BaseException | None = None) -> None:
    """Joins ``thread``; a Ctrl-C (``why`` or a later one) only says what it waits for."""
    while True:
        if isinstance(why, KeyboardInterrupt) and thread.is_alive():
            print_line("interrupted: the process ends when the train step has compiled")
        try:
            thread.join()
            return
        except KeyboardInterrupt as again:
            why = again
        except RuntimeError:  # interrupted before the thread started: nothing runs
            return


def _prepare(spec, workdir):
    """Checks what needs the mesh, the folder and the parts; nothing written yet."""
    mesh = par.make_mesh()
    par.check_global_batch(spec.batch_size, mesh.size, name="config.batch_size")
    if spec.parallel == "pmap" and jax.process_count() > 1:
        raise ValueError("config.parallel='pmap' runs in a single process; use 'jit'")
    spec_lib.check_workdir(workdir, spec.resolved)
    return mesh, spec_lib.build(spec)


@holds_workdir("train", create=True)
def train(
    config,
    workdir: str | os.PathLike,
    *,
    stop_fn: Callable[[int], bool] | None = None,
    restart: bool = False,
    config_name: str | None = None,
) -> dict:
    """Trains (or resumes) the run described by ``config`` in ``workdir``.

    Prints a start line (what trains, the workdir, the devices, fresh start or resume)
    on standard output, then progress on standard error: a bar on a terminal, else a
    plain line per log step.

    Args:
      config: ``ml_collections.ConfigDict`` with the keys of ``disentax/configs``
        (``model``, ``objective``, ``dataset``, ``num_latents``, ``batch_size``,
        ``num_steps``, ``learning_rate``, ``seed``, ``log_every``, ``checkpoint_every``,
        ``evaluate``, ``parallel``, ...).
      workdir: the run folder (created if missing).
      stop_fn: ``stop_fn(step) -> bool``, asked after every step; True checkpoints the
        step reached and returns (e.g. a deadline). It must answer alike on every process.
      restart: when the folder holds checkpoints none of which can be read, move them
        aside and train from step 0 (default: refuse, with an error naming them).
      config_name: the config's name, for the start line (e.g. ``"default"``).

    Returns:
      The last logged scalars (window means), with ``step``.

    Raises:
      ValueError: a bad config (unknown name or key, bad value, batch not divisible by
        the device count) or a workdir holding a run of another config; raised before
        any compile, with nothing in the workdir touched.
      CheckpointMismatchError: (a ValueError) the checkpoints hold another model's
        parameters (names the leaves); nothing is moved.
      UnreadableCheckpointError: (a FileNotFoundError) no checkpoint of the folder can
        be read and ``restart`` is false; nothing is moved.
      NonFiniteLossError: the loss or gradient became NaN/inf; names the step and the
        last good checkpoint.
    """
    process_start = seconds_since_process_start()
    t_enter = time.perf_counter()
    spec = spec_lib.validate(config)
    folder = RunFolder(workdir)
    mesh, parts = _prepare(spec, folder.path)
    main = jax.process_index() == 0
    if main:
        folder.path.mkdir(parents=True, exist_ok=True)
        folder.write_config(spec.resolved, mesh=mesh)

    train_step = build_train_step(spec, parts, mesh)
    train_step = checked(train_step, batch_size=spec.batch_size)  # memory, once compiled
    key = jax.random.key(spec.seed)
    checkpoints = Checkpoints(folder.checkpoints, max_to_keep=spec.keep_checkpoints)
    if main:
        latest = checkpoints.latest_step()
        devices = mesh.devices.flat
        print_line(
            terminal.start_line(config_name, spec, folder.path, devices, latest), file=sys.stdout
        )
    writer = None
    try:
        state, start = _initial_state(train_step, key, mesh, parts, checkpoints, spec, restart)
        if start >= spec.num_steps:
            if main:
                print_line(
                    f"{folder.path} already trained to step {start} (num_steps={spec.num_steps})",
                    file=sys.stdout,
                )
            return {"step": start}
        if main:
            trimmed = folder.trim_metrics(start)
            if trimmed:
                print_line(trimmed)
        writer = Writer(
            folder.metrics,
            tensorboard_dir=folder.tensorboard,
            num_steps=spec.num_steps,
            start_step=start,
            enabled=main,
        )
        batch_fn = None
        if not parts.sample_in_step:
            data_key = step_keys(train_step.unplace(state).key, 0)[0]
            sharding = par.data_sharding(mesh)
            batch_fn = lambda step: sampling.global_batch(  # noqa: E731
                parts.dataset, data_key, step, spec.batch_size, sharding
            )
        last = fit(
            train_step,
            state,
            num_steps=spec.num_steps,
            log_every=spec.log_every,
            checkpoint_every=spec.checkpoint_every,
            checkpoints=checkpoints,
            writer=writer,
            stop_fn=stop_fn,
            start_step=start,
            batch_fn=batch_fn,
            images_per_step=spec.batch_size,
            startup_s=process_start + time.perf_counter() - t_enter,
        )
    finally:
        checkpoints.close()
        if writer is not None:
            writer.close()
    return {k: v for k, v in last.items() if k not in ("stopped", "first_step_s")}


def _abstract_host_batch(train_step, parts, spec, mesh):
    """The shapes of the host batches the step gets, or None when it samples in-step.

    Host batches (datasets read on the host) are images only (``global_batch``'s float32
    images): the step's program is compiled for them ahead of time, so its memory is
    checked before the first batch is read, as for in-step sampling.
    """
    if parts.sample_in_step or tuple(train_step.batch_keys) != ("images",):
        return None
    shape = (spec.batch_size, *parts.dataset.observation_shape)
    return {"images": jax.ShapeDtypeStruct(shape, jnp.float32, sharding=par.data_sharding(mesh))}


def _initial_state(train_step, key, mesh, parts, checkpoints, spec, restart):
    """The state to start from and its step, restored or initialised.

    The train step compiles in a background thread meanwhile; whatever ends this call,
    the thread has finished before it returns or raises.
    """
    latest = checkpoints.latest_step()
    needed = latest is None or latest < spec.num_steps
    batch = _abstract_host_batch(train_step, parts, spec, mesh)
    if latest is None and spec.parallel == "jit":
        # a fresh run traces the initialisation once, for the step's layout and the state
        abstract_init, init_state = _trace_init(train_step, key, mesh)
        extra = () if batch is None else (batch,)
        compile_step = in_thread(train_step.precompile_fn(abstract_init, *extra))
    else:
        init_state = lambda: train_step.init(key)  # noqa: E731
        compile_step = in_thread(train_step.precompile(key, batch) if needed else (lambda: None))
    try:
        if latest is None:
            state, start = init_state(), 0
        else:
            abstract = abstract_state(parts, key, par.replicated_sharding(mesh))
            state, start = _restore(checkpoints, abstract, restart)
            state = train_step.place(state) if state is not None else init_state()
        compile_step()
    except BaseException as err:
        compile_step(unwinding=err)
        raise
    return state, start


def _restore(checkpoints: Checkpoints, abstract, restart: bool):
    """``(state, step)`` of the newest readable checkpoint; ``(None, 0)`` for a restart."""
    main = jax.process_index() == 0
    folder = checkpoints.directory.parent
    try:
        state, start = checkpoints.restore(abstract)
    except UnreadableCheckpointError as err:
        corrupt = checkpoints.directory.with_name(checkpoints.directory.name + "_corrupt")
        if not restart:
            raise UnreadableCheckpointError(
                f"{err}. Refusing to train {folder} again from step 0 over them: pass "
                f"--restart to `disentax train` (restart=True to disentax.runs.train) to "
                f"move them to {corrupt} and start again, or move the folder away",
                err.failures,
            ) from None
        for step in err.failures:
            checkpoints.set_aside(step)
        if main:
            print_line(
                f"restarting {folder} from step 0: unreadable checkpoints moved to {corrupt}"
            )
        return None, 0
    if main:
        print_line(f"resuming {folder} from checkpoint step {start}", file=sys.stdout)
    return state, start
