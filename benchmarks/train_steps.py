"""Train-step throughput: every objective, 1 device vs a mesh, sweeps, and PyTorch paired.

The steps are built exactly as ``disentax train`` builds them: the shipped config of the
objective (``disentax/configs/<objective>.py``, reference hyperparameters, Adam 1e-4,
Bernoulli decoder, the conv VAE, procedural dSprites sampled inside the step), validated
and assembled by ``disentax.train.config_schema`` and compiled by
``disentax.train.make_train_step``. Only the batch size and the mesh differ between rows.

Compile time of a step is its first call minus a steady-state call (the step object
exposes no lowering); "% of peak" divides the reference VAE's forward + backward FLOPs
(:func:`benchmarks.conv_forms.train_flops_per_image`, 82.4 MFLOP per 64x64x1 image) by
the step time and the measured matmul peak (:mod:`benchmarks.peak`). For FactorVAE the
discriminator's work is not counted.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import jax
import numpy as np

from benchmarks import conv_forms, harness


def build_parts(objective: str, batch_size: int):
    """``(spec, parts)`` of the shipped config of ``objective`` at ``batch_size``."""
    from disentax import runs
    from disentax.runs import spec as run_spec

    config = runs.load_config(objective, [f"--config.batch_size={batch_size}"])
    spec = run_spec.validate(config)
    return spec, run_spec.build(spec)


def make_step(
    objective: str,
    batch_size: int,
    *,
    num_devices: int = 1,
    num_models: int | None = None,
    sample_in_step: bool = True,
    model_kwargs: dict | None = None,
    mesh_shape: tuple[int, int] | None = None,
):
    """The compiled train step of the shipped config and its initial state.

    ``model_kwargs`` (e.g. ``encoder_forms``/``decoder_forms``) rebuild the config's model
    with extra architecture options of ``disentax.models.make_model``.
    """
    import dataclasses

    import jax.numpy as jnp

    from disentax import models
    from disentax import parallel as par
    from disentax.train import make_train_step

    spec, parts = build_parts(objective, batch_size)
    if model_kwargs:
        model = models.make_model(
            spec.model,
            num_latents=spec.num_latents,
            image_shape=tuple(parts.dataset.observation_shape),
            **model_kwargs,
        )
        parts = dataclasses.replace(parts, model=model)
    if jax.device_count() < num_devices:
        raise harness.SkipBenchmark(
            f"needs {num_devices} devices, the process has {jax.device_count()} (run through "
            "`disentax bench`, which asks XLA for 8 host devices)"
        )
    if mesh_shape is not None and jax.device_count() < mesh_shape[0] * mesh_shape[1]:
        raise harness.SkipBenchmark(
            f"needs {mesh_shape[0] * mesh_shape[1]} devices, the process has {jax.device_count()}"
        )
    mesh = par.make_mesh(num_devices) if mesh_shape is None else par.make_model_mesh(*mesh_shape)
    hyper = dict(parts.hyperparameters)
    if num_models is not None:
        # a sweep over the objective's main weight (e.g. beta 1..8), one value per model
        swept = next(k for k in ("beta", "gamma", "lambda_od", "c_max") if k in hyper)
        hyper[swept] = jnp.linspace(1.0, 8.0, num_models, dtype=jnp.float32)
    in_step = sample_in_step and parts.sample_in_step
    step = make_train_step(
        parts.model,
        parts.objective,
        parts.tx,
        mesh=mesh,
        dataset=parts.dataset if in_step else None,
        batch_size=batch_size if in_step else None,
        hyperparameters=hyper,
        reconstruction=spec.reconstruction,
        discriminator=parts.discriminator,
        discriminator_tx=parts.discriminator_tx,
        parallel=spec.parallel,
        num_models=num_models,
    )
    key = jax.random.key(spec.seed)
    if num_models is not None:
        key = jax.random.split(key, num_models)
    return step, step.init(key), parts


class _Runner:
    """Calls a donating step in a loop, carrying its state; returns the loss to block on."""

    def __init__(self, step, state, batch=None):
        self.step, self.state, self.batch = step, state, batch
        self.first_call_s = None

    def __call__(self):
        start = time.perf_counter()
        self.state, metrics = self.step(self.state, self.batch)
        if self.first_call_s is None:
            jax.block_until_ready(metrics)
            self.first_call_s = time.perf_counter() - start
        return metrics["loss"]


def fixed_images(dataset, batch_size: int, seed: int = 0) -> np.ndarray:
    """One rendered batch ``[N,H,W,C]`` float32 from a fixed seed."""
    key = jax.random.key(seed)
    factors = dataset.sample_factors(key, batch_size)
    return np.asarray(jax.device_get(dataset.observations(factors)), np.float32)


def bench_train_step(
    ctx: harness.Context, *, objective: str, batch_size: int, dtype: str = "float32", mesh: int = 1
) -> list[dict[str, Any]]:
    """One row ``train_step/<objective>/b<batch>[/mesh<D>][/<dtype>]``. A mesh run also times
    the one-device step interleaved and reports the paired ratio (no one-device row is
    written from the mesh process); a run in another
    computation dtype (``disentax.models.make_model(dtype=...)``: layers in that dtype,
    parameters and objective float32) times the float32 step interleaved and reports the
    paired ratio to it (no float32 row is written)."""
    suffix = f"/mesh{mesh}" if mesh > 1 else ""
    if dtype != "float32":
        suffix += f"/{dtype}"
    name = f"train_step/{objective}/b{batch_size}{suffix}"
    model_kwargs = {"dtype": dtype} if dtype != "float32" else None
    runners = {
        "one_device": _Runner(*make_step(objective, batch_size, model_kwargs=model_kwargs)[:2])
    }
    if mesh > 1:
        runners[f"mesh{mesh}"] = _Runner(
            *make_step(objective, batch_size, num_devices=mesh, model_kwargs=model_kwargs)[:2]
        )
    if dtype != "float32":
        runners["float32"] = _Runner(*make_step(objective, batch_size)[:2])
    timings = harness.measure_interleaved(runners, repeats=ctx.repeats, min_repeat_s=0.2)
    flops = batch_size * conv_forms.train_flops_per_image()
    rows = []
    for variant, (timing, ratios) in timings.items():
        if variant == "float32" or (variant == "one_device" and mesh > 1):
            # the paired reference of a lower-precision or mesh run, not a row of its own
            # (a mesh run's process has 8 host devices, which slow one device's kernels)
            continue
        row_name = name
        extra: dict[str, Any] = {
            "objective": objective,
            "batch_size": batch_size,
            "devices": mesh if variant != "one_device" else 1,
            "dtype": dtype,
            "data": "sampled in step",
        }
        if mesh > 1 and variant != "one_device":
            extra["ratio"] = ratios["one_device"]
            extra["ratio_cpu"] = ratios["cpu:one_device"]
            extra["note"] = "vs one device (paired)"
        elif dtype != "float32":
            extra["ratio"] = ratios["float32"]
            extra["ratio_cpu"] = ratios["cpu:float32"]
            extra["note"] = f"{dtype} layers vs the float32 step (paired)"
        compile_s = max(0.0, runners[variant].first_call_s - timing.median_s)
        rows.append(
            harness.result(
                row_name,
                timing,
                compile_s=compile_s,
                images=batch_size,
                flops=flops,
                **ctx.peaks(),
                **extra,
            )
        )
    return rows


def bench_sweep(
    ctx: harness.Context, *, objective: str, batch_size: int, num_models: int
) -> list[dict[str, Any]]:
    """A sweep of ``num_models`` models (the platform's default ``sweep_mode``) vs one model,
    interleaved.

    Row ``train_step/<objective>/b<batch>/sweep<S>``: ``images_per_s`` counts the images of
    all models together; ``ratio`` is sweep images/s over one model's images/s (paired).
    """
    single = _Runner(*make_step(objective, batch_size)[:2])
    sweep = _Runner(*make_step(objective, batch_size, num_models=num_models)[:2])
    timings = harness.measure_interleaved(
        {"single": single, "sweep": sweep}, repeats=ctx.repeats, min_repeat_s=0.2
    )
    t_single, _ = timings["single"]
    t_sweep, ratios = timings["sweep"]
    images = batch_size * num_models
    flops = images * conv_forms.train_flops_per_image()
    ratio = ratios["single"] * num_models  # (t_single / t_sweep) * S = throughput ratio
    ratio_cpu = ratios["cpu:single"] * num_models
    return [
        harness.result(
            f"train_step/{objective}/b{batch_size}/sweep{num_models}",
            t_sweep,
            compile_s=max(0.0, sweep.first_call_s - t_sweep.median_s),
            images=images,
            flops=flops,
            **ctx.peaks(),
            ratio=ratio,
            ratio_cpu=ratio_cpu,
            num_models=num_models,
            single_model_median_s=t_single.median_s,
            target_ratio=0.9,
            note=f"sweep images/s over one model's (paired, target >= 0.9); {num_models} models",
        )
    ]


# The reference study's grid on dSprites, for the projection of the group benchmark.
FULL_GRID_MODELS, FULL_GRID_STEPS = 1800, 300_000


def bench_sharded_group(
    ctx: harness.Context, *, objective: str, batch_size: int, num_models: int
) -> list[dict[str, Any]]:
    """A study group of S models split over a models mesh of every device, against the same
    S models replicated on one device (a sweep) and against one model, interleaved.

    Row ``study/group/<objective>/b<batch>/S<num_models>``: ``images_per_s`` counts every
    model's images; ``ratio_vs_sweep`` / ``ratio_vs_singles`` are its throughput over the
    unsharded sweep's and over S single runs' (paired). ``projection_device_hours`` is the
    full dSprites grid (1,800 models x 300,000 steps) at the measured per-device rate: a
    projection, not a measurement. Simulated CPU devices share the machine's cores, so
    on a CPU the ratios say what the program costs, not what 8 real devices would give.
    """
    devices = jax.device_count()
    sharded = _Runner(*make_step(objective, batch_size, num_models=num_models,
                                 mesh_shape=(devices, 1))[:2])  # fmt: skip
    sweep = _Runner(*make_step(objective, batch_size, num_models=num_models)[:2])
    single = _Runner(*make_step(objective, batch_size)[:2])
    timings = harness.measure_interleaved(
        {"sharded": sharded, "sweep": sweep, "single": single},
        repeats=ctx.repeats,
        min_repeat_s=0.2,
    )
    t_sharded, ratios = timings["sharded"]
    images = batch_size * num_models
    per_device = images / t_sharded.median_s / devices
    hours = FULL_GRID_MODELS * FULL_GRID_STEPS * batch_size / per_device / 3600
    return [
        harness.result(
            f"study/group/{objective}/b{batch_size}/S{num_models}",
            t_sharded,
            compile_s=max(0.0, sharded.first_call_s - t_sharded.median_s),
            images=images,
            **ctx.peaks(),
            num_models=num_models,
            devices=devices,
            ratio_vs_sweep=ratios["sweep"],
            ratio_vs_singles=ratios["single"] * num_models,
            sweep_compile_s=max(0.0, sweep.first_call_s - timings["sweep"][0].median_s),
            single_compile_s=max(0.0, single.first_call_s - timings["single"][0].median_s),
            projection_device_hours=hours,
            note=(
                f"{num_models} models split over a {devices}x1 models mesh; ratios paired "
                "against the unsharded sweep and S single runs; projection_device_hours: the "
                "full dSprites grid at the measured per-device rate (a projection)"
            ),
        )
    ]


# The fastest exact form per layer of benchmarks/conv_forms.py (layers/conv_vae).
PROTOTYPE_FORMS = {
    "conv": ("s2d_fastdw", "subpixel_vjp", "s2d_fastdw", "s2d_fastdw"),
    "deconv": ("subpixel_fastdw", "subpixel_fastdw", "subpixel_fastdw", "plain"),
}


def make_prototype_step(batch_size: int, *, beta: float, forms=PROTOTYPE_FORMS):
    """A β-VAE train step of the reference architecture built from the benchmark's own
    layer forms (:func:`benchmarks.layers.reference_forward`), with the library's
    objective (``disentax.losses.OBJECTIVES["beta_vae"]``) and Adam(1e-4): what the
    library's step would cost with those forms. ``step(images) -> loss``."""
    import optax

    from benchmarks import layers
    from disentax import losses, models

    params = layers.init_reference_params(jax.random.key(0))
    tx = optax.adam(1e-4)
    objective = losses.OBJECTIVES["beta_vae"]

    def loss_fn(p, images, key):
        eps = jax.random.normal(key, (images.shape[0], 10), images.dtype)
        mean, logvar, logits = layers.reference_forward(
            p, images, eps, conv=forms["conv"], deconv=forms["deconv"]
        )
        z = mean + jax.numpy.exp(0.5 * logvar) * eps
        out = models.VAEOutput(mean, logvar, z, logits)
        return objective(images, out, step=0, beta=beta)[0]

    @functools.partial(jax.jit, donate_argnums=(0,))
    def step(state, images):
        p, opt_state, i = state
        loss, grads = jax.value_and_grad(loss_fn)(
            p, images, jax.random.fold_in(jax.random.key(1), i)
        )
        updates, opt_state = tx.update(grads, opt_state, p)
        return (optax.apply_updates(p, updates), opt_state, i + 1), {"loss": loss}

    return step, (params, tx.init(params), jax.numpy.zeros((), jax.numpy.int32))


def bench_torch_paired(ctx: harness.Context, *, batch_size: int) -> list[dict[str, Any]]:
    """disentax vs the equal-architecture PyTorch β-VAE, same batch, interleaved.

    Both get the same fixed, pre-rendered dSprites batch (so the comparison is the model
    and optimizer work alone) with one thread each; rows ``compare/torch/b<N>/disentax``
    (the library's default layer forms, with ``ratio_vs_torch``, the paired ratio of
    images/s), ``.../prototype_forms`` (:func:`make_prototype_step`, the benchmark's fastest forms)
    and ``.../torch``.
    """
    try:
        import torch

        from benchmarks import torch_reference
    except ImportError as err:
        raise harness.SkipBenchmark(
            f"PyTorch is not installed ({err}); pip install -e '.[bench]'"
        ) from err
    step, state, parts = make_step("beta_vae", batch_size, sample_in_step=False)
    images = fixed_images(parts.dataset, batch_size)
    batch = jax.device_put(images)
    beta = float(parts.hyperparameters.get("beta", 1.0))
    torch.manual_seed(0)
    model = torch_reference.ConvVAE(num_latents=10, channels=images.shape[-1])
    torch_step = torch_reference.make_train_step(model, beta=beta, learning_rate=1e-4)
    torch_images = torch.from_numpy(images.transpose(0, 3, 1, 2).copy())
    proto_step, proto_state = make_prototype_step(batch_size, beta=beta)
    runners = {
        "disentax": _Runner(step, state, batch),
        "prototype_forms": _Runner(proto_step, proto_state, batch),
        "torch": lambda: torch_step(torch_images),
    }
    timings = harness.measure_interleaved(runners, repeats=ctx.repeats, min_repeat_s=0.2)
    flops = batch_size * conv_forms.train_flops_per_image()
    rows = []
    for variant, (timing, ratios) in timings.items():
        extra: dict[str, Any] = {
            "framework": variant,
            "batch_size": batch_size,
            "threads": torch.get_num_threads() if variant == "torch" else "xla, one core",
        }
        compile_s = None
        if variant != "torch":
            extra["ratio_vs_torch"] = ratios["torch"]
            extra["ratio_vs_torch_cpu"] = ratios["cpu:torch"]
            extra["target_ratio"] = 1.2
            compile_s = max(0.0, runners[variant].first_call_s - timing.median_s)
        if variant == "prototype_forms":
            extra["forms"] = PROTOTYPE_FORMS
        if variant == "prototype_forms":
            extra["ratio_vs_default_forms"] = ratios["disentax"]
            extra["ratio_vs_default_forms_cpu"] = ratios["cpu:disentax"]
        rows.append(
            harness.result(
                f"compare/torch/b{batch_size}/{variant}",
                timing,
                compile_s=compile_s,
                images=batch_size,
                flops=flops,
                **ctx.peaks(),
                **extra,
            )
        )
    return rows
