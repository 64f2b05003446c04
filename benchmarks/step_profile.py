"""Where the train step's time goes: a per-operation profile of the compiled step.

``bench_step_profile`` runs the library's β-VAE train step (the same program as
``compare/torch/b64``: batch 64, fixed batch, one thread) under ``jax.profiler`` for a
few steps, reads the per-thunk events of the XLA:CPU runtime from the Perfetto trace and
joins each event with its instruction in the compiled HLO. Rows:

* ``profile/train_step/beta_vae/b64/<kind>``: milliseconds per step spent in each kind of
  operation: ``convolution`` (XLA's convolution thunks), ``library_fusion`` (convolutions
  and matrix products fused into the CPU backend's library kernels, "ynn" fusions),
  ``dot`` (matrix products), ``loop_fusion`` (elementwise work and layout changes emitted by
  XLA: bias+ReLU passes, space-to-depth / depth-to-space, padding), ``concatenate``,
  ``copy`` and ``other``. Each row's ``share`` is its fraction of the profiled total.
* ``profile/train_step/beta_vae/b64/total`` with ``top_ops``: the slowest instructions with
  their HLO shape and kind.

The profile is of the operations alone (the trace's thunk events); the step's wall time
(``compare/torch/b64``) also has the dispatch. Profiling has its own overhead, so read the
shares, not the absolute sum.
"""

from __future__ import annotations

import collections
import gzip
import json
import pathlib
import re
import tempfile
from typing import Any

import jax

from benchmarks import harness
from benchmarks.train_steps import fixed_images, make_step

KINDS = (
    "convolution",
    "library_fusion",
    "dot",
    "loop_fusion",
    "concatenate",
    "copy",
    "other",
)


def classify(name: str, hlo: str) -> tuple[str, str]:
    """``(kind, shape)`` of the instruction ``name`` in the compiled module text ``hlo``."""
    match = re.search(r"%" + re.escape(name) + r" = (\S+) ([\w-]+)\(", hlo)
    if match is None:
        return "other", "?"
    shape, opcode = match.group(1), match.group(2)
    if opcode == "fusion":
        if "ynn" in name or "xnn" in name:
            return "library_fusion", shape
        return "loop_fusion", shape
    if opcode in ("convolution", "dot", "concatenate", "copy"):
        return opcode, shape
    return "other", shape


def thunk_times(trace_dir: pathlib.Path, steps: int) -> dict[str, float]:
    """Milliseconds per step of each thunk (by instruction name) in the Perfetto trace."""
    files = sorted(trace_dir.rglob("*.trace.json.gz"))
    if not files:
        raise harness.SkipBenchmark(f"jax.profiler wrote no Perfetto trace under {trace_dir}")
    with gzip.open(files[-1]) as handle:
        trace = json.load(handle)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    totals: dict[str, float] = collections.Counter()
    for event in events:
        name = event.get("name", "")
        # runtime spans that enclose the thunks (with inline execution the whole
        # executable's span is on the same thread as its operations) are not operations
        if event.get("ph") != "X" or name.startswith(
            ("Thunk", "$", "Pjit", "PjRt", "CommonPjRt", "TfrtCpu")
        ):
            continue
        totals[name] += event.get("dur", 0) / 1e3 / steps  # microseconds -> ms per step
    return dict(totals)


def _timing(seconds: float, steps: int) -> harness.Timing:
    """One profiled figure as a harness timing (the profile is one run of ``steps`` steps)."""
    return harness.Timing(
        median_s=seconds,
        min_s=seconds,
        max_s=seconds,
        repeats=1,
        number=steps,
        times_s=(seconds,),
    )


def bench_step_profile(ctx: harness.Context, *, steps: int = 10) -> list[dict[str, Any]]:
    if jax.default_backend() != "cpu":
        raise harness.SkipBenchmark("the thunk profile reads XLA:CPU's runtime events")
    step, state, parts = make_step("beta_vae", 64, sample_in_step=False)
    batch = jax.device_put(fixed_images(parts.dataset, 64))
    compiled = None
    for cell in step.fn.__closure__ or ():
        value = cell.cell_contents
        if isinstance(value, dict) and False in value:
            compiled = value[False].lower(state, batch).compile()
    if compiled is None:
        raise harness.SkipBenchmark("could not reach the jitted step to read its HLO")
    hlo = compiled.as_text()
    for _ in range(3):  # warm-up (compiles the step)
        state, metrics = step(state, batch)
    jax.block_until_ready(metrics)
    with tempfile.TemporaryDirectory() as tmp:
        jax.profiler.start_trace(tmp, create_perfetto_trace=True)
        for _ in range(steps):
            state, metrics = step(state, batch)
        jax.block_until_ready(metrics)
        jax.profiler.stop_trace()
        per_op = thunk_times(pathlib.Path(tmp), steps)
    by_kind: dict[str, float] = dict.fromkeys(KINDS, 0.0)
    detailed = []
    for name, ms in per_op.items():
        kind, shape = classify(name, hlo)
        by_kind[kind] += ms
        detailed.append((ms, name, kind, shape))
    total = sum(by_kind.values())
    rows = []
    for kind in KINDS:
        timing = _timing(by_kind[kind] / 1e3, steps)
        rows.append(
            harness.result(
                f"profile/train_step/beta_vae/b64/{kind}",
                timing,
                share=by_kind[kind] / total if total else None,
                note="ms per step in this kind of operation (thunk profile)",
            )
        )
    detailed.sort(reverse=True)
    top = [
        {"op": name, "kind": kind, "shape": shape, "ms_per_step": round(ms, 3)}
        for ms, name, kind, shape in detailed[:15]
    ]
    timing = _timing(total / 1e3, steps)
    rows.append(
        harness.result(
            "profile/train_step/beta_vae/b64/total",
            timing,
            images=64,
            top_ops=top,
            note="sum of the profiled operations per step",
        )
    )
    return rows
