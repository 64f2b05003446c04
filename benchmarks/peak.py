"""The measured float32 matmul rate: the hardware limit the train steps are compared to.

The peak is the best median rate of square float32 matrix products (``2 n^3`` FLOP each)
over a few sizes, measured with XLA (``jnp.dot``) and, when it is installed, with PyTorch
(``torch.mm``), each with the thread settings of the process (the benchmark run sets one
thread per framework). It is a measured number, not a datasheet figure, so "% of peak"
reads as "fraction of what a well-blocked GEMM achieves on this core".
"""

from __future__ import annotations

from typing import Any

from benchmarks import harness

SIZES = (256, 512, 1024)
QUICK_SIZES = (128,)


def _xla_matmul(n: int, repeats: int) -> harness.Timing:
    import jax
    import jax.numpy as jnp

    ka, kb = jax.random.split(jax.random.key(0))
    a = jax.random.normal(ka, (n, n), jnp.float32)
    b = jax.random.normal(kb, (n, n), jnp.float32)
    dot = jax.jit(lambda x, y: jnp.dot(x, y, precision="highest"))
    return harness.measure(lambda: dot(a, b), repeats=repeats, min_repeat_s=0.1)


def _torch_matmul(n: int, repeats: int) -> harness.Timing | None:
    try:
        import torch
    except ImportError:
        return None
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen, dtype=torch.float32)
    b = torch.randn(n, n, generator=gen, dtype=torch.float32)
    with torch.no_grad():
        return harness.measure(lambda: torch.mm(a, b), repeats=repeats, min_repeat_s=0.1)


def measure_peak(*, quick: bool = False, repeats: int = 7) -> dict[str, Any]:
    """Measures float32 matmul FLOP/s for XLA and PyTorch and returns the best.

    Returns:
      ``{"peak_flops": float, "peak_flops_cpu": float, "rows": [result rows]}`` (the
      best rate in wall time and in process CPU time); each row is named
      ``peak/matmul/<framework>/n<size>`` and carries ``gflops_per_s``.
    """
    rows = []
    best = best_cpu = 0.0
    import jax

    sizes = QUICK_SIZES if quick else SIZES
    if jax.default_backend() != "cpu" and not quick:
        sizes = (*SIZES, 4096, 8192)  # accelerators need large products to reach their peak
    for n in sizes:
        flops = 2.0 * n**3
        for framework, timer in (("xla", _xla_matmul), ("torch", _torch_matmul)):
            timing = timer(n, 3 if quick else repeats)
            if timing is None:
                continue
            rows.append(
                harness.result(f"peak/matmul/{framework}/n{n}", timing, flops=flops, size=n)
            )
            best = max(best, flops / timing.median_s)
            best_cpu = max(best_cpu, flops / timing.cpu_median_s)
    for row in rows:
        row["percent_of_peak"] = 100.0 * row["gflops_per_s"] * 1e9 / best
    return {"peak_flops": best, "peak_flops_cpu": best_cpu, "rows": rows}


def bench_peak(ctx: harness.Context) -> list[dict[str, Any]]:
    """Benchmark entry: the matmul rows plus one summary row ``peak/matmul``."""
    info = ctx.peak()
    rows = list(info["rows"])
    best = max(rows, key=lambda r: r["gflops_per_s"])
    rows.append(
        {
            **best,
            "name": "peak/matmul",
            "peak_gflops": info["peak_flops"] / 1e9,
            "peak_gflops_cpu": info["peak_flops_cpu"] / 1e9,
            "note": f"best of {len(info['rows'])}: {best['name']}",
        }
    )
    return rows
