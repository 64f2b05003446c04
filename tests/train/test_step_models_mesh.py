"""A sweep on a models × data mesh: each device trains its share of the models, and every
model follows the trajectory it follows with the models replicated (8 simulated devices)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from disentax import data, models, parallel
from disentax.train import make_train_step

S = 8
BETAS = np.linspace(1.0, 8.0, S, dtype=np.float32)


def _step(mesh, sweep_mode):
    model = models.make_model("fc", num_latents=3, image_shape=(1, 1, 4))
    return make_train_step(
        model,
        "beta_vae",
        optax.adam(1e-3),
        mesh=mesh,
        dataset=data.get("synthetic_identity"),
        batch_size=8,
        hyperparameters={"beta": BETAS},
        num_models=S,
        sweep_mode=sweep_mode,
    )


def _train(train_step, num_steps=3):
    init_one = jax.jit(train_step.init_fn)
    states = [init_one(jax.random.key(seed)) for seed in range(S)]
    state = train_step.place(jax.tree.map(lambda *xs: jnp.stack(xs), *states))
    for _ in range(num_steps):
        state, metrics = train_step(state)
    return state, metrics


def _flat(state):
    return np.concatenate([np.asarray(x).reshape(S, -1) for x in jax.tree.leaves(state.params)], 1)


@pytest.fixture(scope="module")
def replicated():
    state, metrics = _train(_step(parallel.make_mesh(1), "vmap"))
    return _flat(state), np.asarray(metrics["loss"])


@pytest.mark.slow
@pytest.mark.parametrize(("shape", "sweep_mode"), [((8, 1), "vmap"), ((4, 2), "vmap"),
                                                   ((4, 2), "unrolled")])  # fmt: skip
def test_each_model_follows_its_replicated_trajectory(replicated, shape, sweep_mode):
    flat, loss = replicated
    mesh = parallel.make_model_mesh(*shape)
    state, metrics = _train(_step(mesh, sweep_mode))
    kernel = state.params["vae"]["encoder"]["mean"]["kernel"]
    assert kernel.sharding.spec[0] == "models"
    assert kernel.addressable_shards[0].data.shape[0] == S // shape[0]  # each device: S/m
    np.testing.assert_allclose(np.asarray(metrics["loss"]), loss, rtol=1e-5)
    # Only the batch sum's order differs (data axis 2): Adam's first steps move weights
    # whose gradient is near 0 by ~lr * sign, so almost all agree tightly, not all.
    diff = np.abs(_flat(state) - flat)
    assert np.mean(diff > 1e-5) < 1e-3 and np.median(diff) < 1e-7
    between = np.abs(flat[0] - flat[1])  # the models differ from each other (seed, beta)
    assert np.mean(between > 1e-4) > 0.5


def test_models_that_do_not_split_over_the_mesh_are_refused():
    model = models.make_model("fc", num_latents=3, image_shape=(1, 1, 4))
    with pytest.raises(ValueError, match="num_models=6 does not split over the mesh's 8"):
        make_train_step(model, "beta_vae", optax.adam(1e-3), mesh=parallel.make_model_mesh(),
                        dataset=data.get("synthetic_identity"), batch_size=8,
                        hyperparameters={"beta": BETAS[:6]}, num_models=6)  # fmt: skip
    with pytest.raises(ValueError, match="runs sweeps"):
        make_train_step(model, "beta_vae", optax.adam(1e-3), mesh=parallel.make_model_mesh())


def test_model_mesh_shapes_are_checked():
    with pytest.raises(ValueError, match="3 x 2 does not fit the 8 devices"):
        parallel.make_model_mesh(3)
    assert parallel.make_model_mesh(data=2).shape == {"models": 4, "data": 2}
