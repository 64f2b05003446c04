"""A study group's evaluation as one program against its models one at a time.

Row ``study/evaluate/<dataset>/S<num_models>``: S reference networks (the study's conv
VAE, different random weights) on procedural dSprites, scored by
:func:`disentax.evaluation.evaluate_group` (one program per metric, vmapped over the
model axis) and by :func:`disentax.evaluation.evaluate` for each model in turn, with the
same key, metrics and sizes; the two are interleaved (repeat r of each before repeat
r + 1 of either). ``models_per_s`` is S over the median wall seconds of a whole group's
evaluation, ``single_models_per_s`` the same of S single evaluations, and
``ratio_vs_singles`` their paired ratio (above 1: the group is faster). The first call of
each, minus its median, is its compile time (``compile_s``, ``single_compile_s``).

The metrics are those the group path vmaps (:data:`METRICS`); the gradient-boosted-tree
metrics (DCI) run one model at a time on both sides, so they would only dilute the ratio.
"""

from __future__ import annotations

import time
from typing import Any

import jax

from benchmarks import harness

METRICS = ("mig", "modularity", "unsupervised", "beta_vae_score", "factor_vae_score")
# (num_train, num_test, BetaVAE/FactorVAE sizes): the study's quick CPU sizes, and a
# smoke-test size for --quick.
SIZES = {
    False: (10_000, 5_000, {"num_train": 500, "num_eval": 300}),
    True: (
        1_000,
        500,
        {"batch_size": 16, "num_train": 100, "num_eval": 50, "num_variance_estimate": 1000},
    ),
}


class _Timed:
    """Calls ``fn``; records the wall seconds of the first call (compile included)."""

    def __init__(self, fn):
        self.fn, self.first_call_s = fn, None

    def __call__(self):
        start = time.perf_counter()
        out = self.fn()
        if self.first_call_s is None:
            self.first_call_s = time.perf_counter() - start
        return out


def _group(dataset: str, num_models: int):
    """``(dataset, model, stacked_params)`` of S reference networks with random weights."""
    from disentax import data, models
    from disentax.models.vae import init_params

    ds = data.get(dataset)
    model = models.make_model("conv", num_latents=10, image_shape=tuple(ds.observation_shape))
    keys = jax.random.split(jax.random.key(0), num_models)
    return ds, model, jax.vmap(lambda k: init_params(model, k))(keys)


def bench_group_evaluation(
    ctx: harness.Context, *, dataset: str, num_models: int
) -> list[dict[str, Any]]:
    """The group's evaluation as one program vs its models one at a time (interleaved)."""
    from disentax import evaluation

    ds, model, stacked = _group(dataset, num_models)
    num_train, num_test, votes = SIZES[ctx.quick]
    kwargs = {
        "metrics": list(METRICS),
        "num_train": num_train,
        "num_test": num_test,
        "interventional_sizes": votes,
    }
    key = jax.random.key(0)

    def group():
        records = evaluation.evaluate_group(key, ds, model, stacked, **kwargs)
        return [r["metrics"]["mig"] for r in records]

    def singles():
        out = []
        for i in range(num_models):
            params = jax.tree.map(lambda a, i=i: a[i], stacked)
            record = evaluation.evaluate(
                key,
                ds,
                evaluation.make_representation_fn(model, params),
                posterior_fn=evaluation.make_posterior_fn(model, params),
                **kwargs,
            )
            out.append(record["metrics"]["mig"])
        return out

    runners = {"group": _Timed(group), "singles": _Timed(singles)}
    timings = harness.measure_interleaved(runners, repeats=ctx.repeats, min_repeat_s=0.0)
    t_group, ratios = timings["group"]
    t_singles = timings["singles"][0]
    return [
        harness.result(
            f"study/evaluate/{dataset}/S{num_models}",
            t_group,
            compile_s=max(0.0, runners["group"].first_call_s - t_group.median_s),
            num_models=num_models,
            models_per_s=num_models / t_group.median_s,
            single_models_per_s=num_models / t_singles.median_s,
            ratio_vs_singles=ratios["singles"],
            ratio_vs_singles_cpu=ratios["cpu:singles"],
            singles_median_s=t_singles.median_s,
            single_compile_s=max(0.0, runners["singles"].first_call_s - t_singles.median_s),
            metrics=list(METRICS),
            num_train=num_train,
            num_test=num_test,
            interventional_sizes=votes,
            note=(
                f"{num_models} conv VAEs (random weights) on {dataset}, one device: the group "
                "as vmapped programs vs the models one at a time (paired medians; compile "
                "time is the first call minus the median)"
            ),
        )
    ]
