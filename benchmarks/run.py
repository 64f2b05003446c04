"""``disentax bench``: the benchmark table and its runner.

``BENCHMARKS`` is the one plain dict from benchmark name to the function that runs it
(``fn(ctx) -> list of result rows``). A benchmark may return several rows; their names
start with the benchmark's name. ``main(name)`` runs the benchmark called ``name`` or,
when there is none, every benchmark whose name starts with ``name + "/"``, prints a
markdown table, and merges the rows into the JSON file given by ``out`` (rows are
replaced by name, so a partial run updates a full results file).

Thread settings. Unless the process has already initialised its XLA backend (as under
pytest), ``main`` sets one Eigen thread (``--xla_cpu_multi_thread_eigen=false``) before JAX
starts, and ``torch.set_num_threads(1)``;
``DISENTAX_BENCH_THREADS=all`` keeps the defaults instead. Only the mesh benchmarks
(``MESH_DEVICES``) get 8 host devices, in a child process of their own when other
benchmarks are selected too: measured here, forcing 8 host devices made XLA:CPU's
convolution and matrix-product kernels of a ONE-device train step ~25% slower (122 vs
96 ms per reference step), so the other rows run with the device count ``disentax train``
has. Because XLA's matmuls use every core regardless of those flags, the
process is also pinned to one core (all its threads; ``DISENTAX_BENCH_CPU`` picks it);
the JSON records the affinity it ran with.
``DISENTAX_BENCH_QUICK=1`` shrinks every benchmark to smoke-test size.
"""

from __future__ import annotations

import os
import pathlib
import sys
import tempfile
import traceback
from collections.abc import Callable
from typing import Any

from benchmarks import harness

# Not the folklore "... intra_op_parallelism_threads=1": that bare word is no XLA flag and
# XLA stops reading XLA_FLAGS at it, so every flag after it was silently ignored (measured
# here: a step used the same 1.7 cores with or without it; the core pin is what holds it
# to one).
ONE_THREAD_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false"
HOST_DEVICES = 8
# benchmarks that need more than one host device, and how many
MESH_DEVICES = {
    "train_step/beta_vae/b256/mesh8": HOST_DEVICES,
    "study/group/beta_vae/b64/S8": HOST_DEVICES,
}

# XLA_FLAGS as the process started, before configure_threads (child processes get it).
ORIGINAL_XLA_FLAGS = os.environ.get("XLA_FLAGS")

BenchFn = Callable[[harness.Context], list[dict[str, Any]]]


def _lazy(module: str, function: str, **kwargs: Any) -> BenchFn:
    """A benchmark function imported only when it runs (torch/sklearn stay optional)."""

    def run(ctx: harness.Context) -> list[dict[str, Any]]:
        import importlib

        return getattr(importlib.import_module(f"benchmarks.{module}"), function)(ctx, **kwargs)

    run.__name__ = f"{module}.{function}"
    return run


# One train-step benchmark per shipped objective config (disentax/configs/<objective>.py,
# one per entry of disentax.losses.OBJECTIVES), read from the folder: importing
# disentax.losses here would start JAX before the thread flags are set.
OBJECTIVE_NAMES = tuple(
    sorted(
        p.stem
        for p in (pathlib.Path(__file__).resolve().parent.parent / "disentax" / "configs").glob(
            "*.py"
        )
        if not p.stem.startswith("_") and p.stem != "default"
    )
)

BENCHMARKS: dict[str, BenchFn] = {
    "peak/matmul": _lazy("peak", "bench_peak"),
    "layers/conv_vae": _lazy("layers", "bench_layers"),
    "layers/conv_vae_bf16": _lazy("layers", "bench_layers", dtype="bfloat16"),
    "compare/torch/b64": _lazy("train_steps", "bench_torch_paired", batch_size=64),
    "profile/train_step/beta_vae/b64": _lazy("step_profile", "bench_step_profile"),
    **{
        f"train_step/{objective}/b{batch}": _lazy(
            "train_steps", "bench_train_step", objective=objective, batch_size=batch
        )
        for objective in OBJECTIVE_NAMES
        for batch in (64, 256)
    },
    "train_step/beta_vae/b64/bfloat16": _lazy(
        "train_steps", "bench_train_step", objective="beta_vae", batch_size=64, dtype="bfloat16"
    ),
    "train_step/beta_vae/b256/mesh8": _lazy(
        "train_steps", "bench_train_step", objective="beta_vae", batch_size=256, mesh=8
    ),
    "train_step/beta_vae/b64/sweep8": _lazy(
        "train_steps", "bench_sweep", objective="beta_vae", batch_size=64, num_models=8
    ),
    "study/group/beta_vae/b64/S8": _lazy(
        "train_steps", "bench_sharded_group", objective="beta_vae", batch_size=64, num_models=8
    ),
    "study/evaluate/dsprites/S4": _lazy(
        "group_evaluation", "bench_group_evaluation", dataset="dsprites", num_models=4
    ),
    "startup/first_step": _lazy("startup", "bench_first_step"),
    "host/allocator": _lazy("host_allocator", "bench_host_allocator"),
    "metrics/suite": _lazy("metrics_suite", "bench_suite"),
    "metrics/scaling": _lazy("metrics_suite", "bench_scaling"),
    "metrics/dci": _lazy("metrics_scores", "bench_dci"),
    "metrics/interventional": _lazy("metrics_scores", "bench_interventional"),
    "metrics/mig_grid": _lazy("mig_chen", "bench_mig_grid"),
    "data/render": _lazy("data_render", "bench_render"),
}


def select(name: str | None) -> list[str]:
    """The benchmark called ``name``, else those below it (``name/...``); all for ``None``."""
    if name is None or name in ("", "all"):
        return list(BENCHMARKS)
    prefix = name.rstrip("/")
    if prefix in BENCHMARKS:
        return [prefix]
    chosen = [n for n in BENCHMARKS if n.startswith(prefix + "/")]
    if not chosen:
        raise ValueError(
            f"no benchmark named {name!r} or below it; `disentax bench --list` shows the "
            f"{len(BENCHMARKS)} names"
        )
    return chosen


def _pin_process(core: int) -> None:
    """Pins every thread of this process (and so every later thread) to one core."""
    for task in pathlib.Path("/proc/self/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), {core})
        except OSError:  # a thread that ended meanwhile
            pass
    os.sched_setaffinity(0, {core})


def configure_threads(host_devices: int = 1) -> str:
    """Sets one thread per framework before JAX starts; returns what was done.

    XLA:CPU's matmuls ignore ``--xla_cpu_multi_thread_eigen=false`` (measured here: a
    1024^2 product used 1.8 cores with it), so the process is also pinned to one core
    (``DISENTAX_BENCH_CPU``, default: the last core it may use); threads created later
    inherit the pin. ``DISENTAX_BENCH_THREADS=all`` keeps the framework defaults.
    """
    if os.environ.get("DISENTAX_BENCH_THREADS", "one") == "all":
        return "framework defaults (DISENTAX_BENCH_THREADS=all)"
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():
        return "XLA backend already initialised: its thread settings were kept"
    flags = os.environ.get("XLA_FLAGS", "")
    if host_devices > 1 and "xla_force_host_platform_device_count" not in flags:
        # first: XLA stops reading XLA_FLAGS at a bare word a user's flags may hold
        flags = f"--xla_force_host_platform_device_count={host_devices} {flags}"
    if "xla_cpu_multi_thread_eigen" not in flags:
        flags = f"{ONE_THREAD_XLA_FLAGS} {flags}"
    os.environ["XLA_FLAGS"] = flags.strip()
    note = "one thread per framework"
    if host_devices > 1:
        note += f", {host_devices} host devices"
    if hasattr(os, "sched_setaffinity"):
        core = int(os.environ.get("DISENTAX_BENCH_CPU", max(os.sched_getaffinity(0))))
        _pin_process(core)
        note += f", process pinned to core {core}"
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    return note


def main(
    name: str | None = None,
    out: str | None = None,
    workdir: str | None = None,
    list_only: bool = False,
    host_devices: int | None = None,
) -> int:
    """Runs the selected benchmarks, prints a table, merges the rows into ``out``.

    Args:
      name: a benchmark name or a prefix of names (``None``: all).
      out: a JSON file to merge the results into (``None``: print only).
      workdir: a folder for scratch files (``None``: a temporary folder).
      list_only: print the names and return.
      host_devices: XLA host devices of this process; ``None`` gives the mesh benchmarks
        (``MESH_DEVICES``) theirs, in a child process when others run here too.

    Returns:
      The exit status: 0 when every selected benchmark ran or was skipped with a
      reason, 1 when one raised.
    """
    names = select(name)
    if list_only:
        for n in names:
            print(n)
        return 0
    from disentax._allocator import configure_host_allocator

    allocator_note = configure_host_allocator()  # as `disentax train` runs (idempotent)
    children: list[str] = []
    if host_devices is None:
        meshed = [n for n in names if n in MESH_DEVICES]
        if len(meshed) == len(names):
            host_devices = max(MESH_DEVICES[n] for n in meshed)
        else:
            names = [n for n in names if n not in MESH_DEVICES]
            children, host_devices = meshed, 1
    thread_note = configure_threads(host_devices)
    quick = os.environ.get("DISENTAX_BENCH_QUICK", "") not in ("", "0")
    with tempfile.TemporaryDirectory(prefix="disentax-bench-") as tmp:
        ctx = harness.Context(
            quick=quick,
            workdir=pathlib.Path(workdir or tmp),
            repeats=3 if quick else 7,
        )
        ctx.workdir.mkdir(parents=True, exist_ok=True)
        results: list[dict[str, Any]] = []
        skipped: list[dict[str, Any]] = []
        failed = 0
        for n in names:
            print(f"[bench] {n} ...", file=sys.stderr, flush=True)
            try:
                rows = BENCHMARKS[n](ctx)
            except harness.SkipBenchmark as skip:
                skipped.append({"name": n, "reason": str(skip)})
                print(f"[bench] {n} skipped: {skip}", file=sys.stderr, flush=True)
                continue
            except Exception:  # noqa: BLE001 - one failing benchmark must not stop the rest
                failed += 1
                skipped.append({"name": n, "reason": "error: " + traceback.format_exc(limit=3)})
                traceback.print_exc()
                continue
            results.extend(rows)
    run = {
        "created": harness.now(),
        "command": " ".join(sys.argv),
        "selection": name,
        "benchmarks": names,
        "known_benchmarks": list(BENCHMARKS),
        "quick": quick,
        "thread_setting": thread_note,
        "host_allocator": allocator_note,
        "environment": harness.environment(),
        "peak_flops": ctx._peak["peak_flops"] if ctx._peak else None,
        "peak_flops_cpu": ctx._peak["peak_flops_cpu"] if ctx._peak else None,
        "results": results,
        "skipped": skipped,
    }
    print(harness.format_table(results))
    for s in skipped:
        print(f"skipped {s['name']}: {s['reason'].splitlines()[0]}")
    if out is not None:
        harness.merge_results(pathlib.Path(out), run)
        print(f"wrote {out}")
    for n in children:
        failed += _run_in_child(n, MESH_DEVICES[n], out, workdir) != 0
    return 1 if failed else 0


def _run_in_child(name: str, host_devices: int, out: str | None, workdir: str | None) -> int:
    """Runs one benchmark in a fresh process with ``host_devices`` XLA host devices; it
    prints its own table and merges its own run record (with its environment) into
    ``out``. Returns its exit status."""
    import subprocess

    env = dict(os.environ)
    if ORIGINAL_XLA_FLAGS is None:
        env.pop("XLA_FLAGS", None)
    else:
        env["XLA_FLAGS"] = ORIGINAL_XLA_FLAGS
    code = (
        "import sys; from benchmarks import run; "
        "sys.exit(run.main(name=sys.argv[1], out=sys.argv[2] or None, "
        "workdir=sys.argv[3] or None, host_devices=int(sys.argv[4])))"
    )
    print(f"[bench] {name}: in a child process with {host_devices} host devices", file=sys.stderr)
    args = [name, out or "", workdir or "", str(host_devices)]
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=with_checkout_on_path(env), check=False
    ).returncode


def with_checkout_on_path(env: dict[str, str]) -> dict[str, str]:
    """``env`` with this checkout first on ``PYTHONPATH``, so that a child ``python``
    imports ``benchmarks`` (and the checkout's ``disentax``) from here."""
    root = pathlib.Path(__file__).resolve().parent.parent
    return {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))}


def run_perf_tests(pytest_args: list[str] | None = None) -> int:
    """Runs the tests behind the ``perf`` marker (timings, OS counters) and returns
    pytest's exit status. The default ``pytest`` run leaves them out (``-m 'not perf'``
    in pyproject.toml); this is the same as ``pytest -m perf`` from the checkout."""
    import subprocess

    root = pathlib.Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "pytest", "-m", "perf", *(pytest_args or [])]
    return subprocess.run(command, cwd=root, check=False).returncode


if __name__ == "__main__":
    # `python -m benchmarks.run --perf-tests [pytest args]`; benchmarks: `disentax bench`.
    if sys.argv[1:2] != ["--perf-tests"]:
        sys.exit("usage: python -m benchmarks.run --perf-tests [pytest args]")
    sys.exit(run_perf_tests(sys.argv[2:]))
