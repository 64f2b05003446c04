"""DCI with the JAX trees vs scikit-learn, and the interventional scores, at reference sizes.

``bench_dci``: DCI-gbt (``precision="int8"`` and ``"float32"``) at the reference sizes of
the metrics issue (10,000 train / 5,000 test points, 10 codes, 5 factors of sizes
3, 6, 40, 32, 32) on codes shaped like a trained VAE's (five codes that are noisy,
partly mixed, non-linear functions of the factors, one weaker second code for
orientation, four near-constant codes). Compile time is the first call minus a
steady-state call; steady-state calls are timed by the harness (median, CPU time too).
With ``DISENTAX_BENCH_SKLEARN=1`` (or ``--quick``) the scikit-learn path
(``estimator="sklearn"``, the reference's ``GradientBoostingClassifier()``) runs once on
the same arrays and the rows carry both values and their differences (target: DCI-gbt
<= 3 s, disentanglement and completeness within 0.05).

``bench_interventional``: BetaVAE and FactorVAE scores on procedural dSprites through a
convolutional VAE encoder (the reference architecture, random parameters: the cost does
not depend on training), all sampling, rendering and encoding inside one jitted program
(target <= 10 s each at the reference sizes). ``--quick`` uses small sizes.

Run alone: ``python -m benchmarks.metrics_scores [--quick] [--sklearn] --out FILE``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import jax
import numpy as np

from benchmarks import harness

FACTOR_SIZES = (3, 6, 40, 32, 32)
NUM_TRAIN, NUM_TEST, NUM_CODES = 10_000, 5_000, 10


def vae_like_codes(num: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(codes [num, 10] float32, factors [num, 5] int32)`` shaped like a VAE's codes."""
    rng = np.random.default_rng(seed)
    sizes = np.asarray(FACTOR_SIZES)
    factors = np.stack([rng.integers(0, k, num) for k in sizes], axis=1)
    u = factors / (sizes - 1.0)
    u[:, 2] = np.sin(2 * np.pi * u[:, 2])  # orientation is cyclic
    mix = np.eye(5) * 2.0
    mix[0, 1], mix[1, 0], mix[1, 4], mix[3, 1], mix[3, 4], mix[4, 0], mix[4, 3] = (
        0.2,
        0.3,
        0.1,
        0.4,
        0.2,
        0.1,
        0.3,
    )
    codes = np.zeros((num, NUM_CODES))
    codes[:, :5] = np.tanh(u @ mix - 1.0) * 2.0 + rng.normal(scale=0.15, size=(num, 5))
    codes[:, 5:] = rng.normal(scale=0.05, size=(num, 5))
    codes[:, 7] += 0.5 * factors[:, 2] / (sizes[2] - 1.0)
    return codes.astype(np.float32), factors.astype(np.int32)


def _scalars(out: dict) -> dict[str, float]:
    return {k: float(np.asarray(v)) for k, v in out.items() if np.ndim(v) == 0}


def bench_dci(ctx: harness.Context) -> list[dict[str, Any]]:
    from disentax.metrics import dci

    num_train, num_test = (2000, 1000) if ctx.quick else (NUM_TRAIN, NUM_TEST)
    ctr, ftr = vae_like_codes(num_train, seed=0)
    cte, fte = vae_like_codes(num_test, seed=1)
    common = {
        "num_train": num_train,
        "num_test": num_test,
        "num_codes": NUM_CODES,
        "factor_sizes": list(FACTOR_SIZES),
    }
    reference = None
    if ctx.quick or os.environ.get("DISENTAX_BENCH_SKLEARN") == "1":
        np.random.seed(0)  # noqa: NPY002 (scikit-learn's feature permutations)
        start, cpu = time.perf_counter(), time.process_time()
        out = dci(ctr, ftr, cte, fte, estimator="sklearn")
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        reference = _scalars(out)
        ref_timing = harness.Timing(seconds, seconds, seconds, 1, 1, (seconds,), (cpu,))
        rows = [
            harness.result(
                "metrics/dci/sklearn",
                ref_timing,
                value=reference,
                importance=np.asarray(out["importance"]).tolist(),
                **common,
            )
        ]
    else:
        rows = []
    for precision in ("int8", "float32"):

        def call(precision=precision):
            return dci(ctr, ftr, cte, fte, precision=precision)

        start = time.perf_counter()
        value = jax.block_until_ready(call())
        first = time.perf_counter() - start
        timing = harness.measure(call, repeats=ctx.repeats, warmup=0, min_repeat_s=0.0)
        extra = {}
        if reference is not None:
            extra["sklearn_value"] = reference
            extra["abs_diff"] = {k: abs(_scalars(value)[k] - reference[k]) for k in reference}
        rows.append(
            harness.result(
                f"metrics/dci/gbt_{precision}",
                timing,
                compile_s=max(0.0, first - timing.median_s),
                value=_scalars(value),
                importance=np.asarray(value["importance"]).tolist(),
                target_s=3.0,
                **common,
                **extra,
            )
        )
    return rows


def bench_interventional(ctx: harness.Context) -> list[dict[str, Any]]:
    import disentax.data as dd
    from disentax.evaluation import make_representation_fn
    from disentax.metrics import beta_vae_score, factor_vae_score
    from disentax.models import make_model
    from disentax.models.vae import init_params

    dataset = dd.get("dsprites")
    model = make_model("conv", num_latents=10, image_shape=dataset.observation_shape)
    rep = make_representation_fn(model, init_params(model, jax.random.key(0)))
    if ctx.quick:
        sizes = dict(batch_size=16, num_train=100, num_eval=50)
    else:
        sizes = dict(batch_size=64, num_train=10_000, num_eval=5_000)
    fv_sizes = dict(sizes, num_variance_estimate=sizes["num_train"])
    rows = []
    for name, fn, kwargs, images in (
        (
            "beta_vae_score",
            beta_vae_score,
            sizes,
            2 * sizes["batch_size"] * (sizes["num_train"] + sizes["num_eval"]),
        ),
        (
            "factor_vae_score",
            factor_vae_score,
            fv_sizes,
            sizes["batch_size"] * (sizes["num_train"] + sizes["num_eval"])
            + fv_sizes["num_variance_estimate"],
        ),
    ):

        def call(fn=fn, kwargs=kwargs):
            return fn(jax.random.key(0), dataset, rep, **kwargs)

        start = time.perf_counter()
        value = jax.block_until_ready(call())
        first = time.perf_counter() - start
        timing = harness.measure(
            call, repeats=1 if not ctx.quick else 2, warmup=0, min_repeat_s=0.0
        )
        rows.append(
            harness.result(
                f"metrics/interventional/{name}",
                timing,
                compile_s=max(0.0, first - timing.median_s),
                images=images,
                value=_scalars(value),
                target_s=10.0,
                dataset="dsprites",
                encoder="conv",
                **kwargs,
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sklearn", action="store_true", help="run the scikit-learn path")
    parser.add_argument("--only", choices=("dci", "interventional"), default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.sklearn:
        os.environ["DISENTAX_BENCH_SKLEARN"] = "1"
    ctx = harness.Context(quick=args.quick, repeats=args.repeats)
    rows = []
    if args.only in (None, "dci"):
        rows += bench_dci(ctx)
    if args.only in (None, "interventional"):
        rows += bench_interventional(ctx)
    record = {"environment": harness.environment(), "results": rows}
    text = json.dumps(record, indent=2, default=str)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as file:
            file.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
