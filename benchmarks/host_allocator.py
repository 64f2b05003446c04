"""``host/allocator``: the reference train step under each host-allocator mode.

The modes of :func:`disentax._allocator.configure_host_allocator` are process-wide and must be
set before JAX runs, so each measurement is a fresh child process (the benchmark process's
core and one-thread XLA flags are inherited) that sets one mode, builds the library's β-VAE
step at batch 64 on a fixed batch (as ``compare/torch/b64``), warms it up and times
``steps`` steps. The modes are run in turn for ``rounds`` rounds, so drifts of a shared
machine hit them alike.

Rows ``host/allocator/<mode>`` (``system``, ``retain``, ``huge_pages``, ``one_arena``):
median, min and max of the step times of all rounds; ``ratio_vs_system``, the median over
rounds of the system-mode median divided by this mode's (above 1: faster);
``minor_faults_per_step`` (page faults per timed step); ``peak_rss_mb`` (the largest
``VmHWM`` over the rounds, the memory the mode costs) and the mode's own ``note``. This
one-thread step allocates on the calling thread only, so ``huge_pages`` and ``one_arena``
should tie here; the module docstring of :mod:`disentax._allocator` gives the two-core
measurements that tell them apart.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from typing import Any

from benchmarks import conv_forms, harness

MODES = ("system", "retain", "huge_pages", "one_arena")

_CHILD = """
import json, resource, sys, time
from disentax._allocator import configure_host_allocator
note = configure_host_allocator(sys.argv[1])
import jax
from benchmarks.train_steps import fixed_images, make_step
step, state, parts = make_step("beta_vae", 64, sample_in_step=False)
batch = jax.device_put(fixed_images(parts.dataset, 64))
for _ in range(3):
    state, metrics = step(state, batch)
jax.block_until_ready(metrics)
times = []
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    state, metrics = step(state, batch)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - start)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
hwm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")]
print(json.dumps({"note": note, "times_s": times, "faults": faults / len(times),
                  "peak_rss_kb": hwm[0] if hwm else None}))
"""


def _run_child(mode: str, steps: int) -> dict[str, Any]:
    from benchmarks import run

    env = run.with_checkout_on_path(dict(os.environ))
    env.pop("DISENTAX_HOST_ALLOCATOR", None)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(steps)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"host/allocator child ({mode}) failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_host_allocator(ctx: harness.Context) -> list[dict[str, Any]]:
    if not sys.platform.startswith("linux"):
        raise harness.SkipBenchmark("the allocator modes are glibc's (Linux)")
    rounds, steps = (1, 3) if ctx.quick else (3, 15)
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    for _ in range(rounds):
        for mode in MODES:
            runs[mode].append(_run_child(mode, steps))
    flops = 64 * conv_forms.train_flops_per_image()
    rows = []
    for mode in MODES:
        times = [t for run in runs[mode] for t in run["times_s"]]
        timing = harness.Timing(
            median_s=statistics.median(times),
            min_s=min(times),
            max_s=max(times),
            repeats=len(times),
            number=1,
            times_s=tuple(times),
        )
        ratio = statistics.median(
            statistics.median(s["times_s"]) / statistics.median(m["times_s"])
            for s, m in zip(runs["system"], runs[mode], strict=True)
        )
        peaks = [run["peak_rss_kb"] for run in runs[mode] if run["peak_rss_kb"]]
        rows.append(
            harness.result(
                f"host/allocator/{mode}",
                timing,
                images=64,
                flops=flops,
                **ctx.peaks(),
                ratio_vs_system=ratio,
                minor_faults_per_step=statistics.median(run["faults"] for run in runs[mode]),
                peak_rss_mb=max(peaks) / 1024 if peaks else None,
                note=runs[mode][0]["note"],
                rounds=rounds,
            )
        )
    return rows
