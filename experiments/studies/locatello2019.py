"""The grid of Locatello et al. (2019): 6 models x 6 hyperparameter values x seeds.

Each point is a shipped reference config (``disentax/configs/<objective>.py``) with one
hyperparameter value and one seed. The study trained 50 seeds per point (1,800 models on
dSprites alone), 300,000 steps each.

Usage:
  python experiments/studies/locatello2019.py --list                 # count and table
  python experiments/studies/locatello2019.py --emit runs/configs    # one config per point
  python experiments/studies/locatello2019.py --emit DIR --num_seeds 5 --num_steps 2000

Each emitted file is a standalone config: ``disentax train --config DIR/<name>.py
--workdir runs/<name>``.

Points that share an objective can also train together as one program with the leading
model axis of ``disentax.train.make_train_step(..., num_models=S)`` (a vmapped sweep over
seeds and the hyperparameter): :func:`sweep_groups` groups them.

References:
  Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning of
  Disentangled Representations", ICML 2019, Table 2 (hyperparameter grid).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections.abc import Iterator
from typing import NamedTuple

# objective -> (swept hyperparameter, its six values, fixed hyperparameters): the
# shipped study spec's grid (``disentax study run --config locatello2019``).
from disentax.configs.studies.locatello2019 import GRID  # noqa: E402

NUM_SEEDS = 50


class Point(NamedTuple):
    """One model of the study."""

    objective: str
    hyperparameter: str
    value: float
    seed: int

    @property
    def name(self) -> str:
        value = f"{self.value:g}".replace(".", "p")
        return f"{self.objective}_{self.hyperparameter}{value}_seed{self.seed}"


def points(num_seeds: int = NUM_SEEDS, objectives=None) -> Iterator[Point]:
    """Every point of the grid, objective-major, then value, then seed."""
    if num_seeds < 1:
        raise ValueError(f"num_seeds must be >= 1, got {num_seeds}")
    for objective in objectives or GRID:
        if objective not in GRID:
            raise ValueError(f"objective {objective!r} is not in the study: {sorted(GRID)}")
        hyper, values, _ = GRID[objective]
        for value in values:
            for seed in range(num_seeds):
                yield Point(objective, hyper, value, seed)


def sweep_groups(num_seeds: int = NUM_SEEDS) -> dict[str, list[Point]]:
    """Points grouped by objective: each group can be one vmapped sweep program."""
    groups: dict[str, list[Point]] = {}
    for point in points(num_seeds):
        groups.setdefault(point.objective, []).append(point)
    return groups


def config_values(point: Point, **overrides) -> dict:
    """The resolved config values of ``point`` (reference settings unless overridden)."""
    _, _, fixed = GRID[point.objective]
    values = {
        "model": "conv",
        "objective": {"name": point.objective, **fixed, point.hyperparameter: point.value},
        "dataset": "dsprites",
        "num_latents": 10,
        "batch_size": 64,
        "num_steps": 300_000,
        "learning_rate": 1e-4,
        "seed": point.seed,
        "log_every": 1000,
        "checkpoint_every": 10_000,
        "evaluate": True,
        "parallel": "jit",
        "reconstruction": "bernoulli",
        "keep_checkpoints": 3,
    }
    unknown = sorted(set(overrides) - set(values))
    if unknown:
        raise ValueError(f"unknown config keys {unknown}; known: {sorted(values)}")
    values.update(overrides)
    return values


def get_config(point: Point, **overrides):
    """The ``ml_collections.ConfigDict`` of ``point``."""
    import ml_collections

    return ml_collections.ConfigDict(config_values(point, **overrides))


def config_source(point: Point, **overrides) -> str:
    """Python source of a standalone config file for ``point``."""
    values = config_values(point, **overrides)
    lines = [
        f'"""Locatello et al. (2019) grid point {point.name}.',
        "",
        "Emitted by experiments/studies/locatello2019.py.",
        "",
        "Command:",
        f"  disentax train --config <this file> --workdir runs/{point.name}",
        '"""',
        "",
        "import ml_collections",
        "",
        "",
        "def get_config() -> ml_collections.ConfigDict:",
        "    config = ml_collections.ConfigDict()",
    ]
    for key, value in values.items():
        if isinstance(value, dict):
            lines.append(f"    config.{key} = ml_collections.ConfigDict({value!r})")
        else:
            lines.append(f"    config.{key} = {value!r}")
    lines += ["    return config", ""]
    return "\n".join(lines)


def emit(directory: str | pathlib.Path, num_seeds: int = NUM_SEEDS, **overrides) -> list:
    """Writes one config file per point into ``directory``; returns their paths."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for point in points(num_seeds):
        path = directory / f"{point.name}.py"
        path.write_text(config_source(point, **overrides), encoding="utf-8")
        written.append(path)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print the grid and its size")
    parser.add_argument("--emit", default=None, help="write one config per point here")
    parser.add_argument("--num_seeds", type=int, default=NUM_SEEDS)
    parser.add_argument("--num_steps", type=int, default=None, help="override num_steps")
    args = parser.parse_args(argv)
    overrides = {} if args.num_steps is None else {"num_steps": args.num_steps}
    if args.emit:
        paths = emit(args.emit, args.num_seeds, **overrides)
        print(f"wrote {len(paths)} configs to {args.emit}")
        return 0
    total = 0
    for objective, (hyper, values, fixed) in GRID.items():
        fixed_text = f" ({', '.join(f'{k}={v}' for k, v in fixed.items())})" if fixed else ""
        print(f"{objective:13s} {hyper} in {list(values)}{fixed_text}")
        total += len(values) * args.num_seeds
    print(f"{len(GRID)} models x 6 values x {args.num_seeds} seeds = {total} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
