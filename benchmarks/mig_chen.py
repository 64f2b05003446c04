"""The MIG of Chen et al.'s protocol on the whole dSprites grid: time, memory, accuracy.

``bench_mig_grid`` scores a synthetic Gaussian posterior over every point of the dSprites
factor grid (3 x 6 x 40 x 32 x 32 = 737,280 points, 10 latents) with

* ``metrics.mig_chen2018`` as the evaluation entry ``mig_chen2018`` calls it: the four
  factors Chen et al. score (scale, orientation, posX, posY), 10,000 samples per entropy
  (row ``metrics/mig_grid/chen2018``);
* ``metrics.mig_sampled`` at its defaults (1,000 samples, all five factors; row
  ``metrics/mig_grid/sampled``), the kernel that held ``[1000, 737280, 5]`` arrays
  before it was chunked.

The posterior: latent ``k < 5`` is ``N(v_k / (size_k - 1), 0.1^2)`` (factor ``k``
alone), latents 5-9 are ``N(0, 1)`` for every image. On the full grid the mutual
information of latent ``k`` and factor ``k`` is then the entropy of a mixture of
``size_k`` Gaussians minus that of one, every other one is 0, so the MIG has a
quadrature value (``quadrature``; ``abs_diff`` is the estimate's distance to it). Chen
et al.'s estimator sits below it by its own bias: where the marginal and a conditional
entropy come from different samples, the zero mutual informations are estimated as
noise clipped at 0, and the second largest of them is subtracted (about 0.017 at 1,000
samples on the quick grid; the noise shrinks as 1/sqrt(samples)).

Each row: compile time (``lower().compile()``), one timed call of the compiled program
(the full protocol takes minutes on a CPU), XLA's temporaries for the program
(``temp_mib``, from ``memory_analysis``), the inputs' size and the process's peak RSS
after the call (``peak_rss_mib``; the largest so far in this process). ``--quick``
(``DISENTAX_BENCH_QUICK=1``) uses the grid 3 x 6 x 10 x 8 x 8 and 1,000 samples.

Run alone: ``python -m benchmarks.mig_chen [--quick] [--kernel chen2018|sampled]`` (under
``/usr/bin/time -v`` for the process's peak RSS of one kernel).
"""

from __future__ import annotations

import argparse
import json
import resource
from typing import Any

import jax
import numpy as np

from benchmarks import harness

FACTOR_SIZES = (3, 6, 40, 32, 32)
QUICK_SIZES = (3, 6, 10, 8, 8)
NUM_LATENTS, SD = 10, 0.1
SCORED = (1, 2, 3, 4)  # Chen et al.'s dSprites factors: all but shape


def grid_posterior(sizes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mean, logvar [G, 10] float32, factors [G, 5] int32)`` over the whole grid."""
    factors = np.indices(sizes, dtype=np.int32).reshape(len(sizes), -1).T
    mean = np.zeros((factors.shape[0], NUM_LATENTS), np.float32)
    mean[:, : len(sizes)] = factors / (np.asarray(sizes) - 1.0)
    logvar = np.zeros_like(mean)
    logvar[:, : len(sizes)] = 2 * np.log(SD)
    return mean, logvar, factors


def _mixture_entropy(centres: np.ndarray, sd: float) -> float:
    x = np.linspace(centres.min() - 10 * sd, centres.max() + 10 * sd, 400_001)
    p = np.exp(-0.5 * ((x[:, None] - centres) / sd) ** 2).mean(1) / (sd * np.sqrt(2 * np.pi))
    return float(-np.trapezoid(p * np.log(np.maximum(p, 1e-300)), x))


def quadrature_mig(sizes) -> float:
    """The MIG of :func:`grid_posterior` over the factors ``sizes``, by quadrature."""
    gaussian = 0.5 * np.log(2 * np.pi * np.e * SD**2)
    gaps = [(_mixture_entropy(np.arange(s) / (s - 1.0), SD) - gaussian) / np.log(s) for s in sizes]
    return float(np.mean(gaps))


def _row(name, jitted, args, kwargs, *, quadrature, **common) -> dict[str, Any]:
    compiled, compile_s = harness.time_compile(jitted, *args, **kwargs)
    temp_mib = compiled.memory_analysis().temp_size_in_bytes / 2**20
    value = None

    def call():
        nonlocal value
        value = compiled(*args)
        return value

    timing = harness.measure(call, repeats=1, warmup=0, min_repeat_s=0.0)
    value = float(value)
    return harness.result(
        name,
        timing,
        compile_s=compile_s,
        value=value,
        quadrature=quadrature,
        abs_diff=abs(value - quadrature),
        temp_mib=temp_mib,
        inputs_mib=sum(np.asarray(a).nbytes for a in args[1:]) / 2**20,
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **common,
        **kwargs,
    )


def bench_mig_grid(
    ctx: harness.Context, kernels: tuple[str, ...] = ("chen2018", "sampled")
) -> list[dict[str, Any]]:
    from disentax.metrics.mig import _mig_sampled
    from disentax.metrics.mig_chen2018 import CHEN2018_NUM_SAMPLES, _mig_chen2018

    sizes = QUICK_SIZES if ctx.quick else FACTOR_SIZES
    mean, logvar, factors = grid_posterior(sizes)
    common = {"factor_sizes": list(sizes), "num_points": int(factors.shape[0])}
    chunks = {"samples_per_chunk": 256, "points_per_chunk": 2048}  # the kernels' defaults
    key = jax.random.key(0)
    rows = []
    if "chen2018" in kernels:
        rows.append(
            _row(
                "metrics/mig_grid/chen2018",
                _mig_chen2018,
                (key, mean, logvar, np.ascontiguousarray(factors[:, SCORED])),
                {"num_samples": 1000 if ctx.quick else CHEN2018_NUM_SAMPLES, **chunks},
                quadrature=quadrature_mig([sizes[k] for k in SCORED]),
                scored_factors=["scale", "orientation", "posX", "posY"],
                **common,
            )
        )
    if "sampled" in kernels:
        rows.append(
            _row(
                "metrics/mig_grid/sampled",
                _mig_sampled,
                (key, mean, logvar, factors),
                {"num_samples": 1000, **chunks},
                quadrature=quadrature_mig(sizes),
                scored_factors=["shape", "scale", "orientation", "posX", "posY"],
                **common,
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--kernel",
        choices=("chen2018", "sampled"),
        action="append",
        help="only this kernel (repeatable; default both): one process per kernel gives "
        "each its own peak RSS",
    )
    args = parser.parse_args()
    kernels = tuple(args.kernel or ("chen2018", "sampled"))
    rows = bench_mig_grid(harness.Context(quick=args.quick, repeats=1), kernels)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
