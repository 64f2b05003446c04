"""The training job in-process: run folder, resume (bit-identical), refusal of a different
config, bad configs before anything is written, corrupt checkpoints, non-finite loss.

Runs are tiny: the reference FC model on the 4-dimensional synthetic dataset, batch 8,
a few steps, on the 8 simulated CPU devices of the test harness.
"""

import json
import pathlib
import shutil

import chex
import jax
import ml_collections
import numpy as np
import pytest

from disentax import runs
from disentax.runs import NonFiniteLossError
from disentax.train.writer import read_events


def read_metrics(workdir):
    lines = (pathlib.Path(workdir) / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def snapshot(workdir):
    """Every file of a folder with its bytes (to prove nothing was touched)."""
    root = pathlib.Path(workdir)
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def trained(tiny_config, tmp_path_factory):
    """A 6-step run, then the same run continued to 9 steps."""
    workdir = tmp_path_factory.mktemp("run")
    first = runs.run(tiny_config(), workdir)
    after_six = snapshot(workdir)
    resumed = runs.run(tiny_config("--config.num_steps=9"), workdir)
    return {"workdir": workdir, "first": first, "resumed": resumed, "after_six": after_six}


def test_run_folder_layout(trained):
    workdir = trained["workdir"]
    assert trained["first"]["step"] == 6
    stored = json.loads((workdir / "config.json").read_text())
    assert stored["config"]["objective"] == {
        "name": "beta_tcvae",
        "beta": 6.0,
        "estimator": "mws",
        "dataset_size": None,
    }
    assert stored["config"]["num_steps"] == 9  # the continued run's length
    assert {"jax", "flax", "optax", "orbax-checkpoint", "python"} <= set(stored["versions"])
    assert stored["devices"]["count"] == 8 and stored["devices"]["mesh"] == {"data": 8}
    records = read_metrics(workdir)
    assert [r["step"] for r in records] == [2, 4, 6, 8, 9]
    for record in records:
        assert {"loss", "recon", "kl", "tc", "elbo", "steps_per_s", "images_per_s"} <= set(record)
        assert np.isfinite(record["loss"])
    assert "time_to_first_step_s" in records[0]
    tensorboard = {}
    for path in (workdir / "tensorboard").glob("events.out.tfevents.*"):
        for event in read_events(path):  # one event per scalar and step
            tensorboard.setdefault(event["step"], {}).update(event["scalars"])
    tensorboard = {step: scalars for step, scalars in tensorboard.items() if scalars}
    assert sorted(tensorboard) == [r["step"] for r in records]
    for record in records:
        assert tensorboard[record["step"]]["loss"] == pytest.approx(record["loss"], rel=1e-6)
    steps = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    assert steps == [3, 6, 9]


def test_resumed_run_is_bit_identical_to_an_uninterrupted_one(tiny_config, trained, tmp_path):
    assert trained["resumed"]["step"] == 9
    runs.run(tiny_config("--config.num_steps=9"), tmp_path)
    resumed, straight = runs.load(trained["workdir"]), runs.load(tmp_path)
    assert resumed.step == straight.step == 9
    chex.assert_trees_all_equal(resumed.params, straight.params)
    # the logged scalars after the resume point match too
    assert read_metrics(trained["workdir"])[-1]["loss"] == read_metrics(tmp_path)[-1]["loss"]


def test_finished_run_started_again_does_nothing(tiny_config, trained, capsys):
    before = snapshot(trained["workdir"])
    out = runs.run(tiny_config("--config.num_steps=9"), trained["workdir"])
    assert out["step"] == 9
    assert "already trained to step 9" in capsys.readouterr().out
    after = snapshot(trained["workdir"])
    assert {k: v for k, v in after.items() if k != "config.json"} == {
        k: v for k, v in before.items() if k != "config.json"
    }


def test_load_run_contract(trained):
    run = runs.load(trained["workdir"], step=6)
    assert run.step == 6
    assert run.config.objective.name == "beta_tcvae"
    assert run.model.num_latents == 4
    assert run.dataset.observation_shape == (1, 1, 4)
    assert set(run.params) == {"encoder", "decoder"}
    with pytest.raises(FileNotFoundError, match="no checkpoint for step 5"):
        runs.load(trained["workdir"], step=5)


def test_load_run_of_a_folder_without_run_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        runs.load(tmp_path)


def test_workdir_of_a_different_config_is_refused_untouched(tiny_config, trained):
    before = snapshot(trained["workdir"])
    with pytest.raises(ValueError, match=r"different config \(learning_rate: workdir has 0.001"):
        runs.run(tiny_config("--config.learning_rate=0.01"), trained["workdir"])
    assert snapshot(trained["workdir"]) == before


def _with(config, **changes):
    d = config.to_dict()
    d.update(changes)
    return ml_collections.ConfigDict(d)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"mdoel": "fc"}, r"unknown keys \['mdoel'\]"),
        ({"model": "resnet"}, "config.model 'resnet' is unknown"),
        ({"dataset": "mnist"}, "config.dataset 'mnist' is unknown"),
        ({"objective": {"name": "vae"}}, "config.objective.name 'vae' is unknown"),
        ({"objective": {"name": "beta_vae", "beta": -1.0}}, "beta"),
        ({"objective": {"name": "beta_vae", "gamma": 1.0}}, "gamma"),
        ({"batch_size": 12}, r"config.batch_size=12 is not divisible by the device count 8"),
        ({"parallel": "pjit"}, "config.parallel"),
        ({"num_steps": 0}, "config.num_steps"),
        ({"eval_sizes": "huge"}, "config.eval_sizes"),
    ],
)
def test_bad_config_fails_before_anything_is_written(tiny_config, tmp_path, changes, match):
    workdir = tmp_path / "run"
    with pytest.raises(ValueError, match=match):
        runs.run(_with(tiny_config(), **changes), workdir)
    assert not workdir.exists()


def test_corrupt_latest_checkpoint_falls_back_to_the_previous(
    tiny_config, trained, tmp_path, capsys
):
    workdir = tmp_path / "copy"
    shutil.copytree(trained["workdir"], workdir)
    for path in (workdir / "checkpoints" / "9").rglob("*"):
        if path.is_file():
            path.write_bytes(b"\0garbage")
    assert runs.load(workdir).step == 6  # read-only: reported, left in place
    assert "checkpoint 9" in capsys.readouterr().err
    assert (workdir / "checkpoints" / "9").exists()
    # a training run sets it aside (not deleted), resumes from 6 and saves 9 again
    runs.run(tiny_config("--config.num_steps=9"), workdir)
    assert list((workdir / "checkpoints_corrupt").iterdir())[0].name.startswith("9-")
    chex.assert_trees_all_equal(runs.load(workdir).params, runs.load(trained["workdir"]).params)


def test_non_finite_loss_names_step_and_last_good_checkpoint(tiny_config, tmp_path):
    # Adam moves every parameter by ~learning_rate in its first step: 1e30 overflows the
    # second forward pass, so the loss of step 2 is the first non-finite one.
    config = tiny_config("--config.learning_rate=1e30", "--config.checkpoint_every=1")
    with pytest.raises(NonFiniteLossError, match="step 2.*last good checkpoint is step 1") as err:
        runs.run(config, tmp_path)
    assert (err.value.step, err.value.last_good_checkpoint) == (2, 1)
    assert runs.load(tmp_path).step == 1  # intact, and no checkpoint of the bad step
    assert not (tmp_path / "checkpoints" / "2").exists()
    leaves = jax.tree.leaves(runs.load(tmp_path).params)
    assert all(np.isfinite(np.asarray(x)).all() for x in leaves)


def test_pmap_run_matches_the_jit_run(tiny_config, trained, tmp_path):
    config = tiny_config("--config.parallel=pmap", "--config.num_steps=3")
    runs.run(config, tmp_path)
    pmapped, jitted = runs.load(tmp_path), runs.load(trained["workdir"], step=3)
    assert pmapped.step == 3
    # Adam divides each gradient by its running RMS: a weight whose gradient is at the
    # level of float rounding (summed in another order by pmap) can move by a fraction of
    # the learning rate (1e-3) differently. Nearly all weights agree to 1e-6.
    chex.assert_trees_all_close(pmapped.params, jitted.params, rtol=1e-5, atol=1e-4)
    a = np.concatenate([np.ravel(x) for x in jax.tree.leaves(pmapped.params)])
    b = np.concatenate([np.ravel(x) for x in jax.tree.leaves(jitted.params)])
    assert np.mean(np.abs(a - b) <= 1e-6 + 1e-5 * np.abs(b)) > 0.9999
