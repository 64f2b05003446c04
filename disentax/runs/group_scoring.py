"""Evaluation of a group of run folders as one program: each folder's evaluation record.

:func:`evaluate_group` reads the run folders of a group (models of one architecture on
one dataset, e.g. a study group trained by :func:`disentax.runs.train_sweep`), stacks
their parameters on a model axis and scores them with
:func:`disentax.evaluation.evaluate_group`; each folder gets the record
:func:`disentax.runs.evaluate` writes (same keys and scores), plus ``group``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp

import disentax
from disentax import evaluation
from disentax.runs import scoring, terminal
from disentax.runs.folder import RunFolder
from disentax.runs.loading import LoadedRun, load
from disentax.runs.lock import holds_workdir

__all__ = ["GROUP_KEYS", "evaluate_group"]

# The config keys that decide what an evaluation encodes and scores: the models of a
# group agree on them (the objective, its hyperparameters and the seed may differ).
GROUP_KEYS = (
    "model",
    "num_latents",
    "dtype",
    "dataset",
    "data_dir",
    "correlations",
    "eval_distribution",
    "reconstruction",
)


def _check_group(paths: Sequence, runs: Sequence[LoadedRun]) -> None:
    """Refuses runs that do not form a group, naming the key and the folder that differ."""
    first = runs[0]
    for path, run in zip(paths[1:], runs[1:], strict=True):
        for key in GROUP_KEYS:
            if run.config.get(key) != first.config.get(key):
                raise ValueError(
                    f"runs do not form a group: config.{key} is {run.config.get(key)!r} in "
                    f"{path} and {first.config.get(key)!r} in {paths[0]}"
                )
        shapes = jax.tree.map(jnp.shape, run.params)
        if shapes != jax.tree.map(jnp.shape, first.params):
            raise ValueError(
                f"runs do not form a group: the parameters of {path} are not laid out as "
                f"those of {paths[0]}"
            )


def _score(runs, names, *, seed, mesh_shape, models_per_chunk, say_metric, **sizes) -> list[dict]:
    """Each run's result: the group's program, or the suite's per run without factors."""
    dataset = runs[0].dataset
    if not getattr(dataset, "has_factors", True):  # reconstruction scores: per run
        results = [scoring._score(run, names, seed=seed, **sizes) for run in runs]
        for result in results:
            result["group"] = {"models": len(runs), "per_model": dict.fromkeys(names, "no factors")}
        return results
    mesh = None
    if mesh_shape is not None:
        from disentax import parallel

        mesh = parallel.make_model_mesh(*mesh_shape, devices=jax.local_devices())
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *[run.params for run in runs])
    return evaluation.evaluate_group(
        jax.random.key(seed),
        dataset,
        runs[0].model,
        stacked,
        metrics=names,
        mesh=mesh,
        models_per_chunk=models_per_chunk,
        progress_fn=say_metric,
        **sizes,
    )


@holds_workdir("evaluate", argument="paths")
def evaluate_group(
    paths: Sequence[str | os.PathLike],
    *,
    metrics: Sequence[str] | None = None,
    step: int | None = None,
    seed: int = 0,
    num_train: int = 10000,
    num_test: int = 5000,
    interventional_sizes: Mapping[str, int] | None = None,
    eval_sizes: str | None = "auto",
    mesh_shape: tuple[int, int] | None = None,
    models_per_chunk: int | None = None,
) -> list[dict]:
    """Evaluates the runs in ``paths`` as one group and writes each one's evaluation record.

    Args:
      paths: run folders whose configs agree on :data:`GROUP_KEYS`.
      metrics: as for :func:`disentax.runs.evaluate` (default: all, less the slow ones at
        the quick sizes).
      step: checkpoint step of every run (default: each run's newest readable one).
      seed: evaluation seed, shared by the runs (as :func:`disentax.runs.evaluate`'s).
      num_train: shared training points of the array metrics (reference: 10000).
      num_test: shared test points (reference: 5000).
      interventional_sizes: BetaVAE/FactorVAE sizes; when given, ``eval_sizes`` is unused.
      eval_sizes: a preset of :data:`disentax.evaluation.EVAL_SIZES` (``"auto"``).
      mesh_shape: ``(models, data)`` of a models mesh over this process's devices
        (:func:`disentax.parallel.make_model_mesh`; 0: automatic); None: one device.
      models_per_chunk: at most this many models in one program (None: all).

    Prints a line as it starts, one per metric (the first model's headline and the
    group's time) and one per record written.

    Returns:
      The records written, in the order of ``paths``: :func:`disentax.runs.evaluate`'s
      keys, with ``group`` (``models``, and the metrics scored one model at a time).

    Raises:
      FileNotFoundError: a folder without a run or a readable checkpoint.
      ValueError: no folder; folders that are not a group (names the key and folder);
        an unknown metric, preset or size; or a run for which every metric was skipped
        (nothing is written).
    """
    if not paths:
        raise ValueError("paths must name at least one run folder")
    names, interventional_sizes = scoring.resolve_metrics(metrics, interventional_sizes, eval_sizes)
    start = time.perf_counter()
    folders = [RunFolder(path) for path in paths]
    runs = [load(folder.path, step=step) for folder in folders]
    _check_group([f.path for f in folders], runs)
    votes = terminal.describe_votes(interventional_sizes)
    scoring.say(
        f"evaluating {len(runs)} models of a group as one program from {folders[0].path}: "
        f"{len(names)} metrics ({votes}); a line per metric as it ends"
    )

    def say_metric(name, outcomes, seconds):
        note = f"{len(outcomes)} models; first model's score"
        scoring.say(terminal.metric_line(name, outcomes[0], seconds, note=note))

    results = _score(
        runs,
        names,
        seed=int(seed),
        mesh_shape=mesh_shape,
        say_metric=say_metric,
        num_train=num_train,
        num_test=num_test,
        interventional_sizes=interventional_sizes,
        models_per_chunk=models_per_chunk,
    )
    _refuse_empty(folders, runs, results)
    total = time.perf_counter() - start
    return [
        _write(folder, run, result, seed=int(seed), total=total)
        for folder, run, result in zip(folders, runs, results, strict=True)
    ]


def _refuse_empty(folders, runs, results) -> None:
    """Raises (before anything is written) if a run scored nothing, naming its folder."""
    for folder, run, result in zip(folders, runs, results, strict=True):
        if result["skipped"] and not result["metrics"]:
            reasons = "; ".join(f"{name}: {why}" for name, why in result["skipped"].items())
            raise ValueError(
                f"evaluation of {folder.path} (checkpoint {run.step}) scored nothing, every "
                f"metric was skipped ({reasons}); no {folder.EVALUATION} of the group was "
                "written"
            )


def _write(folder: RunFolder, run: LoadedRun, result: dict, *, seed: int, total: float) -> dict:
    """Writes one run's record (the keys :func:`disentax.runs.evaluate` writes)."""
    result["seconds"]["total"] = total
    record = {
        "step": int(run.step),
        **result,
        "seed": seed,
        "representation": "mean",
        "version": disentax.__version__,
        "jax_version": jax.__version__,
        "device": jax.devices()[0].device_kind,
        "workers": {"processes": 1},
    }
    path = folder.write_json(folder.evaluation, record)
    scoring.say(f"evaluation written: {path}")
    return record
