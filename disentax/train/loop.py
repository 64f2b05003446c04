"""The one training loop: :func:`fit` runs a compiled train step to a step count.

``fit`` knows no config and no run folder: it is given the step, the state, where
checkpoints and scalars go, and when to stop. Single runs and vmapped sweeps use it alike
(``disentax.runs.train`` and ``disentax.runs.train_sweep``).

Metrics leave the device only on log and checkpoint steps, where they are checked for
non-finite values, averaged over the window and handed to the writer. Checkpoints are
saved every ``checkpoint_every`` steps, at the end, when ``stop_fn`` says so, and when the
process receives SIGTERM, SIGINT or SIGHUP (after which the signal takes its usual
effect). A single-process run notices the signal at the next step; a multi-process run
combines the flags of its processes on log steps, so that all stop at the same step.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from typing import Any, Protocol

import jax
import numpy as np

from disentax.train.runtime import NonFiniteLossError, SignalCatcher

__all__ = ["MAX_STEPS_IN_FLIGHT", "SHOW_EVERY_S", "CheckpointSink", "ScalarSink", "fit"]

# Steps dispatched but not yet finished, at most: with unbounded asynchronous dispatch a
# signal noticed at the next step would wait for every queued step before its
# checkpoint; two keeps the device busy and bounds that wait to about two steps.
MAX_STEPS_IN_FLIGHT = 2
# Seconds between the per-step figures (loss, images/s) handed to the writer's progress
# bar: each reads one finished step's loss, so they are few, while the bar moves every step.
SHOW_EVERY_S = 0.5


class CheckpointSink(Protocol):
    """Where :func:`fit` saves states (e.g. :class:`disentax.train.Checkpoints`)."""

    directory: Any

    def save(self, step: int, state: Any) -> bool:
        """Starts saving ``state`` as checkpoint ``step``; False if it was not saved."""

    def wait(self) -> None:
        """Blocks until every started save is on disk."""

    def latest_step(self) -> int | None:
        """The newest saved step, or None."""


class ScalarSink(Protocol):
    """Where :func:`fit` sends window means (e.g. :class:`disentax.train.Writer`)."""

    def write_scalars(self, step: int, scalars: dict) -> None:
        """Records the window means of ``step`` (floats, or ``[S]`` arrays in a sweep)."""

    def progress(self, step: int, scalars: dict) -> None:
        """Shows progress after a log step."""

    def message(self, text: str) -> None:
        """Shows one line of text."""

    # Optional: ``advance(step, figures)`` after every step, ``figures`` a dict (``loss``,
    # ``images_per_s``) now and then, else None; a sink without it sees only log steps.


def _mean_scalars(window: list[dict]) -> dict[str, Any]:
    """Window means per key: floats, or ``[S]`` arrays for a sweep's per-model values."""
    host = jax.device_get(window)
    means = {}
    for key in host[-1]:
        mean = np.mean(np.stack([np.asarray(m[key], np.float64) for m in host]), axis=0)
        means[key] = float(mean) if mean.ndim == 0 else mean
    return means


def _first_nonfinite(window: list[dict], first_step: int) -> int | None:
    host = jax.device_get(window)
    for i, metrics in enumerate(host):
        for name in ("loss", "grad_norm"):
            if name in metrics and not np.all(np.isfinite(metrics[name])):
                return first_step + i
    return None


def _check_every(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def fit(
    train_step: Callable,
    state,
    *,
    num_steps: int,
    log_every: int,
    checkpoint_every: int,
    checkpoints: CheckpointSink,
    writer: ScalarSink,
    stop_fn: Callable[[int], bool] | None = None,
    start_step: int = 0,
    batch_fn: Callable[[int], Any] | None = None,
    images_per_step: int | None = None,
    startup_s: float = 0.0,
) -> dict[str, Any]:
    """Runs ``train_step`` from ``start_step`` to ``num_steps``, logging and checkpointing.

    Args:
      train_step: ``(state, batch) -> (state, metrics)`` (a
        :class:`disentax.train.TrainStep`); its ``unplace`` (if any) turns the state into
        what is checkpointed.
      state: the state at ``start_step``, in the step's layout.
      num_steps: the step to train to.
      log_every: steps between scalar logs (window means).
      checkpoint_every: steps between checkpoints; one is also saved at the end and when
        training stops early.
      checkpoints: where states are saved (``save``, ``wait``, ``latest_step``,
        ``directory``).
      writer: where scalars and messages go (``write_scalars``, ``progress``,
        ``message``; and, if it has one, ``advance(step, figures)`` after every step,
        with a finished step's ``loss`` and the ``images_per_s`` every
        :data:`SHOW_EVERY_S` seconds, else ``None``: no step waits for it).
      stop_fn: ``stop_fn(step) -> bool`` after each step; True checkpoints and returns
        (e.g. a deadline). In a multi-process job it must answer alike on every process.
      start_step: the step ``state`` is at.
      batch_fn: ``step -> batch`` for steps that take host batches (None: the step
        samples its own).
      images_per_step: images per step over all models, for ``images_per_s``.
      startup_s: seconds spent before this call (start-up), added to the reported time
        to the first step.

    Returns:
      The last logged scalars (window means) with ``step``, ``stopped`` (the signal
      number, ``"stop_fn"`` or None) and ``first_step_s``.

    Raises:
      ValueError: a step count that is not a positive int.
      NonFiniteLossError: the loss or gradient norm became NaN/inf (names the step and the
        last good checkpoint, which stays intact).

    Examples:
      ``fit`` needs a step function and two sinks, nothing more. Here a toy step that
      counts, with sinks that keep what they are given:

      >>> import types
      >>> from disentax.train import fit
      >>> def train_step(state, batch):  # batch is None: the step samples its own
      ...     return state + 1, {"loss": 1.0 / (state + 1)}
      >>> saved, logged = [], []
      >>> checkpoints = types.SimpleNamespace(
      ...     directory=None,
      ...     save=lambda step, state: saved.append(step) or True,
      ...     wait=lambda: None,
      ...     latest_step=lambda: saved[-1] if saved else None,
      ... )
      >>> writer = types.SimpleNamespace(
      ...     write_scalars=lambda step, scalars: logged.append((step, round(scalars["loss"], 4))),
      ...     progress=lambda step, scalars: None,
      ...     message=lambda text: None,
      ... )
      >>> last = fit(
      ...     train_step, 0, num_steps=4, log_every=2, checkpoint_every=4,
      ...     checkpoints=checkpoints, writer=writer,
      ... )
      >>> last["step"], last["stopped"], saved
      (4, None, [4])
      >>> logged  # the window means of steps 1-2 and 3-4
      [(2, 0.75), (4, 0.2917)]

      ``stop_fn`` ends a run early, with a checkpoint:

      >>> saved.clear()
      >>> last = fit(
      ...     train_step, 0, num_steps=100, log_every=2, checkpoint_every=4,
      ...     checkpoints=checkpoints, writer=writer, stop_fn=lambda step: step == 3,
      ... )
      >>> last["step"], last["stopped"], saved
      (3, 'stop_fn', [3])
    """
    num_steps = _check_every("num_steps", num_steps)
    log_every = _check_every("log_every", log_every)
    checkpoint_every = _check_every("checkpoint_every", checkpoint_every)
    unplace = getattr(train_step, "unplace", lambda s: s)
    window = _Window(start_step, checkpoints.latest_step(), images_per_step)
    in_flight: collections.deque = collections.deque()
    stopped: int | str | None = None
    step = start_step
    with SignalCatcher() as signals:
        while step < num_steps:
            state, metrics = train_step(state, None if batch_fn is None else batch_fn(step))
            in_flight.append(metrics)
            finished = None
            if len(in_flight) > MAX_STEPS_IN_FLIGHT:
                # bounded run-ahead: wait (no transfer) for the step before the previous one
                finished = jax.block_until_ready(in_flight.popleft())
            step += 1
            window.add(step, metrics, writer, startup_s)
            window.advance(step, finished, writer)
            stopped = signals.requested(sync=step % log_every == 0) or None
            if stopped is None and stop_fn is not None and stop_fn(step):
                stopped = "stop_fn"
            end = step == num_steps or stopped is not None
            log_now, save_now = end or step % log_every == 0, end or step % checkpoint_every == 0
            if log_now or save_now:
                window.check_finite(step, checkpoints)
            if log_now:
                window.log(step, writer)
            if save_now and checkpoints.save(step, unplace(state)):
                window.last_good = step
            if stopped is not None:
                checkpoints.wait()
                writer.message(f"stopped {_why(stopped)} at step {step}; checkpoint saved")
                break
        checkpoints.wait()
    last = {**window.last, "step": step, "stopped": stopped, "first_step_s": window.first_step_s}
    if isinstance(stopped, int):
        signals.reraise()
    return last


class _Window:
    """The metrics of the steps since the last log, the timing, and the last log."""

    def __init__(self, start_step: int, last_good: int | None, images_per_step: int | None):
        self.metrics: list[dict] = []
        self.start, self.time = start_step, time.perf_counter()
        self.t_enter = self.time
        self.shown = (start_step, self.time)  # step and time of the last per-step figures
        self.last: dict[str, Any] = {"step": start_step}
        self.last_good = last_good
        self.first_step_s: float | None = None
        self.images_per_step = images_per_step

    def add(self, step: int, metrics: dict, writer: ScalarSink, startup_s: float) -> None:
        self.metrics.append(metrics)
        if self.first_step_s is None:
            # the first step includes compilation: report it, keep it out of steps/s
            jax.block_until_ready(metrics)
            self.first_step_s = startup_s + time.perf_counter() - self.t_enter
            since = "process start" if startup_s else "the loop started"
            writer.message(
                f"first train step done {self.first_step_s:.1f} s after {since} (compile included)"
            )
            self.start, self.time = step, time.perf_counter()
            self.shown = (step, self.time)

    def advance(self, step: int, finished: dict | None, writer: ScalarSink) -> None:
        """Moves the writer's progress to ``step``, with figures now and then.

        ``finished`` holds the metrics of a step known to be done (or None): at most every
        :data:`SHOW_EVERY_S` seconds its loss is read (a transfer that waits for nothing)
        with the images/s since the last figures; otherwise only the step count moves.
        """
        advance = getattr(writer, "advance", None)
        if advance is None:
            return
        now = time.perf_counter()
        shown_step, shown_time = self.shown
        if finished is None or now - shown_time < SHOW_EVERY_S or step <= shown_step:
            advance(step, None)
            return
        figures = {}
        loss = np.asarray(jax.device_get(finished.get("loss", np.nan)))
        if loss.ndim == 0:  # one model (a sweep's per-model losses wait for the log)
            figures["loss"] = float(loss)
        if self.images_per_step is not None:
            figures["images_per_s"] = (
                (step - shown_step) * self.images_per_step / (now - shown_time)
            )
        self.shown = (step, now)
        advance(step, figures)

    def check_finite(self, step: int, checkpoints: CheckpointSink) -> None:
        if not self.metrics:
            return
        bad = _first_nonfinite(self.metrics, step - len(self.metrics) + 1)
        if bad is not None:
            checkpoints.wait()
            raise NonFiniteLossError(bad, self.last_good, checkpoints.directory)

    def log(self, step: int, writer: ScalarSink) -> None:
        if not self.metrics:
            return
        scalars = _window_scalars(self.metrics, step - self.start, self.time)
        if self.images_per_step is not None:
            scalars["images_per_s"] = scalars["steps_per_s"] * self.images_per_step
        if len(self.last) == 1:  # the first log of this call
            scalars["time_to_first_step_s"] = self.first_step_s
        writer.write_scalars(step, scalars)
        writer.progress(step, scalars)
        self.last = {"step": step, **scalars}
        self.metrics, self.start, self.time = [], step, time.perf_counter()


def _window_scalars(window: list[dict], timed: int, since: float) -> dict[str, Any]:
    elapsed = time.perf_counter() - since
    scalars = _mean_scalars(window)
    scalars["steps_per_s"] = timed / elapsed if timed > 0 and elapsed > 0 else float("nan")
    return scalars


def _why(stopped: int | str) -> str:
    return "by stop_fn" if stopped == "stop_fn" else f"by signal {stopped}"
