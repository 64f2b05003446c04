"""Metric-suite timings: disentax kernels vs the NumPy/scikit-learn baseline, and scaling.

``bench_suite`` times every array metric at the reference sizes of the metrics issue
(10,000 train / 5,000 test points, 10 codes, 5 factors of sizes 3, 6, 40, 32, 32) through
the public ``disentax.metrics`` functions, called as a user calls them (input checks
included; compile time is the first call minus a steady-state call), and the same metric
of :mod:`benchmarks.metrics_oracle` (one run each: the baseline compiles nothing and DCI's
gradient-boosted trees alone take minutes). Rows ``metrics/suite/<metric>/disentax``
carry ``ratio_vs_oracle`` (oracle seconds / disentax seconds; target >= 100) and both
values; ``metrics/suite/total/...`` sums the suite.

``bench_scaling`` times the disentax kernels alone for N = 1k, 10k, 100k points (L = 10)
and L = 10, 64 codes (N = 10k); rows ``metrics/scaling/<metric>/n<N>/l<L>``.

The codes are synthetic with a known structure (fixed seed): the first five codes are the
five factors scaled to [0, 1] plus Gaussian noise (sd 0.05), the rest pure noise.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import numpy as np

from benchmarks import harness

FACTOR_SIZES = (3, 6, 40, 32, 32)
NUM_TRAIN, NUM_TEST, NUM_CODES = 10_000, 5_000, 10


def synthetic_codes(num: int, num_codes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(codes [num, L] float32, factors [num, 5] int32)`` with a known structure."""
    rng = np.random.default_rng(seed)
    factors = np.stack([rng.integers(0, s, num) for s in FACTOR_SIZES], axis=1)
    noise = rng.normal(size=(num, num_codes))
    codes = 0.05 * noise
    k = min(len(FACTOR_SIZES), num_codes)
    codes[:, :k] += factors[:, :k] / (np.array(FACTOR_SIZES[:k]) - 1.0)
    codes[:, k:] = noise[:, k:]
    return codes.astype(np.float32), factors.astype(np.int32)


def _disentax_suite(num_classes: int) -> dict[str, Any]:
    from disentax import metrics

    suite = {
        "mig": lambda ctr, ftr, cte, fte: metrics.mig(ctr, ftr),
        "sap": lambda ctr, ftr, cte, fte: metrics.sap(ctr, ftr, cte, fte),
        "modularity": lambda ctr, ftr, cte, fte: metrics.modularity(ctr, ftr),
        "explicitness": lambda ctr, ftr, cte, fte: metrics.explicitness(ctr, ftr, cte, fte),
        "irs": lambda ctr, ftr, cte, fte: metrics.irs(ctr, ftr),
        "unsupervised": lambda ctr, ftr, cte, fte: metrics.unsupervised_scores(ctr),
    }
    if hasattr(metrics, "dci"):
        suite["dci"] = lambda ctr, ftr, cte, fte: metrics.dci(ctr, ftr, cte, fte)
    return suite


def _oracle_suite() -> dict[str, Any]:
    from benchmarks import metrics_oracle as o

    return {
        "mig": lambda ctr, ftr, cte, fte: o.mig(ctr, ftr),
        "sap": lambda ctr, ftr, cte, fte: o.sap(ctr, ftr, cte, fte),
        "modularity": lambda ctr, ftr, cte, fte: o.modularity(ctr, ftr),
        "explicitness": lambda ctr, ftr, cte, fte: o.explicitness(ctr, ftr, cte, fte),
        "irs": lambda ctr, ftr, cte, fte: o.irs(ctr, ftr),
        "unsupervised": lambda ctr, ftr, cte, fte: o.unsupervised(ctr),
        "dci": lambda ctr, ftr, cte, fte: o.dci(ctr, ftr, cte, fte),
    }


def _floats(value: Any) -> Any:
    value = jax.device_get(value)
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    arr = np.asarray(value)
    return float(arr) if arr.ndim == 0 else arr.tolist()


def _time_disentax(fn, args, repeats: int) -> tuple[harness.Timing, float, Any]:
    start = time.perf_counter()
    value = jax.block_until_ready(fn(*args))
    first = time.perf_counter() - start
    timing = harness.measure(lambda: fn(*args), repeats=repeats, warmup=1, min_repeat_s=0.1)
    return timing, max(0.0, first - timing.median_s), value


def bench_suite(ctx: harness.Context) -> list[dict[str, Any]]:
    num_train, num_test = (2000, 1000) if ctx.quick else (NUM_TRAIN, NUM_TEST)
    ctr, ftr = synthetic_codes(num_train, NUM_CODES, seed=0)
    cte, fte = synthetic_codes(num_test, NUM_CODES, seed=1)
    dev_args = tuple(jax.device_put(a) for a in (ctr, ftr, cte, fte))
    ours = _disentax_suite(max(FACTOR_SIZES))
    oracle = _oracle_suite()
    rows, total, total_oracle, missing = [], 0.0, 0.0, []
    for name, oracle_fn in oracle.items():
        if name not in ours:
            missing.append(name)
            continue
        timing, compile_s, value = _time_disentax(ours[name], dev_args, ctx.repeats)
        oracle_value = None
        oracle_timing = harness.measure(
            lambda f=oracle_fn: f(ctr, ftr, cte, fte), repeats=1, warmup=0
        )
        oracle_value = _floats(oracle_fn(ctr, ftr, cte, fte)) if ctx.quick else None
        ratio = oracle_timing.median_s / timing.median_s
        total += timing.median_s
        total_oracle += oracle_timing.median_s
        common = {
            "metric": name,
            "num_train": num_train,
            "num_test": num_test,
            "num_codes": NUM_CODES,
            "factor_sizes": list(FACTOR_SIZES),
        }
        rows.append(
            harness.result(
                f"metrics/suite/{name}/disentax",
                timing,
                compile_s=compile_s,
                ratio_vs_oracle=ratio,
                value=_floats(value),
                oracle_value=oracle_value,
                target_ratio=100.0,
                **common,
            )
        )
        rows.append(harness.result(f"metrics/suite/{name}/oracle", oracle_timing, **common))
    one = harness.Timing(total, total, total, 1, 1, (total,))
    one_oracle = harness.Timing(total_oracle, total_oracle, total_oracle, 1, 1, (total_oracle,))
    note = (
        f"sum of medians; missing in disentax.metrics: {missing}" if missing else ("sum of medians")
    )
    rows.append(
        harness.result(
            "metrics/suite/total/disentax",
            one,
            ratio_vs_oracle=total_oracle / total,
            target_s=5.0,
            note=note,
        )
    )
    rows.append(harness.result("metrics/suite/total/oracle", one_oracle, note=note))
    return rows


def bench_scaling(ctx: harness.Context) -> list[dict[str, Any]]:
    shapes = (
        [(1_000, 10)] if ctx.quick else [(1_000, 10), (10_000, 10), (100_000, 10), (10_000, 64)]
    )
    ours = _disentax_suite(max(FACTOR_SIZES))
    rows = []
    for num, num_codes in shapes:
        ctr, ftr = synthetic_codes(num, num_codes, seed=0)
        cte, fte = synthetic_codes(num // 2, num_codes, seed=1)
        args = tuple(jax.device_put(a) for a in (ctr, ftr, cte, fte))
        for name, fn in ours.items():
            timing, compile_s, _ = _time_disentax(fn, args, 3)
            rows.append(
                harness.result(
                    f"metrics/scaling/{name}/n{num}/l{num_codes}",
                    timing,
                    compile_s=compile_s,
                    metric=name,
                    num_train=num,
                    num_test=num // 2,
                    num_codes=num_codes,
                )
            )
    return rows
