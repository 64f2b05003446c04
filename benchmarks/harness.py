"""The timing harness: repeats, compile time, environment record, JSON and table output.

Conventions every benchmark follows:

- warm-up calls (at least one, which also triggers compilation) are excluded;
- compile time is measured separately (``lower(...).compile()`` of the jitted function,
  or the first call minus a steady-state call where no lowering is exposed);
- each timed call ends with ``jax.block_until_ready`` on its outputs (PyTorch on the CPU
  is synchronous);
- a repeat times ``number`` back-to-back calls (calibrated so one repeat lasts at least
  ``min_repeat_s``) and reports the time per call; the result holds the median, minimum
  and maximum over ``repeats`` repeats;
- all inputs come from fixed seeds.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "Context",
    "SkipBenchmark",
    "Timing",
    "environment",
    "format_table",
    "measure",
    "merge_results",
    "result",
    "time_compile",
]


class SkipBenchmark(Exception):
    """Raised by a benchmark that cannot run here (a module not written yet, no torch)."""


@dataclasses.dataclass(frozen=True)
class Timing:
    """Seconds per call over the repeats of one measurement."""

    median_s: float
    min_s: float
    max_s: float
    repeats: int
    number: int
    times_s: tuple[float, ...]
    cpu_times_s: tuple[float, ...] = ()

    @property
    def cpu_median_s(self) -> float | None:
        """Median process CPU seconds per call (all threads): on a pinned, one-core run
        under contention this is close to the wall time the call takes on an idle core."""
        return statistics.median(self.cpu_times_s) if self.cpu_times_s else None


def _block(value: Any) -> Any:
    if "jax" in sys.modules:
        import jax

        return jax.block_until_ready(value)
    return value


def measure(
    fn: Callable[[], Any],
    *,
    repeats: int = 7,
    warmup: int = 1,
    number: int | None = None,
    min_repeat_s: float = 0.05,
) -> Timing:
    """Times ``fn()`` (no arguments) and returns seconds per call.

    Args:
      fn: the call to time; its return value is blocked on (``jax.block_until_ready``).
      repeats: how many repeats to keep (median, min and max are taken over them).
      warmup: untimed calls before the first repeat (compilation happens here); 0 for
        host code that compiles nothing and is too slow to run twice.
      number: calls per repeat; ``None`` calibrates it so that a repeat lasts at least
        ``min_repeat_s``.
      min_repeat_s: the calibration target.

    Returns:
      A :class:`Timing` with seconds per call.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    probe = min_repeat_s  # without warm-up (nothing to compile): one call per repeat
    for _ in range(warmup):
        start = time.perf_counter()
        _block(fn())
        probe = time.perf_counter() - start
    if number is None:
        number = max(1, math.ceil(min_repeat_s / max(probe, 1e-9)))
    times, cpu_times = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        out = None
        for _ in range(number):
            out = fn()
        _block(out)
        times.append((time.perf_counter() - start) / number)
        cpu_times.append((time.process_time() - cpu_start) / number)
    return Timing(
        median_s=statistics.median(times),
        min_s=min(times),
        max_s=max(times),
        repeats=repeats,
        number=number,
        times_s=tuple(times),
        cpu_times_s=tuple(cpu_times),
    )


def measure_interleaved(
    fns: dict[str, Callable[[], Any]],
    *,
    repeats: int = 7,
    warmup: int = 1,
    min_repeat_s: float = 0.05,
) -> dict[str, tuple[Timing, dict[str, float]]]:
    """Times several variants interleaved and returns paired ratios.

    Repeat ``r`` of every variant runs before repeat ``r + 1`` of any, so slow drifts of
    a shared machine hit all variants alike. Each variant's ``number`` (calls per repeat)
    is calibrated on its own.

    Returns:
      ``{name: (timing, ratios)}`` where ``ratios[other]`` is the median over repeats of
      ``t_other / t_name`` (above 1: ``name`` is faster than ``other``) and
      ``ratios["cpu:" + other]`` the same ratio of process CPU times, which a loaded
      machine distorts far less than wall time.
    """
    numbers = {}
    for name, fn in fns.items():
        probe = 0.0
        for _ in range(warmup):
            start = time.perf_counter()
            _block(fn())
            probe = time.perf_counter() - start
        numbers[name] = max(1, math.ceil(min_repeat_s / max(probe, 1e-9)))
    times: dict[str, list[float]] = {name: [] for name in fns}
    cpu_times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start, cpu_start = time.perf_counter(), time.process_time()
            out = None
            for _ in range(numbers[name]):
                out = fn()
            _block(out)
            times[name].append((time.perf_counter() - start) / numbers[name])
            cpu_times[name].append((time.process_time() - cpu_start) / numbers[name])
    report = {}
    for name, ts in times.items():
        timing = Timing(
            statistics.median(ts),
            min(ts),
            max(ts),
            repeats,
            numbers[name],
            tuple(ts),
            tuple(cpu_times[name]),
        )
        ratios = {
            other: statistics.median(o / t for o, t in zip(times[other], ts, strict=True))
            for other in fns
            if other != name
        }
        cpu = cpu_times[name]
        ratios.update(
            {
                f"cpu:{other}": statistics.median(
                    o / max(t, 1e-12) for o, t in zip(cpu_times[other], cpu, strict=True)
                )
                for other in fns
                if other != name
            }
        )
        report[name] = (timing, ratios)
    return report


def time_compile(jitted: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """Lowers and compiles a ``jax.jit`` function for these arguments.

    Returns:
      ``(compiled, seconds)``: the compiled executable (callable with the same arguments)
      and the wall time of tracing, lowering and compiling.
    """
    start = time.perf_counter()
    compiled = jitted.lower(*args, **kwargs).compile()
    return compiled, time.perf_counter() - start


def result(
    name: str,
    timing: Timing,
    *,
    compile_s: float | None = None,
    images: int | None = None,
    flops: float | None = None,
    peak_flops: float | None = None,
    peak_flops_cpu: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One JSON result row.

    Args:
      name: the result's name (slash-separated, e.g. ``train_step/beta_vae/b64``).
      timing: the measurement.
      compile_s: compile time in seconds, if it applies.
      images: images processed per call; gives ``images_per_s``.
      flops: floating-point operations per call; gives ``gflops_per_s`` and, with
        ``peak_flops``, ``percent_of_peak``.
      peak_flops: the measured peak (FLOP/s) to compare against.
      peak_flops_cpu: the peak measured in CPU time; gives ``percent_of_peak_cpu``, the
        same fraction with both sides in CPU time (robust to a loaded machine).
      **extra: more JSON-serialisable fields.
    """
    row: dict[str, Any] = {
        "name": name,
        "median_s": timing.median_s,
        "min_s": timing.min_s,
        "max_s": timing.max_s,
        "compile_s": compile_s,
        "repeats": timing.repeats,
        "number": timing.number,
        "cpu_median_s": timing.cpu_median_s,
    }
    if images is not None:
        row["images_per_s"] = images / timing.median_s
        if timing.cpu_median_s:
            row["images_per_cpu_s"] = images / timing.cpu_median_s
    if flops is not None:
        row["gflops_per_s"] = flops / timing.median_s / 1e9
        if peak_flops:
            row["percent_of_peak"] = 100.0 * flops / timing.median_s / peak_flops
        if peak_flops_cpu and timing.cpu_median_s:
            row["percent_of_peak_cpu"] = 100.0 * flops / timing.cpu_median_s / peak_flops_cpu
    row.update(extra)
    return row


def _version(module: str) -> str | None:
    try:
        from importlib import metadata

        return metadata.version(module)
    except Exception:  # noqa: BLE001 - a missing package is recorded as None
        return None


def _cpu_model() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    root = pathlib.Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _git_dirty() -> list[str] | None:
    """Files of the package or the benchmarks that differ from the recorded commit."""
    root = pathlib.Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--", "disentax", "benchmarks", "experiments"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return [line[3:] for line in out.stdout.splitlines()]


def environment() -> dict[str, Any]:
    """Device kind, core counts, thread settings and library versions of this process."""
    import jax

    devices = jax.devices()
    threads: dict[str, Any] = {
        name: os.environ.get(name)
        for name in ("XLA_FLAGS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    }
    if "torch" in sys.modules:
        threads["torch_num_threads"] = sys.modules["torch"].get_num_threads()
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "platform": devices[0].platform,
        "device_kind": devices[0].device_kind,
        "device_count": len(devices),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "threads": threads,
        "versions": {
            "python": platform.python_version(),
            **{
                m: _version(m)
                for m in (
                    "jax",
                    "jaxlib",
                    "flax",
                    "optax",
                    "numpy",
                    "scipy",
                    "scikit-learn",
                    "torch",
                    "disentax",
                )
            },
        },
        "git_commit": _git_commit(),
        "git_dirty": _git_dirty(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


@dataclasses.dataclass
class Context:
    """What a benchmark gets: its options and shared, lazily measured facts.

    Attributes:
      quick: run tiny sizes and few repeats (smoke tests).
      workdir: a folder for scratch files.
      repeats: repeats per measurement.
    """

    quick: bool = False
    workdir: pathlib.Path = dataclasses.field(default_factory=lambda: pathlib.Path("."))
    repeats: int = 7
    _peak: dict[str, Any] | None = None

    def peak(self) -> dict[str, Any]:
        """The measured one-thread float32 matmul peak (cached for the process)."""
        if self._peak is None:
            from benchmarks import peak

            self._peak = peak.measure_peak(quick=self.quick, repeats=self.repeats)
        return self._peak

    def peak_flops(self) -> float:
        return self.peak()["peak_flops"]

    def peak_flops_cpu(self) -> float:
        return self.peak()["peak_flops_cpu"]

    def peaks(self) -> dict[str, float]:
        """``peak_flops`` and ``peak_flops_cpu`` keyword arguments of :func:`result`."""
        return {"peak_flops": self.peak_flops(), "peak_flops_cpu": self.peak_flops_cpu()}


def merge_results(path: pathlib.Path, run: dict[str, Any]) -> dict[str, Any]:
    """Merges a run into the JSON file at ``path`` (results replaced by name).

    The file holds ``runs`` (one entry per invocation: time, command, environment, the
    names it measured) and ``results`` (the latest row for each name, each pointing at
    its run by ``run``).
    """
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(path.suffix + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent benchmark processes merge in turn
        return _merge_locked(path, run)


def _merge_locked(path: pathlib.Path, run: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"schema": 1, "runs": [], "results": [], "skipped": []}
    if path.is_file():
        loaded = json.loads(path.read_text())
        if isinstance(loaded, dict) and loaded.get("schema") == 1:
            doc = loaded
    index = len(doc["runs"])
    new_names = {r["name"] for r in run["results"]} | {s["name"] for s in run["skipped"]}
    # rows a re-run benchmark no longer produces (a variant removed) go too
    known, rerun = run.get("known_benchmarks", ()), set(run.get("benchmarks", ()))

    def owner(row_name: str) -> str | None:
        owners = [b for b in known if row_name == b or row_name.startswith(b + "/")]
        return max(owners, key=len) if owners else None

    new_names |= {r["name"] for r in doc["results"] if owner(r["name"]) in rerun}
    doc["runs"].append(
        {k: v for k, v in run.items() if k not in ("results", "skipped", "known_benchmarks")}
    )
    doc["runs"][-1]["names"] = sorted(new_names)
    doc["results"] = [r for r in doc["results"] if r["name"] not in new_names]
    doc["results"] += [{**r, "run": index} for r in run["results"]]
    doc["results"].sort(key=lambda r: r["name"])
    # a re-run benchmark's earlier skip or error record goes too
    doc["skipped"] = [
        s for s in doc.get("skipped", []) if s["name"] not in new_names and s["name"] not in rerun
    ]
    doc["skipped"] += [{**s, "run": index} for s in run["skipped"]]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    return doc


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0 or 1e-3 <= abs(value) < 1e5:
            return f"{value:.{digits}g}"
        return f"{value:.3e}"
    return str(value)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A markdown table of results: name, median/min/max ms, compile s, images/s, extras."""
    head = [
        "name",
        "median ms",
        "min ms",
        "max ms",
        "cpu ms",
        "compile s",
        "images/s",
        "% peak",
        "note",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        note = r.get("note", "")
        for key in (
            "ratio",
            "ratio_cpu",
            "ratio_vs_torch",
            "ratio_vs_torch_cpu",
            "ratio_vs_oracle",
        ):
            if r.get(key) is not None:
                note = f"{key} {r[key]:.3g} " + note
        cells = [
            r["name"],
            _fmt(r["median_s"] * 1e3),
            _fmt(r["min_s"] * 1e3),
            _fmt(r["max_s"] * 1e3),
            _fmt(r["cpu_median_s"] * 1e3 if r.get("cpu_median_s") else None),
            _fmt(r.get("compile_s"), 3),
            _fmt(r.get("images_per_s"), 4),
            _fmt(r.get("percent_of_peak"), 3),
            note,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
