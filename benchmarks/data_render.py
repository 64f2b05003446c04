"""Procedural rendering throughput: images/s of dSprites and its variants, jitted.

Each row times one jitted program that samples ``N`` factor rows and renders their
images (``dataset.observations(dataset.sample_factors(key, N))``), the work a train step
does when it samples its batch on the device. Rows: ``data/<name>/render/n<N>``.
"""

from __future__ import annotations

import inspect
from typing import Any

import jax

from benchmarks import harness

DATASETS = ("dsprites", "color_dsprites", "noisy_dsprites", "scream_dsprites")
SIZES = (64, 1024)


def _render_fn(dataset, num: int):
    takes_key = "key" in inspect.signature(dataset.observations).parameters

    def render(key):
        factor_key, noise_key = jax.random.split(key)
        factors = dataset.sample_factors(factor_key, num)
        if takes_key:
            return dataset.observations(factors, key=noise_key)
        return dataset.observations(factors)

    return jax.jit(render)


def bench_render(ctx: harness.Context, *, names=DATASETS) -> list[dict[str, Any]]:
    from disentax import data

    rows = []
    key = jax.random.key(0)
    for name in names[:1] if ctx.quick else names:
        dataset = data.get(name)
        for num in (64,) if ctx.quick else SIZES:
            jitted = _render_fn(dataset, num)
            compiled, compile_s = harness.time_compile(jitted, key)
            timing = harness.measure(lambda c=compiled: c(key), repeats=ctx.repeats)
            rows.append(
                harness.result(
                    f"data/{name}/render/n{num}",
                    timing,
                    compile_s=compile_s,
                    images=num,
                    dataset=name,
                    observation_shape=list(dataset.observation_shape),
                )
            )
    return rows
