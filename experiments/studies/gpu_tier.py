"""The accelerator tier: the six-model reference grid in one <= 9-minute call on one GPU.

The six objectives of Locatello et al. (2019) (beta-VAE, AnnealedVAE, FactorVAE,
DIP-VAE-I, DIP-VAE-II, beta-TCVAE) at the reference settings of
``disentax/configs/<objective>.py`` (conv VAE, 10 latents, Bernoulli decoder, batch 64,
Adam 1e-4; the configs' hyperparameter: beta-VAE beta = 4, AnnealedVAE c_max = 25,
FactorVAE gamma = 10, DIP-VAE-I lambda_od = 10, DIP-VAE-II lambda_od = 10, beta-TCVAE
beta = 6), procedural dSprites sampled inside the step. With ``--full_grid`` each
objective trains all six values of the study's grid (``locatello2019.GRID``) as one
vmapped sweep, 36 models in all.

The training budget (``--minutes`` minus ``--evaluation_minutes``) is split equally
between the objectives; each trains for as many steps as fit in its share (the reference
is 300,000 steps), then every model is evaluated with every metric. Printed: the steps
reached, images/s per objective, and the results table (also written to ``--out``).

Command (one call on a GPU machine):

  python experiments/studies/gpu_tier.py --root runs/gpu_tier --out results/gpu_tier

Smoke run on a CPU (tiny budget, a few steps, no claim about scores):

  python experiments/studies/gpu_tier.py --root /tmp/g --out /tmp/g/out --minutes 3 \\
      --evaluation_minutes 1 --objectives beta_vae --metrics mig

Expected time: ``--minutes`` (default 8.5) plus start-up.
Expected scores: not yet measured on a GPU (no device was available when the tier was
written; it was smoke-tested on CPU only).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))


def tier_objectives() -> tuple[str, ...]:
    """Every objective in ``disentax.losses.OBJECTIVES``: the study's six in the order of its
    grid, then any other (at its shipped config's settings, also with ``--full_grid``)."""
    from disentax import losses
    from experiments.studies import locatello2019

    study = [name for name in locatello2019.GRID if name in losses.OBJECTIVES]
    return (*study, *(name for name in losses.OBJECTIVES if name not in study))


def grid_entries(objective: str, *, full_grid: bool, num_steps: int, log_every: int) -> list:
    """The tier's entries of one objective (its reference config, or its six grid values)."""
    from disentax import runs
    from experiments.studies import locatello2019
    from experiments.studies.run_study import entry_from_config

    common = [
        f"--config.num_steps={num_steps}",
        f"--config.log_every={log_every}",
        f"--config.checkpoint_every={num_steps}",
        "--config.evaluate=False",
        "--config.keep_checkpoints=1",
    ]
    if not full_grid or objective not in locatello2019.GRID:
        return [
            entry_from_config(runs.load_config(objective, common), name=f"{objective}_reference")
        ]
    hyper, values, _ = locatello2019.GRID[objective]
    result = []
    for value in values:
        config = runs.load_config(objective, [*common, f"--config.objective.{hyper}={value}"])
        result.append(entry_from_config(config))
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="runs/gpu_tier")
    parser.add_argument("--out", default="results/gpu_tier")
    parser.add_argument("--minutes", type=float, default=8.5, help="whole-call budget")
    parser.add_argument("--evaluation_minutes", type=float, default=2.5)
    known = tier_objectives()
    parser.add_argument("--objectives", default=",".join(known))
    parser.add_argument("--full_grid", action="store_true", help="36 models, 6 sweeps")
    parser.add_argument("--metrics", default=None, help="comma-separated (default: all)")
    parser.add_argument("--num_steps", type=int, default=300_000, help="step cap")
    parser.add_argument("--log_every", type=int, default=1000)
    args = parser.parse_args(argv)
    t0 = time.time()

    import jax

    from disentax import runs
    from experiments.studies import run_study, tables

    objectives = [o for o in args.objectives.split(",") if o]
    unknown = sorted(set(objectives) - set(known))
    if unknown:
        parser.error(f"unknown objectives {unknown}; known: {list(known)}")
    device = jax.devices()[0]
    print(f"device: {device.device_kind} ({device.platform}), {jax.device_count()} device(s)")
    root = pathlib.Path(args.root)
    train_end = t0 + 60 * (args.minutes - args.evaluation_minutes)
    all_entries, speeds = [], {}
    for i, objective in enumerate(objectives):
        entries = grid_entries(
            objective, full_grid=args.full_grid, num_steps=args.num_steps, log_every=args.log_every
        )
        all_entries += entries
        share = (train_end - time.time()) / (len(objectives) - i)
        result = runs.train_sweep(
            [e.config for e in entries],
            [root / e.name for e in entries],
            deadline=time.time() + share,
            log=print,
        )
        speeds[objective] = result
        print(
            f"{objective}: step {result['step']}, {result['images_per_s']:.0f} images/s "
            f"({len(entries)} model(s)), first step {result['compile_s']:.1f} s"
        )
    metrics = None if args.metrics is None else [m for m in args.metrics.split(",") if m]
    try:
        run_study.evaluate_entries(all_entries, root, metrics=metrics)
    except ImportError as err:  # the table then holds training numbers only
        print(f"evaluation unavailable: {err}")
    table = tables.collect(all_entries, root)
    table["info"] = {
        "device": device.device_kind,
        "platform": device.platform,
        "wall_s": time.time() - t0,
        "training": speeds,
        "command": " ".join(["gpu_tier.py", *sys.argv[1:]]),
    }
    title = f"Accelerator tier: reference settings, {device.device_kind}"
    paths = tables.write_all(table, args.out, title=title)
    print()
    print(paths["md"].read_text(encoding="utf-8"))
    print(
        json.dumps(
            {
                k: {"step": v["step"], "images_per_s": round(v["images_per_s"], 1)}
                for k, v in speeds.items()
            }
        )
    )
    print(f"wall time {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
