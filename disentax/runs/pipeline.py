"""What ``disentax train`` runs: train, then (when the config asks) evaluate and traverse."""

from __future__ import annotations

import os
from collections.abc import Callable

import jax

from disentax.runs import spec as spec_lib
from disentax.runs.folder import RunFolder
from disentax.runs.lock import holds_workdir
from disentax.runs.training import train

__all__ = ["run"]


@holds_workdir("train", create=True)
def run(
    config,
    workdir: str | os.PathLike,
    *,
    stop_fn: Callable[[int], bool] | None = None,
    restart: bool = False,
) -> dict:
    """Trains the run, then writes its evaluation, pictures and report.

    Evaluation and traversal follow when ``config.evaluate`` is true and the run reached
    ``config.num_steps``: after training in this call, or when an earlier call finished
    training but left no evaluation record. Only process 0 evaluates and draws.

    Args:
      config: a training config (see :func:`disentax.runs.train`).
      workdir: the run folder.
      stop_fn: as in :func:`disentax.runs.train`.
      restart: as in :func:`disentax.runs.train` (start over when no checkpoint of the
        folder can be read, setting them aside).

    Returns:
      The last logged scalars with ``step`` (from :func:`disentax.runs.train`).
    """
    spec = spec_lib.validate(config)
    folder = RunFolder(workdir)
    before = folder.latest_step()
    last = train(config, folder.path, stop_fn=stop_fn, restart=restart)
    finished = last.get("step", 0) >= spec.num_steps
    trained_now = before is None or before < spec.num_steps
    wanted = trained_now or not folder.evaluation.exists()
    if spec.evaluate and finished and wanted and jax.process_index() == 0:
        # imported here: training does not load the metric suite or matplotlib
        from disentax.runs.pictures import traverse
        from disentax.runs.scoring import default_workers, evaluate

        evaluate(folder.path, eval_sizes=spec.eval_sizes, workers=default_workers())
        traverse(folder.path)
    return last
