"""The CPU tier: four models on procedural dSprites in about one hour on a 2-core machine.

Models (one seed each): beta-TCVAE (beta = 6), beta-VAE (beta = 4), FactorVAE
(gamma = 40) and the plain VAE (beta-VAE objective with beta = 1), the conv encoder/decoder
and Bernoulli decoder of the reference study, evaluated with every metric of
``disentax.evaluation``.

Command (resumable: run it again to continue; ``nohup`` keeps it alive after logout):

  nohup python experiments/studies/cpu_tier.py --root runs/cpu_tier \\
      --out results/cpu_tier > runs/cpu_tier.log 2>&1 &

How the hour is used:

* Both cores: the models are split into two lanes, one process per lane, each pinned to
  its own core with XLA single-threaded. A vmapped sweep of two beta-TCVAE models
  measured ~100 images per CPU-second against ~125 for one model (same machine, same
  load), so the CPU tier does not use sweeps. Lane 0 trains beta-TCVAE and the plain VAE
  (the MIG comparison is within one lane, at equal steps), lane 1 FactorVAE and beta-VAE.
* Budget in CPU time: each lane trains until it has used ``--cpu_minutes`` (48) of CPU
  time, which on a quiet machine is the same number of wall minutes, leaving ~10 minutes
  of the hour for evaluation and pictures. On a loaded machine the tier does the same
  work in more wall time, up to ``--max_minutes`` of training (wall clock), at which the
  lane interrupts its current chunk (``disentax.runs.train``'s ``stop_fn``: the loop
  checkpoints the step it reached) and evaluates. ``lane<i>_cpu.json`` in the root keeps
  the CPU time spent, so a resumed tier continues with what is left of its budget.
* Round robin: each lane trains its models in chunks of ``--chunk`` (500) steps, model
  after model (``disentax.runs.train`` with a growing ``num_steps``, a resumable key:
  each chunk continues the same run from its checkpoint; the persistent compilation
  cache in ``<root>/jax_cache`` spares the recompiles). A lane stops when another round
  would pass its CPU budget, so the models of a lane end at the same step unless the
  wall-clock cap interrupts a round; the table reports the steps each model reached. A
  model whose loss becomes non-finite keeps its last good checkpoint and the lane goes
  on with its other model.
* Optimisation settings (``SETTINGS``): Adam with learning rate 1e-3 instead of the
  reference 1e-4 (300,000 steps do not fit an hour), batch 64 (the reference batch; the
  minibatch TC estimator of beta-TCVAE degrades with smaller batches). Measured evidence
  for the choice, one seed each on this machine: a first tier at 2e-3 (3,500-4,939 steps
  per model on a heavily loaded machine) left beta-TCVAE below the plain VAE (MIG 0.018
  vs 0.037), while the default config at 1e-3 gave beta-TCVAE MIG 0.219 against 0.102 for
  the VAE after 1,500 steps; issue 9's calibration also used 1e-3. It is a judgement from
  those runs, not a searched optimum.
* After training, each lane evaluates its models (every metric, on its own core); then
  the main process writes ``results.json``, ``results.md``, ``scores.png`` into ``--out``,
  the traversal grid of the model with the highest MIG as ``traversal_best.png``, and
  ``README.md``, the README's results section (:mod:`experiments.studies.readme_section`).

Expected time: about one hour on a quiet 2-core machine; longer in wall time (up to
``--max_minutes`` of training) on a loaded one.
Expected scores: see ``results/cpu_tier/results.md`` (measured, not typed).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import time

if __package__ in (None, ""):
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

# Optimisation settings of the tier (see the module docstring for the choice).
SETTINGS = {"learning_rate": 1e-3, "batch_size": 64, "seed": 0}
# (run folder, shipped config, objective overrides, table label)
MODELS = (
    ("beta_tcvae_beta6", "beta_tcvae", {"beta": 6.0}, "beta-TCVAE"),
    ("beta_vae_beta4", "beta_vae", {"beta": 4.0}, "beta-VAE"),
    ("vae_beta1", "beta_vae", {"beta": 1.0}, "VAE"),
    ("factor_vae_gamma40", "factor_vae", {"gamma": 40.0}, "FactorVAE"),
)
LANES = (("beta_tcvae_beta6", "vae_beta1"), ("factor_vae_gamma40", "beta_vae_beta4"))
# Evaluation sizes: the reference's except the votes of the BetaVAE and FactorVAE
# scores (reference: 10,000 training and 5,000 evaluation votes of 64 images each, ~1M
# encoded images per score, more than the hour allows on 2 cores), cut to 500 and
# 300 votes of the same 64 images (51,200 encoded images per score).
EVALUATION = {"interventional_sizes": {"num_train": 500, "num_eval": 300}}
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false"  # each lane is also pinned to a core


def entries(*, num_steps: int, chunk: int, settings: dict | None = None) -> list:
    """The tier's :class:`run_study.Entry` list (``num_steps`` is the final step target)."""
    from disentax import runs
    from experiments.studies.run_study import entry_from_config

    settings = {**SETTINGS, **(settings or {})}
    result = []
    for name, shipped, objective, label in MODELS:
        overrides = [f"--config.{k}={v}" for k, v in settings.items()]
        overrides += [f"--config.objective.{k}={v}" for k, v in objective.items()]
        overrides += [
            f"--config.num_steps={num_steps}",
            f"--config.log_every={min(chunk, 100)}",
            f"--config.checkpoint_every={chunk}",
            "--config.evaluate=False",
            "--config.keep_checkpoints=2",
        ]
        config = runs.load_config(shipped, overrides)
        (hyper,) = objective
        result.append(entry_from_config(config, name=name, label=label, hyperparameter=hyper))
    return result


def _log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def run_lane(
    lane: int,
    root: pathlib.Path,
    *,
    num_steps: int,
    chunk: int,
    cpu_minutes: float,
    deadline: float,
    settings: dict | None,
) -> None:
    """Trains one lane's models round robin until ``num_steps``, the lane's CPU budget or
    the wall-clock deadline, then evaluates them."""
    from disentax import runs
    from disentax.runs import NonFiniteLossError
    from experiments.studies import run_study

    names = LANES[lane]
    stopped: set[str] = set()
    lane_entries = [
        e for e in entries(num_steps=num_steps, chunk=chunk, settings=settings) if e.name in names
    ]
    # CPU seconds of earlier calls of this lane (a resumed tier keeps its budget)
    account = root / f"lane{lane}_cpu.json"
    earlier = json.loads(account.read_text())["cpu_s"] if account.is_file() else 0.0

    def used() -> float:
        return earlier + time.process_time()

    # The wall-clock deadline interrupts a chunk: the loop checkpoints the step reached.
    interrupted = threading.Event()

    def past_deadline(step: int) -> bool:
        if time.time() >= deadline:
            interrupted.set()
        return interrupted.is_set()

    target, round_cpu = 0, 0.0
    while target < num_steps and cpu_minutes > 0 and not interrupted.is_set():
        target = min(target + chunk, num_steps)
        cpu_left = 60 * cpu_minutes - used()
        if round_cpu > cpu_left:
            _log(
                f"lane {lane}: another round would pass the CPU budget ({cpu_left:.0f} CPU-s "
                "left); stopping"
            )
            break
        cpu0, wall0 = time.process_time(), time.time()
        for entry in lane_entries:
            if entry.name in stopped or interrupted.is_set():
                continue
            config = entry.config.copy_and_resolve_references()
            config.num_steps = target
            _log(f"lane {lane}: {entry.name} to step {target}")
            try:
                last = runs.train(config, root / entry.name, stop_fn=past_deadline)
            except NonFiniteLossError as err:
                # keep the last good checkpoint, train the lane's other models on
                _log(f"lane {lane}: {entry.name} stopped: {err}")
                stopped.add(entry.name)
                continue
            _log(
                f"lane {lane}: {entry.name} at step {last.get('step')} "
                f"({last.get('images_per_s', float('nan')):.0f} images/s)"
            )
        round_cpu = time.process_time() - cpu0
        account.write_text(json.dumps({"cpu_s": used(), "step": target}))
        _log(
            f"lane {lane}: round to step {target} took {round_cpu:.0f} CPU-s, "
            f"{time.time() - wall0:.0f} s wall; {used():.0f} CPU-s used in training"
        )
    if interrupted.is_set():
        _log(f"lane {lane}: wall-clock deadline reached; stopped training")
    try:
        run_study.evaluate_entries(lane_entries, root, log=_log, **EVALUATION)
    except (ImportError, AttributeError) as err:
        _log(f"lane {lane}: evaluation unavailable ({err}); run again with --evaluate_only")
    _log(f"lane {lane}: done, {time.process_time():.0f} CPU-s used")


def _sample_load(samples: list, every_s: float = 60.0) -> None:
    """Appends ``[utc time, 1-minute load average]`` every minute (daemon thread)."""
    while True:
        samples.append([time.strftime("%H:%M:%S", time.gmtime()), os.getloadavg()[0]])
        time.sleep(every_s)


def _launch_lanes(args, deadline: float) -> None:
    env = dict(os.environ, XLA_FLAGS=XLA_ONE_THREAD, PYTHONUNBUFFERED="1")
    env.setdefault("JAX_COMPILATION_CACHE_DIR", str(pathlib.Path(args.root) / "jax_cache"))
    cores = sorted(os.sched_getaffinity(0))
    procs = []
    for lane in range(len(LANES)):
        cmd = [
            sys.executable,
            str(pathlib.Path(__file__).resolve()),
            "--lane",
            str(lane),
            "--root",
            args.root,
            "--out",
            args.out,
            "--num_steps",
            str(args.num_steps),
            "--chunk",
            str(args.chunk),
            "--deadline",
            str(deadline),
            "--cpu_minutes",
            str(args.cpu_minutes),
        ]
        if args.learning_rate is not None:
            cmd += ["--learning_rate", str(args.learning_rate)]
        log = open(pathlib.Path(args.root) / f"lane{lane}.log", "a", encoding="utf-8")  # noqa: SIM115
        core = cores[lane % len(cores)]
        procs.append(
            (
                subprocess.Popen(
                    cmd,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=lambda c=core: os.sched_setaffinity(0, {c}),
                ),
                log,
            )
        )
        _log(
            f"lane {lane} ({', '.join(LANES[lane])}) started on core {core}, pid "
            f"{procs[-1][0].pid}, log {log.name}"
        )
    failed = []
    for lane, (proc, log) in enumerate(procs):
        if proc.wait() != 0:
            failed.append(lane)
        log.close()
    if failed:
        raise SystemExit(f"lanes {failed} failed; see {args.root}/lane*.log")


def finish(
    root: pathlib.Path,
    out: pathlib.Path,
    *,
    num_steps: int,
    chunk: int,
    settings: dict | None,
    info: dict,
) -> dict:
    """Writes the tables, the plot and the best model's traversal into ``out``."""
    from experiments.studies import tables

    study = entries(num_steps=num_steps, chunk=chunk, settings=settings)
    table = tables.collect(study, root)
    table["info"] = info
    tables.write_all(table, out, title="CPU tier: procedural dSprites, 2-core CPU")
    scored = [r for r in table["rows"] if "mig" in r["metrics"]]
    if scored:
        best = max(scored, key=lambda r: r["metrics"]["mig"])

        from disentax import runs

        _log(f"traversals of the best model by MIG: {best['name']}")
        written = runs.traverse(root / best["name"])
        source = pathlib.Path(
            written.get("traversal.png", root / best["name"] / "viz" / "traversal.png")
        )
        if source.is_file():
            shutil.copyfile(source, out / "traversal_best.png")
            table["info"]["traversal_best"] = best["name"]
            tables.write_all(table, out, title="CPU tier: procedural dSprites, 2-core CPU")
    from experiments.studies import readme_section

    (out / "README.md").write_text(readme_section.section(table), encoding="utf-8")
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="runs/cpu_tier", help="folder of the run folders")
    parser.add_argument("--out", default="results/cpu_tier", help="folder of the results")
    parser.add_argument(
        "--cpu_minutes",
        type=float,
        default=48.0,
        help="training budget of each lane in CPU minutes (= wall minutes on a quiet machine)",
    )
    parser.add_argument(
        "--max_minutes",
        type=float,
        default=100.0,
        help="wall-clock cap of the training phase (a loaded machine)",
    )
    parser.add_argument("--num_steps", type=int, default=12_000, help="step target per model")
    parser.add_argument("--chunk", type=int, default=500, help="steps per model per round")
    parser.add_argument("--learning_rate", type=float, default=None)
    parser.add_argument("--evaluate_only", action="store_true")
    parser.add_argument("--lane", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    settings = None if args.learning_rate is None else {"learning_rate": args.learning_rate}
    root, out = pathlib.Path(args.root), pathlib.Path(args.out)
    if args.lane is not None:
        run_lane(
            args.lane,
            root,
            num_steps=args.num_steps,
            chunk=args.chunk,
            cpu_minutes=args.cpu_minutes,
            deadline=args.deadline,
            settings=settings,
        )
        return 0
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    load_start = os.getloadavg()
    samples: list = []
    sampler = threading.Thread(target=_sample_load, args=(samples,), daemon=True)
    sampler.start()
    if args.evaluate_only:
        args.cpu_minutes = 0.0  # lanes evaluate only
    _launch_lanes(args, t0 + 60 * args.max_minutes)
    info = {
        "command": " ".join([pathlib.Path(sys.argv[0]).name, *sys.argv[1:]]),
        "wall_s": time.time() - t0,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
        "load_average_at_start": load_start,
        "load_average_at_end": os.getloadavg(),
        "cpu_count": os.cpu_count(),
        "settings": {**SETTINGS, **(settings or {})},
        "load_average_samples": samples,
        "lane_cpu_s": [json.loads(p.read_text()) for p in sorted(root.glob("lane*_cpu.json"))],
    }
    with open(root / "tier_calls.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(info) + "\n")
    calls = [json.loads(line) for line in (root / "tier_calls.jsonl").read_text().splitlines()]
    info = {**info, "calls": calls, "wall_s_all_calls": sum(c["wall_s"] for c in calls)}
    finish(root, out, num_steps=args.num_steps, chunk=args.chunk, settings=settings, info=info)
    _log(f"done in {info['wall_s'] / 60:.1f} min; results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
