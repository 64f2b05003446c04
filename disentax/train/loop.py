"""The one training loop: :func:`fit` runs a compiled train step to a step count.

``fit`` knows no config and no run folder: it is given the step, the state, where
checkpoints and scalars go, and when to stop. Single runs and vmapped sweeps use it alike
(``disentax.runs.train`` and ``disentax.runs.train_sweep``).

Metrics leave the device only on log and checkpoint steps, where they are checked for
non-finite values, averaged over the window and handed to the writer. Checkpoints are
saved every ``checkpoint_every`` steps, at the end, when ``stop_fn`` says so, and when the
process receives SIGTERM or SIGINT (after which the signal takes its usual effect). A
single-process run notices the signal at the next step; a multi-process run combines the
flags of its processes on log steps, so that all stop at the same step.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from typing import Any, Protocol

import jax
import numpy as np

from disentax.train.runtime import NonFiniteLossError, SignalCatcher

__all__ = ["MAX_STEPS_IN_FLIGHT", "CheckpointSink", "ScalarSink", "fit"]

# Steps dispatched but not yet finished, at most: with unbounded asynchronous dispatch a
# signal noticed at the next step would wait for every queued step before its
# checkpoint; two keeps the device busy and bounds that wait to about two steps.
MAX_STEPS_IN_FLIGHT = 2


class CheckpointSink(Protocol):
    """Where :func:`fit` saves states (e.g. :class:`disentax.train.Checkpoints`)."""

    directory: Any

    def save(self, step: int, state: Any) -> bool: ...
    def wait(self) -> None: ...
    def latest_step(self) -> int | None: ...


class ScalarSink(Protocol):
    """Where :func:`fit` sends window means (e.g. :class:`disentax.train.Writer`)."""

    def write_scalars(self, step: int, scalars: dict) -> None: ...
    def progress(self, step: int, scalars: dict) -> None: ...
    def message(self, text: str) -> None: ...


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
        ``message``).
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
    """
    num_steps = _check_every("num_steps", num_steps)
    log_every = _check_every("log_every", log_every)
    checkpoint_every = _check_every("checkpoint_every", checkpoint_every)
    unplace = getattr(train_step, "unplace", lambda s: s)
    t_enter = time.perf_counter()
    window: list[dict] = []
    window_start, window_time = start_step, t_enter
    last: dict[str, Any] = {"step": start_step}
    last_good = checkpoints.latest_step()
    first_step_s = None
    stopped: int | str | None = None
    in_flight: collections.deque = collections.deque()
    step = start_step
    with SignalCatcher() as signals:
        while step < num_steps:
            state, metrics = train_step(state, None if batch_fn is None else batch_fn(step))
            window.append(metrics)
            in_flight.append(metrics)
            if len(in_flight) > MAX_STEPS_IN_FLIGHT:
                # bounded run-ahead: wait (no transfer) for the step before the previous one
                jax.block_until_ready(in_flight.popleft())
            step += 1
            if first_step_s is None:
                # the first step includes compilation: report it, keep it out of steps/s
                jax.block_until_ready(metrics)
                first_step_s = startup_s + time.perf_counter() - t_enter
                since = "process start" if startup_s else "the loop started"
                writer.message(
                    f"first train step done {first_step_s:.1f} s after {since} (compile included)"
                )
                window_start, window_time = step, time.perf_counter()
            stopped = signals.requested(sync=step % log_every == 0) or None
            if stopped is None and stop_fn is not None and stop_fn(step):
                stopped = "stop_fn"
            log_now = step % log_every == 0 or step == num_steps or stopped is not None
            save_now = step % checkpoint_every == 0 or step == num_steps or stopped is not None
            if (log_now or save_now) and window:
                bad = _first_nonfinite(window, step - len(window) + 1)
                if bad is not None:
                    checkpoints.wait()
                    raise NonFiniteLossError(bad, last_good, checkpoints.directory)
            if log_now and window:
                scalars = _window_scalars(window, step - window_start, window_time)
                if images_per_step is not None:
                    scalars["images_per_s"] = scalars["steps_per_s"] * images_per_step
                if "first_step_s" not in last:
                    scalars["time_to_first_step_s"] = first_step_s
                writer.write_scalars(step, scalars)
                writer.progress(step, scalars)
                last = {"step": step, **scalars, "first_step_s": first_step_s}
                window, window_start, window_time = [], step, time.perf_counter()
            if save_now:
                if checkpoints.save(step, unplace(state)):
                    last_good = step
                if stopped is not None:
                    checkpoints.wait()
                    writer.message(f"stopped {_why(stopped)} at step {step}; checkpoint saved")
                    break
        checkpoints.wait()
    last.update(step=step, stopped=stopped, first_step_s=first_step_s)
    if isinstance(stopped, int):
        signals.reraise()
    return last


def _window_scalars(window: list[dict], timed: int, since: float) -> dict[str, Any]:
    elapsed = time.perf_counter() - since
    scalars = _mean_scalars(window)
    scalars["steps_per_s"] = timed / elapsed if timed > 0 and elapsed > 0 else float("nan")
    return scalars


def _why(stopped: int | str) -> str:
    return "by stop_fn" if stopped == "stop_fn" else f"by signal {stopped}"
