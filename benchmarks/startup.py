"""Time to the first train step from process start, cold and with the persistent cache.

Each measurement is a fresh ``python -m disentax.cli train`` process (the default config,
one step, no evaluation, a new run folder) whose training loop reports the seconds from
process start (``/proc`` start time, so interpreter start-up and imports count) to the
end of its first, compiled, train step. "cold" runs have no compilation cache; "warm"
runs share a persistent compilation cache (``JAX_COMPILATION_CACHE_DIR``, every program
cached) filled by one untimed priming run. The child processes get the environment and
all the cores the benchmark process started with (none of its one-thread settings).

Rows: ``startup/first_step/cold`` and ``startup/first_step/warm`` (median/min/max over
the runs; ``compile_s`` is not separable here and left empty); targets 8 s and 3 s. Each
row also lists every run's process wall and CPU seconds and the 1-minute load average
before it: on the shared 2-core machine the step and initialisation compiles (about 4 and
3 CPU-s, on one core each) stretch with the load of other processes.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import resource
import subprocess
import sys
import time
from typing import Any

from benchmarks import harness

_MESSAGE = re.compile(r"first train step done ([0-9.]+) s after process start")
TARGETS_S = {"cold": 8.0, "warm": 3.0}


def _child_env(cache_dir: pathlib.Path | None) -> dict[str, str]:
    from benchmarks import run

    env = dict(os.environ)
    for name in list(env):
        if name.startswith(("JAX_COMPILATION_CACHE", "JAX_PERSISTENT_CACHE")):
            del env[name]
    if run.ORIGINAL_XLA_FLAGS is None:
        env.pop("XLA_FLAGS", None)
    else:
        env["XLA_FLAGS"] = run.ORIGINAL_XLA_FLAGS
    env.setdefault("JAX_PLATFORMS", "cpu")
    if cache_dir is not None:
        env["JAX_COMPILATION_CACHE_DIR"] = str(cache_dir)
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
        env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    return env


def _all_cores() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, range(os.cpu_count() or 1))


def first_step_seconds(
    workdir: pathlib.Path, cache_dir: pathlib.Path | None, *, config: str = "default"
) -> tuple[float, float, float]:
    """``(seconds from process start to the first step, the whole process's wall seconds,
    its CPU seconds)``."""
    cmd = [
        sys.executable,
        "-m",
        "disentax.cli",
        "train",
        "--config",
        config,
        "--config.num_steps=1",
        "--config.evaluate=False",
        "--workdir",
        str(workdir),
    ]
    start, children = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        cmd,
        env=_child_env(cache_dir),
        capture_output=True,
        text=True,
        preexec_fn=_all_cores,
        timeout=600,
        cwd=pathlib.Path(__file__).resolve().parent.parent,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    text = out.stdout + out.stderr
    if out.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed ({out.returncode}):\n{text[-2000:]}")
    metrics = workdir / "metrics.jsonl"
    if metrics.is_file():
        for line in metrics.read_text().splitlines():
            value = json.loads(line).get("time_to_first_step_s")
            if value is not None:
                return float(value), wall, cpu
    match = _MESSAGE.search(text)
    if match is None:
        raise RuntimeError(
            f"no time to first step in the output of `{' '.join(cmd)}`:\n{text[-2000:]}"
        )
    return float(match.group(1)), wall, cpu


def bench_first_step(ctx: harness.Context) -> list[dict[str, Any]]:
    runs = 1 if ctx.quick else 3
    base = ctx.workdir / "startup"
    cache = base / "compilation_cache"
    rows = []
    for mode in ("cold", "warm"):
        cache_dir = cache if mode == "warm" else None
        if mode == "warm":
            first_step_seconds(base / "prime", cache_dir)
        seconds, walls, cpus, loads = [], [], [], []
        for i in range(runs):
            loads.append(round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None)
            s, wall, cpu = first_step_seconds(base / f"{mode}{i}", cache_dir)
            seconds.append(s)
            walls.append(wall)
            cpus.append(cpu)
        timing = harness.Timing(
            sorted(seconds)[len(seconds) // 2], min(seconds), max(seconds), runs, 1, tuple(seconds)
        )
        rows.append(
            harness.result(
                f"startup/first_step/{mode}",
                timing,
                target_s=TARGETS_S[mode],
                process_wall_s=walls,
                process_cpu_s=cpus,
                load_average_1min_before=loads,
                meets_target=timing.median_s <= TARGETS_S[mode],
                note=f"target <= {TARGETS_S[mode]:g} s; seconds from process start",
            )
        )
    return rows
