"""The train step: layouts (1 vs 8 devices vs pmap), FactorVAE's two-part update, sweeps,
in-step vs host sampling, randomness and bad input.

The oracle throughout is the plain single-device run of the same update: a sharded or
vmapped step must reproduce it (to float32 summation-order rounding), because the global
batch, the noise and the initial parameters are the same.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from disentax import data, losses, models
from disentax import parallel as par
from disentax.data import sampling
from disentax.train import create_train_state, make_train_step, step_keys
from disentax.train.state import split_init_keys

BATCH = 16
# Known-answer vectors [N,1,1,4] keep compilation cheap; dSprites (rendered inside the
# step) is used where the data path itself is under test.
DATASET = data.get("synthetic_identity")
DSPRITES = data.get("dsprites")


def tiny_vae(num_latents=4, image_shape=DATASET.observation_shape):
    """The reference FC architecture with narrow layers (same code path, tiny cost)."""
    return models.VAE(
        models.FCEncoder(num_latents=num_latents, hidden=(32,)),
        models.FCDecoder(image_shape=tuple(image_shape), hidden=(32,)),
    )


def tiny_discriminator(num_latents=4):
    return models.make_discriminator(num_latents, hidden=16, num_layers=2)


def train(
    num_devices,
    *,
    parallel="jit",
    objective="beta_tcvae",
    hyper=None,
    steps=3,
    tx=None,
    factor=False,
    disc_tx=None,
    seed=0,
    batch=None,
    key=None,
):
    mesh = par.make_mesh(num_devices)
    kw = {}
    if factor:
        kw = {"discriminator": tiny_discriminator(), "discriminator_tx": disc_tx or optax.sgd(0.1)}
    ts = make_train_step(
        tiny_vae(),
        objective,
        tx or optax.sgd(1e-2),
        mesh=mesh,
        dataset=DATASET,
        batch_size=BATCH,
        hyperparameters=hyper or {},
        parallel=parallel,
        **kw,
    )
    state = ts.init(jax.random.key(seed) if key is None else key)
    history = []
    for _ in range(steps):
        state, metrics = ts(state, batch)
        history.append(jax.device_get(metrics))
    return jax.device_get(ts.unplace(state)), history


def assert_trees_close(a, b, rtol=1e-5, atol=1e-6):
    chex.assert_trees_all_close(a, b, rtol=rtol, atol=atol)


def test_initial_state_is_init_params_in_one_program():
    model = tiny_vae()
    key = jax.random.key(3)
    state = create_train_state(key, model, optax.adam(1e-3))
    expected = models.init_params(model, split_init_keys(key)[0])
    # same initialisers and keys; the state's init is compiled at -O0, which may round
    # the initialisers' float arithmetic differently by an ulp
    assert_trees_close(state.params["vae"], expected, rtol=1e-6, atol=1e-7)
    assert int(state.step) == 0 and set(state.params) == {"vae"}


def test_one_device_eight_devices_and_pmap_give_the_same_parameters():
    # beta-TCVAE's MWS estimator couples every pair of rows of the global batch: a layout
    # that split the batch term per device would differ already after one step.
    base, base_hist = train(1, hyper={"beta": 6.0})
    for num_devices, parallel in [(8, "jit"), (8, "pmap")]:
        other, hist = train(num_devices, parallel=parallel, hyper={"beta": 6.0})
        assert_trees_close(other.params, base.params)
        np.testing.assert_allclose(hist[-1]["tc"], base_hist[-1]["tc"], rtol=1e-5)
        assert int(other.step) == 3


def test_factor_vae_layouts_agree():
    base, hist = train(1, objective="factor_vae", factor=True, hyper={"gamma": 10.0}, steps=2)
    assert {"discriminator/loss", "tc", "recon", "kl", "elbo", "loss"} <= set(hist[-1])
    for num_devices, parallel in [(8, "jit"), (8, "pmap")]:
        other, _ = train(
            num_devices,
            parallel=parallel,
            objective="factor_vae",
            factor=True,
            hyper={"gamma": 10.0},
            steps=2,
        )
        assert_trees_close(other.params, base.params)


def test_factor_vae_parts_do_not_leak_into_each_other():
    # Three models with the same seed and gamma = 0, 10, 50, one step. The discriminator
    # is trained on detached z from the pre-update VAE: its update cannot depend on gamma.
    # With gamma = 0 the VAE's update is recon + kl alone: beta-VAE with beta = 1.
    gammas = np.array([0.0, 10.0, 50.0], np.float32)
    mesh = par.make_mesh(1)
    sweep = make_train_step(
        tiny_vae(),
        "factor_vae",
        optax.sgd(1e-2),
        mesh=mesh,
        dataset=DATASET,
        batch_size=BATCH,
        hyperparameters={"gamma": gammas},
        num_models=3,
        discriminator=tiny_discriminator(),
        discriminator_tx=optax.sgd(1.0),
    )
    state = sweep.init(jnp.stack([jax.random.key(0)] * 3))
    initial_disc = jax.device_get(state.params["discriminator"])
    state, _ = sweep(state, None)
    disc = jax.device_get(state.params["discriminator"])
    for i in (1, 2):
        chex.assert_trees_all_equal(
            jax.tree.map(lambda x, i=i: x[i], disc), jax.tree.map(lambda x: x[0], disc)
        )
    assert not np.allclose(disc["logits"]["kernel"], initial_disc["logits"]["kernel"])
    vae = jax.device_get(state.params["vae"])
    assert not np.allclose(vae["encoder"]["mean"]["kernel"][1], vae["encoder"]["mean"]["kernel"][2])
    plain, _ = train(
        1,
        objective="beta_vae",
        hyper={"beta": 1.0},
        steps=1,
        seed=0,
    )
    assert_trees_close(jax.tree.map(lambda x: x[0], vae), plain.params["vae"], 1e-6, 1e-7)


@pytest.mark.parametrize("sweep_mode", ["vmap", "unrolled"])
def test_sweep_trajectories_equal_their_single_model_runs(sweep_mode):
    seeds, betas = [0, 1, 2], np.array([1.0, 4.0, 10.0], np.float32)
    mesh = par.make_mesh(2)
    sweep = make_train_step(
        tiny_vae(),
        "beta_tcvae",
        optax.adam(1e-2),
        mesh=mesh,
        dataset=DATASET,
        batch_size=BATCH,
        hyperparameters={"beta": betas, "estimator": "mws"},
        num_models=3,
        sweep_mode=sweep_mode,
    )
    state = sweep.init(jax.vmap(jax.random.key)(jnp.asarray(seeds)))
    losses_per_step = []
    for _ in range(3):
        state, metrics = sweep(state, None)
        losses_per_step.append(np.asarray(metrics["loss"]))
    assert losses_per_step[-1].shape == (3,)
    for i, (seed, beta) in enumerate(zip(seeds, betas, strict=True)):
        single, hist = train(2, hyper={"beta": float(beta)}, tx=optax.adam(1e-2), seed=seed)
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], state.params), single.params)
        np.testing.assert_allclose(
            [h[i] for h in losses_per_step], [h["loss"] for h in hist], rtol=1e-5
        )


def test_in_step_sampling_equals_the_host_pipeline_batch():
    # dSprites rendered inside the sharded step is the batch that the host pipeline
    # (disentax.data.sampling.global_batch) builds from the data key of step_keys.
    mesh = par.make_mesh()
    vae = tiny_vae(image_shape=DSPRITES.observation_shape)
    ts = make_train_step(
        vae, "beta_vae", optax.sgd(1e-3), mesh=mesh, dataset=DSPRITES, batch_size=BATCH
    )
    key = jax.random.key(5)
    inside = ts.init(key)
    outside = ts.init(key)
    data_key = step_keys(outside.key, 0)[0]  # the state key's data stream
    for step in range(2):
        inside, m_in = ts(inside, None)
        batch = sampling.global_batch(DSPRITES, data_key, step, BATCH, par.data_sharding(mesh))
        outside, m_out = ts(outside, batch)
        # same images and noise: equal up to XLA fusing the rendering into the step
        np.testing.assert_allclose(m_in["loss"], m_out["loss"], rtol=1e-6)
    assert_trees_close(inside.params, outside.params)


def counting(name):
    """``(objective, calls)``: the objective ``name``, appending to ``calls`` when traced."""
    calls = []
    objective = losses.OBJECTIVES[name]

    def counting_objective(images, out, **kw):
        calls.append(1)  # runs at trace time only
        return objective(images, out, **kw)

    return counting_objective, calls


def test_step_compiles_once_and_draws_fresh_noise_each_step():
    counting_objective, calls = counting("beta_vae")
    mesh = par.make_mesh()
    ts = make_train_step(
        tiny_vae(), counting_objective, optax.sgd(0.0), mesh=mesh, dataset=DATASET, batch_size=BATCH
    )
    state = ts.init(jax.random.key(0))
    seen = []
    for _ in range(4):
        state, metrics = ts(state, None)
        seen.append(float(metrics["loss"]))
    assert len(calls) == 1
    # learning rate 0: params fixed, so differing losses come from fold_in(key, step)
    assert len(set(seen)) == 4


@pytest.mark.parametrize("parallel", ["jit", "pmap"])
def test_the_host_batch_program_compiles_ahead_and_runs_the_batches(parallel):
    counting_objective, calls = counting("beta_vae")
    mesh = par.make_mesh()
    ts = make_train_step(tiny_vae(), counting_objective, optax.sgd(0.1), mesh=mesh,
                         parallel=parallel)  # fmt: skip
    shape = (BATCH, *DATASET.observation_shape)
    abstract = {
        "images": jax.ShapeDtypeStruct(shape, jnp.float32, sharding=par.data_sharding(mesh))
    }
    ts.precompile(jax.random.key(0), abstract)()
    assert len(calls) == 1
    images, _ = sampling.global_batch(DATASET, jax.random.key(1), 0, BATCH, par.data_sharding(mesh))
    state, metrics = ts(ts.init(jax.random.key(0)), images)
    assert len(calls) == 1  # the batch ran the program compiled ahead of time
    plain = make_train_step(tiny_vae(), "beta_vae", optax.sgd(0.1), mesh=mesh, parallel=parallel)
    _, expected = plain(plain.init(jax.random.key(0)), images)
    np.testing.assert_allclose(metrics["loss"], expected["loss"], rtol=1e-6)


def test_bad_input_is_rejected_before_compiling():
    mesh = par.make_mesh()
    with pytest.raises(ValueError, match="batch_size=12 is not divisible by the device count 8"):
        make_train_step(
            tiny_vae(), "beta_vae", optax.sgd(1.0), mesh=mesh, dataset=DATASET, batch_size=12
        )
    with pytest.raises(ValueError, match="objective 'nope' is unknown"):
        make_train_step(tiny_vae(), "nope", optax.sgd(1.0), mesh=mesh)
    with pytest.raises(ValueError, match=r"'beta' must be a scalar or shape \(3,\)"):
        make_train_step(
            tiny_vae(),
            "beta_vae",
            optax.sgd(1.0),
            mesh=mesh,
            hyperparameters={"beta": [1.0, 2.0]},
            num_models=3,
        )
    with pytest.raises(ValueError, match="parallel"):
        make_train_step(tiny_vae(), "beta_vae", optax.sgd(1.0), mesh=mesh, parallel="pjit")
    with pytest.raises(ValueError, match="sweep_mode must be 'vmap', 'unrolled' or None"):
        make_train_step(tiny_vae(), "beta_vae", optax.sgd(1.0), mesh=mesh, sweep_mode="scan")
    with pytest.raises(ValueError, match="together"):
        make_train_step(
            tiny_vae(), "factor_vae", optax.sgd(1.0), mesh=mesh, discriminator=tiny_discriminator()
        )
    ts = make_train_step(tiny_vae(), "beta_vae", optax.sgd(1.0), mesh=mesh)
    with pytest.raises(ValueError, match="without a dataset"):
        ts(None, None)
    with pytest.raises(ValueError, match="not divisible"):
        ts(None, np.zeros((12, 64, 64, 1), np.float32))
