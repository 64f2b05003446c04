"""A run folder written before the job layer existed still loads, resumes and evaluates.

``fixtures/run_0.1.0`` holds the ``config.json`` and ``metrics.jsonl`` that ``disentax
train`` of release 0.1.0 (commit 3776cf1, before ``disentax.runs``) wrote for a 6-step run
of the dense VAE on ``synthetic_identity``, verbatim. Its checkpoint (35 MB of parameters
and Adam moments) is not stored: the test saves a step-6 state of the same structure with
the checkpoint writer, which this change left as it was.
"""

import json
import pathlib
import shutil

import jax
import pytest

from disentax import runs
from disentax.runs import spec as run_spec
from disentax.runs.loading import abstract_state
from disentax.train import Checkpoints, create_train_state

FIXTURE = pathlib.Path(__file__).with_name("fixtures") / "run_0.1.0"


@pytest.fixture(scope="module")
def old_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("old") / "run"
    shutil.copytree(FIXTURE, folder)
    config = run_spec.read_config(runs.RunFolder(folder))
    parts = run_spec.build(run_spec.validate(config))
    state = create_train_state(
        jax.random.key(config.seed),
        parts.model,
        parts.tx,
        discriminator=parts.discriminator,
        discriminator_tx=parts.discriminator_tx,
    )
    state = state.replace(step=state.step + 6)
    checkpoints = Checkpoints(folder / "checkpoints", asynchronous=False)
    checkpoints.save(6, state)
    checkpoints.close()
    return folder


def test_the_fixture_is_what_release_0_1_0_wrote():
    record = json.loads((FIXTURE / "config.json").read_text())
    assert record["versions"]["disentax"] == "0.1.0"
    assert [
        json.loads(x)["step"] for x in (FIXTURE / "metrics.jsonl").read_text().splitlines()
    ] == [
        2,
        4,
        6,
    ]


def test_an_old_folder_loads_with_the_stored_config(old_folder):
    run = runs.load(old_folder)
    assert run.step == 6 and run.config.objective.name == "beta_tcvae"
    folder = runs.RunFolder(old_folder)
    parts = run_spec.build(run_spec.validate(run.config))
    shapes = abstract_state(parts, jax.random.key(0)).params["vae"]
    assert jax.tree.structure(shapes) == jax.tree.structure(run.params)
    assert folder.checkpoint_steps() == [6]


def test_an_old_folder_resumes_and_evaluates(old_folder):
    config = run_spec.read_config(runs.RunFolder(old_folder))
    with config.unlocked():
        config.num_steps = 8
    last = runs.train(config, old_folder)
    assert last["step"] == 8
    steps = [json.loads(x)["step"] for x in (old_folder / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6, 8]  # appended to the old log
    record = runs.evaluate(old_folder, metrics=["mig", "sap"], num_train=200, num_test=100)
    assert record["step"] == 8 and set(record["metrics"]) == {"mig", "sap"}
    # its 1x1x4 "images" cannot be drawn (as before); the report is rewritten from the files
    report = runs.write_report(old_folder, step=8).read_text()
    assert "beta_tcvae" in report and "mig" in report
