"""The train step on labelled batches (semi-supervised): layouts, bad input, and the
`disentax train --config s2_beta_vae` job end to end with an exact resume.

The oracle is the plain single-device run: the labelled subset, the batches, the noise
and the initial parameters are the same in every layout, so a sharded (8 simulated CPU
devices) or pmapped step must reproduce it to float32 summation-order rounding.
"""

import json
import pathlib

import chex
import jax
import numpy as np
import optax
import pytest

from disentax import data, models, runs
from disentax import parallel as par
from disentax.train import make_train_step

BATCH = 16
DATASET = data.Identity((3, 4, 5, 6))  # 4 factors: [N,1,1,4] images


def tiny_vae(image_shape=DATASET.observation_shape):
    return models.VAE(
        models.FCEncoder(num_latents=4, hidden=(32,)),
        models.FCDecoder(image_shape=tuple(image_shape), hidden=(32,)),
    )


def make_step(num_devices, *, objective="s2_beta_vae", hyper=None, dataset=DATASET, **kw):
    return make_train_step(
        tiny_vae(),
        objective,
        optax.adam(1e-2),
        mesh=par.make_mesh(num_devices),
        dataset=dataset,
        batch_size=BATCH,
        hyperparameters={"num_labels": 40, **(hyper or {})},
        **kw,
    )


def run(train_step, steps=2):
    state = train_step.init(jax.random.key(0))
    history = []
    for _ in range(steps):
        state, metrics = train_step(state)
        history.append(jax.device_get(metrics))
    return jax.device_get(train_step.unplace(state)), history


@pytest.mark.slow  # three compiles of the step
def test_semi_step_on_eight_devices_and_pmap_equals_one_device():
    objective, layouts = "s2_beta_vae", [(8, "jit"), (8, "pmap")]
    hyper = {"regulariser": "cov", "labeller": "partial", "num_observed_factors": 3}
    base, base_hist = run(make_step(1, objective=objective, hyper=hyper))
    assert {"loss", "recon", "kl", "supervised/loss", "grad_norm"} <= set(base_hist[-1])
    assert np.isfinite(base_hist[-1]["loss"])
    for num_devices, parallel in layouts:
        other, hist = run(
            make_step(num_devices, objective=objective, hyper=hyper, parallel=parallel)
        )
        chex.assert_trees_all_close(other.params, base.params, rtol=1e-5, atol=1e-6)
        for key in ("loss", "supervised/loss"):
            np.testing.assert_allclose(hist[-1][key], base_hist[-1][key], rtol=1e-5)


def test_s2_factor_vae_trains_its_discriminator_on_the_unlabelled_codes():
    step = make_step(
        1,
        objective="s2_factor_vae",
        discriminator=models.make_discriminator(4),
        discriminator_tx=optax.adam(1e-4, b1=0.5, b2=0.9),
    )
    state, history = run(step)
    assert {"discriminator/loss", "tc", "supervised/loss"} <= set(history[-1])
    assert all(np.isfinite(v) for v in history[-1].values())
    start = jax.device_get(step.init(jax.random.key(0)))
    moved = jax.tree.map(lambda a, b: float(np.abs(a - b).max()), state.params, start.params)
    assert max(jax.tree.leaves(moved["discriminator"])) > 0  # both parts were updated
    assert max(jax.tree.leaves(moved["vae"])) > 0


def test_learned_regulariser_parameters_live_in_the_vae_tree_and_train():
    l2 = make_step(1, hyper={"regulariser": "l2"}).abstract_state(jax.random.key(0))
    assert l2.params["vae"]["objective"]["scale"].shape == ()  # the reference's b
    assert "objective" in l2.opt_state["vae"][0].mu  # Adam's moments cover it
    step = make_step(1, hyper={"regulariser": "embed", "learn_sigma": True})
    start = jax.device_get(step.init(jax.random.key(0))).params["vae"]["objective"]
    assert start["embedding"].shape == (4, 6) and start["sigma"].shape == (4,)
    state, history = run(step)
    after = state.params["vae"]["objective"]
    for name in ("embedding", "sigma"):
        assert not np.allclose(after[name], start[name]), name
    assert np.isfinite(history[-1]["supervised/loss"])
    plain = make_step(1, objective="s2_beta_vae").abstract_state(jax.random.key(0))
    assert "objective" not in plain.params["vae"]  # xent: nothing learned, no entry


def test_bad_semi_input_is_rejected_before_compiling():
    cases = [
        ({"num_labels": 361}, "num_labels must be at most the dataset's 360 grid points"),
        ({"num_labels": 0}, "num_labels must be a positive int"),
        ({"labeller": "oracle"}, "labeller must be one of"),
        ({"regulariser": "mse"}, "regulariser must be one of"),
        ({"annealer": "cosine"}, "annealer must be one of"),
        (
            {"labeller": "partial", "num_observed_factors": 5},
            r"num_observed_factors must be in \[1, 4\]",
        ),
    ]
    for hyper, match in cases:
        with pytest.raises(ValueError, match=match):
            make_step(1, hyper=hyper)

    class Images:  # an image collection without ground-truth factors
        observation_shape = (1, 1, 4)

    with pytest.raises(ValueError, match="ground-truth factors"):
        make_step(1, dataset=Images())


TINY = (
    "--config.model=fc",
    "--config.dataset=synthetic_identity",
    "--config.batch_size=8",
    "--config.num_latents=4",
    "--config.log_every=1",
    "--config.checkpoint_every=2",
    "--config.evaluate=False",
    "--config.objective.num_labels=20",
    "--config.objective.regulariser=embed",  # learned parameters: checkpointed and resumed
    "--config.objective.learn_sigma=True",
)


@pytest.mark.slow
def test_s2_beta_vae_job_trains_and_resumes_exactly(tmp_path):
    resumed, straight = tmp_path / "resumed", tmp_path / "straight"
    runs.run(runs.load_config("s2_beta_vae", [*TINY, "--config.num_steps=2"]), resumed)
    out = runs.run(runs.load_config("s2_beta_vae", [*TINY, "--config.num_steps=3"]), resumed)
    assert out["step"] == 3
    runs.run(runs.load_config("s2_beta_vae", [*TINY, "--config.num_steps=3"]), straight)
    a, b = runs.load(resumed), runs.load(straight)
    chex.assert_trees_all_equal(a.params, b.params)
    assert sorted(a.params["objective"]) == ["embedding", "sigma"]
    stored = json.loads((resumed / "config.json").read_text())["config"]["objective"]
    assert stored["name"] == "s2_beta_vae" and stored["num_labels"] == 20
    rows = [json.loads(x) for x in pathlib.Path(resumed, "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3] and "supervised/loss" in rows[-1]
