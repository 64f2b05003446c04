"""Train several configs that share one objective as one vmapped program (a sweep).

The configs of a sweep may differ only in their seed and in the values of the
objective's hyperparameters (e.g. beta-TCVAE with beta = 1, the plain VAE, and beta = 6).
They train together through ``disentax.train.make_train_step(..., num_models=S)``: one
compiled step updates all ``S`` models, each with its own parameters, optimizer state, key
and hyperparameter values. Model ``i`` is initialised from ``jax.random.key(seed_i)``, as
``disentax.train.loop.run`` initialises a single run, so it follows the trajectory of its
own single-model run.

Each model gets an ordinary run folder (``config.json``, ``metrics.jsonl``,
``checkpoints/``), so ``disentax.train.load_run``, ``disentax evaluate`` and
``disentax traverse`` read it exactly like a folder written by ``disentax train``.
A sweep resumes from the newest checkpoint step that every one of its folders holds.
"""

from __future__ import annotations

import json
import pathlib
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from disentax import parallel as par
from disentax.train import config_schema, loop
from disentax.train.checkpoint import Checkpoints
from disentax.train.runtime import library_versions
from disentax.train.writer import Writer

__all__ = ["check_sweep", "train_sweep"]

# Keys that must agree between the configs of one sweep (one compiled program).
_SHARED = (
    "model",
    "dataset",
    "num_latents",
    "batch_size",
    "num_steps",
    "learning_rate",
    "reconstruction",
    "log_every",
    "checkpoint_every",
    "keep_checkpoints",
)


def check_sweep(specs: Sequence[config_schema.RunSpec]) -> tuple[str, list[str]]:
    """Checks that validated configs can train as one sweep.

    Returns:
      ``(objective, swept)``: the shared objective name and the hyperparameter names
      whose values differ between the configs.

    Raises:
      ValueError: fewer than one config, different objectives, or a difference in a key
        other than the seed and the objective's hyperparameters (named).
    """
    if not specs:
        raise ValueError("a sweep needs at least one config")
    first = specs[0]
    for spec in specs[1:]:
        if spec.objective != first.objective:
            raise ValueError(
                f"a sweep trains one objective; got {first.objective!r} and {spec.objective!r}"
            )
        for key in _SHARED:
            if getattr(spec, key) != getattr(first, key):
                raise ValueError(
                    f"configs of one sweep must share config.{key}: "
                    f"{getattr(first, key)!r} != {getattr(spec, key)!r}"
                )
        if set(spec.hyperparameters) != set(first.hyperparameters):
            raise ValueError("configs of one sweep must name the same hyperparameters")
    swept = []
    for name, value in first.hyperparameters.items():
        values = [s.hyperparameters[name] for s in specs]
        if any(v != value for v in values):
            if isinstance(value, str | bool) or value is None:
                raise ValueError(f"hyperparameter {name!r} is not numeric and cannot be swept")
            swept.append(name)
    return first.objective, swept


def _write_config_json(workdir: pathlib.Path, spec, mesh, sweep_names: list[str]) -> None:
    record = {
        "config": spec.resolved,
        "versions": library_versions(),
        "devices": {
            "count": mesh.size,
            "kind": mesh.devices.flat[0].device_kind,
            "platform": mesh.devices.flat[0].platform,
            "processes": jax.process_count(),
        },
        "sweep": sweep_names,
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    workdir.mkdir(parents=True, exist_ok=True)
    tmp = workdir / "config.json.tmp"
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(workdir / "config.json")


def _take(tree, i: int):
    return jax.tree.map(lambda x: x[i], tree)


def _stack(trees):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def train_sweep(configs, workdirs, *, deadline: float | None = None, log=print) -> dict:
    """Trains ``configs`` as one vmapped sweep, one run folder per config.

    Args:
      configs: ``ml_collections.ConfigDict`` training configs (the keys of
        ``experiments/configs``) that differ only in seed and objective hyperparameters.
      workdirs: one run folder per config.
      deadline: ``time.time()`` at which to stop early (checkpoint saved at the step
        reached), or None to train to ``num_steps``.
      log: where progress lines go.

    Returns:
      ``{"step", "seconds", "steps_per_s", "images_per_s", "compile_s"}`` of this call.

    Raises:
      ValueError: configs that cannot share one program, or a folder holding another run.
    """
    if len(configs) != len(workdirs):
        raise ValueError(f"got {len(configs)} configs and {len(workdirs)} workdirs")
    specs = [config_schema.validate(c) for c in configs]
    objective, swept = check_sweep(specs)
    workdirs = [pathlib.Path(w).absolute() for w in workdirs]
    for workdir, spec in zip(workdirs, specs, strict=True):
        config_schema.check_workdir(workdir, spec.resolved)
    first = specs[0]
    parts = config_schema.build(first)
    if not parts.sample_in_step:
        raise ValueError(f"sweeps sample inside the step; dataset {first.dataset!r} cannot")
    num = len(specs)
    mesh = par.make_mesh(1, devices=jax.local_devices()[:1])
    hyper = dict(parts.hyperparameters)
    for name in swept:
        hyper[name] = np.asarray([s.hyperparameters[name] for s in specs], np.float32)
    step_fn = loop.build_train_step(
        first, parts, mesh, hyperparameters=hyper, num_models=num, parallel="jit"
    )
    names = [w.name for w in workdirs]
    for workdir, spec in zip(workdirs, specs, strict=True):
        _write_config_json(workdir, spec, mesh, names)
    replicated = par.replicated_sharding(mesh)
    managers = [
        Checkpoints(w / "checkpoints", max_to_keep=first.keep_checkpoints) for w in workdirs
    ]
    writers = []
    t_start = time.perf_counter()
    try:
        init_one = jax.jit(step_fn.init_fn)
        common = set.intersection(*(set(m.steps()) for m in managers))
        if common:
            start = max(common)
            abstract = jax.eval_shape(step_fn.init_fn, jax.random.key(0))
            states = [m.restore(abstract, step=start)[0] for m in managers]
            log(f"sweep {names}: resuming from step {start}")
        else:
            start = 0
            states = [init_one(jax.random.key(s.seed)) for s in specs]
        state = jax.device_put(_stack(states), replicated)
        del states
        result = {
            "step": start,
            "seconds": 0.0,
            "compile_s": float("nan"),
            "steps_per_s": float("nan"),
            "images_per_s": float("nan"),
        }
        if start >= first.num_steps:
            log(f"sweep {names}: already trained to step {start}")
            return result
        writers = [
            Writer(w, num_steps=first.num_steps, start_step=start, interactive=False)
            for w in workdirs
        ]
        result = _loop(first, step_fn, state, start, managers, writers, names, log, deadline)
    finally:
        for m in managers:
            m.close()
        for w in writers:
            w.close()
    result["seconds"] = time.perf_counter() - t_start
    return result


def _loop(spec, step_fn, state, start, managers, writers, names, log, deadline) -> dict:
    num = len(managers)
    window: list[dict] = []
    step = start
    compile_s = float("nan")
    t0 = time.perf_counter()
    timed_from, timed_t = start, t0
    total_timed_steps, total_timed_s = 0, 0.0
    while step < spec.num_steps:
        state, metrics = step_fn(state)
        window.append(metrics)
        step += 1
        if step == start + 1:
            jax.block_until_ready(metrics)
            compile_s = time.perf_counter() - t0
            log(f"sweep {names}: first step done in {compile_s:.1f} s (compile included)")
            timed_from, timed_t, window = step, time.perf_counter(), []
            continue
        stop = deadline is not None and time.time() >= deadline
        if stop:
            log(f"sweep {names}: deadline reached at step {step}")
        log_now = step % spec.log_every == 0 or step == spec.num_steps or stop
        if log_now and window:
            host = jax.device_get(window)
            elapsed = time.perf_counter() - timed_t
            steps_per_s = (step - timed_from) / elapsed
            total_timed_steps += step - timed_from
            total_timed_s += elapsed
            for i, writer in enumerate(writers):
                scalars = {k: float(np.mean([np.asarray(m[k])[i] for m in host])) for k in host[-1]}
                if not all(np.isfinite(scalars.get(k, 0.0)) for k in ("loss", "grad_norm")):
                    raise FloatingPointError(
                        f"non-finite loss in sweep model {names[i]} before step {step}"
                    )
                scalars["steps_per_s"] = steps_per_s
                scalars["images_per_s"] = steps_per_s * spec.batch_size
                writer.write_scalars(step, scalars)
            losses = " ".join(
                f"{float(np.mean([np.asarray(m['loss'])[i] for m in host])):.1f}"
                for i in range(num)
            )
            log(
                f"sweep step {step}/{spec.num_steps}: loss {losses}; {steps_per_s:.2f} steps/s "
                f"({steps_per_s * spec.batch_size * num:.0f} images/s over {num} models)"
            )
            window, timed_from, timed_t = [], step, time.perf_counter()
        if step % spec.checkpoint_every == 0 or step == spec.num_steps or stop:
            for i, manager in enumerate(managers):
                manager.save(step, _take(state, i))
        if stop:
            break
    for manager in managers:
        manager.wait()
    rate = total_timed_steps / total_timed_s if total_timed_s > 0 else float("nan")
    return {
        "step": step,
        "compile_s": compile_s,
        "steps_per_s": rate,
        "images_per_s": rate * spec.batch_size * num,
    }
