"""Run a study: train a set of configs, evaluate every metric, write the results table.

A study is a list of :class:`Entry` (a run-folder name, a training config, the label of
the model and of its swept hyperparameter). :func:`run_study` does, for each entry and
each phase resumable on its own:

1. train: :func:`disentax.runs.train` per config (``mode="sequential"``), or the entries
   that share an objective as one vmapped program (``mode="sweep"``,
   :func:`disentax.runs.train_sweep`); an interrupted run resumes from its checkpoints;
2. evaluate: :func:`disentax.runs.evaluate` (every metric), skipped when the
   folder's ``evaluation.json`` already scores the trained step;
3. tabulate: ``results.json``, ``results.md`` and ``scores.png`` (score per model and
   hyperparameter value, seeds as points; :mod:`experiments.studies.tables`).

Usage (config files as emitted by ``experiments/studies/locatello2019.py --emit``, or the
shipped names in ``disentax/configs``):

  python experiments/studies/run_study.py --root runs/study --out results/study \\
      --configs beta_tcvae factor_vae --set num_steps=2000 --set learning_rate=1e-3

Run it again with the same arguments to resume; ``--sweep`` trains the configs of one
objective as one program.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

if __package__ in (None, ""):
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from disentax import runs  # noqa: E402
from experiments.studies import tables  # noqa: E402

__all__ = ["Entry", "entry_from_config", "evaluate_entries", "run_study", "train_entries"]


class Entry(NamedTuple):
    """One model of a study.

    Attributes:
      name: its run folder under the study root.
      config: the ``ml_collections.ConfigDict`` it trains with.
      label: the model's name in tables and plots (e.g. ``"beta-TCVAE"``).
      hyperparameter: the name of the value that distinguishes it (e.g. ``"beta"``).
      value: that value.
      seed: the config's seed.
    """

    name: str
    config: Any
    label: str
    hyperparameter: str
    value: float
    seed: int


def entry_from_config(
    config, *, name: str | None = None, label: str | None = None, hyperparameter: str | None = None
) -> Entry:
    """An :class:`Entry` for ``config``; the swept hyperparameter defaults to the one of
    the Locatello et al. grid (``locatello2019.GRID``), else the objective's first."""
    from experiments.studies import locatello2019

    objective = dict(config.objective)
    obj_name = objective.pop("name")
    if hyperparameter is None:
        if obj_name in locatello2019.GRID:
            hyperparameter = locatello2019.GRID[obj_name][0]
        else:
            hyperparameter = next(iter(sorted(objective)), "none")
    value = float(objective.get(hyperparameter, float("nan")))
    seed = int(config.seed)
    if name is None:
        name = f"{obj_name}_{hyperparameter}{value:g}_seed{seed}".replace(".", "p")
    return Entry(name, config, label or obj_name, hyperparameter, value, seed)


def _trained_step(workdir: pathlib.Path) -> int | None:
    return runs.RunFolder(workdir).latest_step()


def _sweep_groups(entries: Sequence[Entry]) -> list[list[Entry]]:
    """Entries grouped by everything but seed and objective hyperparameters."""
    groups: dict[str, list[Entry]] = {}
    for entry in entries:
        d = entry.config.to_dict()
        key = json.dumps(
            {k: v for k, v in d.items() if k not in ("seed", "objective")}
            | {"objective": d["objective"]["name"]},
            sort_keys=True,
        )
        groups.setdefault(key, []).append(entry)
    return list(groups.values())


def _without_evaluation(config):
    config = config.copy_and_resolve_references()
    config.evaluate = False  # the study evaluates in its own phase
    return config


def train_entries(
    entries: Sequence[Entry], root, *, mode: str = "sequential", log: Callable[[str], None] = print
) -> dict[str, dict]:
    """Trains (or resumes) every entry; returns ``{name: timing}`` of this call."""

    if mode not in ("sequential", "sweep"):
        raise ValueError(f"mode must be 'sequential' or 'sweep', got {mode!r}")
    root = pathlib.Path(root)
    timings: dict[str, dict] = {}
    if mode == "sweep":
        for group in _sweep_groups(entries):
            names = [e.name for e in group]
            log(f"training sweep {names}")
            result = runs.train_sweep(
                [_without_evaluation(e.config) for e in group],
                [root / e.name for e in group],
                log=log,
            )
            for name in names:
                timings[name] = {**result, "sweep": names}
        return timings
    for entry in entries:
        log(f"training {entry.name}")
        t0 = time.perf_counter()
        last = runs.train(_without_evaluation(entry.config), root / entry.name)
        timings[entry.name] = {
            "step": int(last.get("step", 0)),
            "seconds": time.perf_counter() - t0,
            "steps_per_s": last.get("steps_per_s", float("nan")),
            "images_per_s": last.get("images_per_s", float("nan")),
        }
    return timings


def evaluate_entries(
    entries: Sequence[Entry],
    root,
    *,
    metrics: Sequence[str] | None = None,
    log: Callable[[str], None] = print,
    **evaluation_kwargs,
) -> None:
    """Writes ``evaluation.json`` (every metric unless ``metrics``) of each trained entry.

    A folder whose ``evaluation.json`` already scores its newest checkpoint is skipped.
    ``evaluation_kwargs`` go to :func:`disentax.runs.evaluate` (e.g. ``interventional_sizes``).
    """

    for entry in entries:
        workdir = pathlib.Path(root) / entry.name
        step = _trained_step(workdir)
        if step is None:
            log(f"{entry.name}: not trained, not evaluated")
            continue
        done = tables.read_evaluation(workdir)
        if done is not None and done.get("step") == step:
            log(f"{entry.name}: evaluation of step {step} already written")
            continue
        log(f"evaluating {entry.name} at step {step}")
        t0 = time.perf_counter()
        runs.evaluate(
            workdir, metrics=None if metrics is None else list(metrics), **evaluation_kwargs
        )
        log(f"{entry.name}: evaluated in {time.perf_counter() - t0:.0f} s")


def run_study(
    entries: Sequence[Entry],
    root,
    out,
    *,
    mode: str = "sequential",
    metrics: Sequence[str] | None = None,
    train: bool = True,
    evaluate: bool = True,
    title: str = "Study",
    log: Callable[[str], None] = print,
) -> dict:
    """Trains, evaluates and tabulates ``entries``; returns the results table.

    Args:
      entries: the study's models (unique names).
      root: folder of the run folders (``root/<entry.name>``).
      out: folder of ``results.json``, ``results.md`` and ``scores.png``.
      mode: ``"sequential"`` or ``"sweep"`` (see :func:`train_entries`).
      metrics: metric names for :func:`disentax.runs.evaluate` (default: every metric).
      train: run the training phase.
      evaluate: run the evaluation phase.
      title: heading of the markdown table.
      log: where progress lines go.

    Returns:
      The table written to ``results.json``.
    """
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"entry names must be unique, got {names}")
    if train:
        train_entries(entries, root, mode=mode, log=log)
    if evaluate:
        evaluate_entries(entries, root, metrics=metrics, log=log)
    table = tables.collect(entries, root)
    tables.write_all(table, out, title=title)
    log(f"wrote {pathlib.Path(out) / 'results.json'}, results.md and scores.png")
    return table


def _parse_value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--configs", nargs="+", required=True, help="config files or shipped config names"
    )
    parser.add_argument("--root", required=True, help="folder of the run folders")
    parser.add_argument("--out", required=True, help="folder of the results tables")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key in every config (repeatable)",
    )
    parser.add_argument("--sweep", action="store_true", help="one program per objective")
    parser.add_argument("--metrics", default=None, help="comma-separated metric names")
    parser.add_argument("--no_train", action="store_true", help="only evaluate and tabulate")
    parser.add_argument("--title", default="Study")
    args = parser.parse_args(argv)

    overrides = []
    for item in args.set:
        key, sep, _ = item.partition("=")
        if not sep or not key:
            parser.error(f"--set expects KEY=VALUE, got {item!r}")
        overrides.append(f"--config.{item}")
    entries = [entry_from_config(runs.load_config(c, overrides)) for c in args.configs]
    metrics = None if args.metrics is None else [m for m in args.metrics.split(",") if m]
    run_study(
        entries,
        args.root,
        args.out,
        mode="sweep" if args.sweep else "sequential",
        metrics=metrics,
        train=not args.no_train,
        title=args.title,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
