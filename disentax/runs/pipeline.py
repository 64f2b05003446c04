"""What ``disentax train`` runs: train, then (when the config asks) evaluate and traverse."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import jax

from disentax.runs import spec as spec_lib
from disentax.runs import terminal
from disentax.runs.folder import RunFolder
from disentax.runs.lock import holds_workdir
from disentax.runs.training import train
from disentax.train.runtime import print_line

__all__ = ["run"]


@holds_workdir("train", create=True)
def run(
    config,
    workdir: str | os.PathLike,
    *,
    stop_fn: Callable[[int], bool] | None = None,
    restart: bool = False,
    config_name: str | None = None,
) -> dict:
    """Trains the run, then writes its evaluation, pictures and report.

    Evaluation and traversal follow when ``config.evaluate`` is true and the run reached
    ``config.num_steps``: after training in this call, or when an earlier call finished
    training but left no evaluation record. Only process 0 evaluates and draws. It
    prints what :func:`disentax.runs.train` and :func:`disentax.runs.evaluate` print,
    then a closing summary: the step reached, the headline scores and where the report
    is.

    Args:
      config: a training config (see :func:`disentax.runs.train`).
      workdir: the run folder.
      stop_fn: as in :func:`disentax.runs.train`.
      restart: as in :func:`disentax.runs.train` (start over when no checkpoint of the
        folder can be read, setting them aside).
      config_name: the config's name, for the start line (e.g. ``"default"``).

    Returns:
      The last logged scalars with ``step`` (from :func:`disentax.runs.train`).
    """
    start = time.perf_counter()
    spec = spec_lib.validate(config)
    folder = RunFolder(workdir)
    before = folder.latest_step()
    last = train(config, folder.path, stop_fn=stop_fn, restart=restart, config_name=config_name)
    finished = last.get("step", 0) >= spec.num_steps
    trained_now = before is None or before < spec.num_steps
    wanted = trained_now or not folder.evaluation.exists()
    if jax.process_index() != 0:
        return last
    record = None
    if spec.evaluate and finished and wanted:
        # imported here: training does not load the metric suite or matplotlib
        from disentax.runs.pictures import traverse
        from disentax.runs.scoring import default_workers, evaluate

        record = evaluate(folder.path, eval_sizes=spec.eval_sizes, workers=default_workers())
        print_line("drawing the traversals, plots and report", file=sys.stdout)
        traverse(folder.path)
    for line in _summary(folder, spec, last, record, time.perf_counter() - start):
        print_line(line, file=sys.stdout)
    return last


def _summary(folder: RunFolder, spec, last: dict, record: dict | None, seconds: float):
    """The closing lines: the step reached and loss, the scores, the report's path."""
    step = last.get("step", 0)
    loss = f", loss {last['loss']:.4g}" if isinstance(last.get("loss"), float) else ""
    if step < spec.num_steps:
        yield (
            f"stopped {folder.path} at step {step} of {spec.num_steps}{loss} after "
            f"{terminal.duration(seconds)}; the same command resumes it"
        )
        return
    yield f"done: {folder.path} at step {step}{loss} in {terminal.duration(seconds)}"
    if record is None and folder.evaluation.exists():
        record = folder.read_json(folder.evaluation)
    if record is not None:
        yield from terminal.score_table(record)
    elif not spec.evaluate:
        yield f"not evaluated (config.evaluate=False): disentax evaluate --workdir {folder.path}"
    if folder.report.exists():
        yield f"report: {folder.report}"
