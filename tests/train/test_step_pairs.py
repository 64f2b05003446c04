"""The train step on pair batches (weak supervision): layouts, host batches, sweeps, bad input,
and the `disentax train --config ada_gvae` job end to end with an exact resume.

The oracle is the plain single-device run: the pair batch, the two noise draws and the
initial parameters are the same in every layout, so a sharded (8 simulated CPU devices),
pmapped or vmapped step must reproduce it to float32 summation-order rounding.
"""

import json
import pathlib

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from disentax import data, models, runs
from disentax import parallel as par
from disentax.train import make_train_step, step_keys
from disentax.train.step_sampling import host_batch

BATCH = 16
DATASET = data.Identity((3, 4, 5, 6))  # 4 factors: [N,1,1,4] images


def tiny_vae(image_shape=DATASET.observation_shape):
    return models.VAE(
        models.FCEncoder(num_latents=4, hidden=(32,)),
        models.FCDecoder(image_shape=tuple(image_shape), hidden=(32,)),
    )


def make_step(num_devices, *, objective="group_vae", hyper=None, parallel="jit", **kw):
    return make_train_step(
        tiny_vae(),
        objective,
        optax.adam(1e-2),
        mesh=par.make_mesh(num_devices),
        dataset=DATASET,
        batch_size=BATCH,
        hyperparameters={"beta": 2.0, "k": -1, **(hyper or {})},
        parallel=parallel,
        **kw,
    )


def run(train_step, steps=2, key=0):
    state = train_step.init(jax.random.key(key))
    history = []
    for _ in range(steps):
        state, metrics = train_step(state)
        history.append(jax.device_get(metrics))
    return jax.device_get(train_step.unplace(state)), history


@pytest.mark.parametrize(
    ("objective", "aggregation", "layouts"),
    [("group_vae", "argmax", [(8, "jit"), (8, "pmap")]), ("ml_vae", "labels", [(8, "jit")])],
)
def test_pair_step_on_eight_devices_and_pmap_equals_one_device(objective, aggregation, layouts):
    hyper = {"aggregation": aggregation}
    base, base_hist = run(make_step(1, objective=objective, hyper=hyper))
    assert {"loss", "recon", "kl", "elbo", "apart", "grad_norm"} <= set(base_hist[-1])
    for num_devices, parallel in layouts:
        step = make_step(num_devices, objective=objective, hyper=hyper, parallel=parallel)
        other, hist = run(step)
        chex.assert_trees_all_close(other.params, base.params, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(hist[-1]["loss"], base_hist[-1]["loss"], rtol=1e-5)
        np.testing.assert_allclose(hist[-1]["apart"], base_hist[-1]["apart"], rtol=1e-6)


def test_host_pair_batches_equal_in_step_sampling():
    mesh = par.make_mesh()
    ts = make_step(8)
    inside, outside = ts.init(jax.random.key(5)), ts.init(jax.random.key(5))
    data_key = step_keys(ts.unplace(outside).key, 0)[0]
    for step in range(2):
        inside, m_in = ts(inside)
        batch = host_batch("pairs", DATASET, data_key, step, BATCH, par.data_sharding(mesh), k=-1)
        batch["factors"] = np.zeros((BATCH, 4), np.int32)  # extra entries are dropped
        outside, m_out = ts(outside, batch)
        np.testing.assert_allclose(m_in["loss"], m_out["loss"], rtol=1e-6)
    chex.assert_trees_all_close(inside.params, outside.params, rtol=1e-6, atol=1e-7)


def test_sweep_over_beta_equals_its_single_runs():
    betas = np.array([1.0, 8.0], np.float32)
    sweep = make_step(2, hyper={"beta": betas}, num_models=2, sweep_mode="vmap")
    state = sweep.init(jnp.stack([jax.random.key(0)] * 2))
    for _ in range(2):
        state, metrics = sweep(state)
    assert metrics["loss"].shape == (2,)
    # the second model (β = 8) follows its single-model run; the first (β = 1) differs
    single, _ = run(make_step(2, hyper={"beta": 8.0}))
    second = jax.tree.map(lambda x: x[1], state.params)
    chex.assert_trees_all_close(second, single.params, rtol=1e-5, atol=1e-6)
    first = jax.tree.map(lambda x: x[0], state.params)
    assert not np.allclose(
        first["vae"]["decoder"]["logits"]["kernel"], second["vae"]["decoder"]["logits"]["kernel"]
    )


def test_bad_pair_input_is_rejected_before_compiling():
    for k, match in [(0, "k must be -1"), (5, r"in \[1, 4\]"), (-3, "k must be -1")]:
        with pytest.raises(ValueError, match=match):
            make_step(1, hyper={"k": k})
    with pytest.raises(ValueError, match="needs at least 2 factors"):
        make_train_step(
            tiny_vae((1, 1, 3)),
            "group_vae",
            optax.sgd(1.0),
            mesh=par.make_mesh(1),
            dataset=data.Identity((3,)),
            batch_size=2,
        )

    class Images:  # an image collection without ground-truth factors
        observation_shape = (1, 1, 4)

    with pytest.raises(ValueError, match="ground-truth factors"):
        make_train_step(
            tiny_vae(),
            "ml_vae",
            optax.sgd(1.0),
            mesh=par.make_mesh(1),
            dataset=Images(),
            batch_size=2,
        )
    with pytest.raises(
        ValueError, match=r"configure the batch.*\['k'\]|\['k'\] configure the batch"
    ):
        make_step(1, hyper={"k": np.array([1, 2])}, num_models=2)
    ts = make_train_step(tiny_vae(), "group_vae", optax.sgd(1.0), mesh=par.make_mesh(1))
    assert ts.batch_keys == ("images", "images_2", "changed")
    with pytest.raises(ValueError, match="must be a mapping"):
        ts(None, np.zeros((2, 1, 1, 4), np.float32))
    with pytest.raises(ValueError, match=r"lacks the entries \['images_2', 'changed'\]"):
        ts(None, {"images": np.zeros((2, 1, 1, 4), np.float32)})


TINY = (
    "--config.model=fc",
    "--config.dataset=synthetic_identity",
    "--config.batch_size=8",
    "--config.num_latents=4",
    "--config.log_every=1",
    "--config.checkpoint_every=2",
    "--config.evaluate=False",
)


@pytest.mark.slow
def test_ada_gvae_job_trains_and_resumes_exactly(tmp_path):
    resumed, straight = tmp_path / "resumed", tmp_path / "straight"
    runs.run(runs.load_config("ada_gvae", [*TINY, "--config.num_steps=2"]), resumed)
    out = runs.run(runs.load_config("ada_gvae", [*TINY, "--config.num_steps=3"]), resumed)
    assert out["step"] == 3
    runs.run(runs.load_config("ada_gvae", [*TINY, "--config.num_steps=3"]), straight)
    a, b = runs.load(resumed), runs.load(straight)
    chex.assert_trees_all_equal(a.params, b.params)
    stored = json.loads((resumed / "config.json").read_text())["config"]["objective"]
    assert stored == {"name": "group_vae", "aggregation": "argmax", "beta": 1.0, "k": -1}
    rows = [json.loads(x) for x in pathlib.Path(resumed, "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3] and "apart" in rows[-1]
