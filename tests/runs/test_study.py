"""Studies: the spec's grid as models, training by groups, resume, evaluation, analysis."""

import json

import jax
import numpy as np
import pytest

from disentax import runs
from disentax.runs.study import load_study_spec, plan, run_study, study_status


def test_the_reference_grid_has_72_models_at_two_seeds():
    spec = load_study_spec("locatello2019", ["--config.num_seeds=2", "--config.num_steps=20"])
    models = plan(spec)
    assert len(models) == 6 * 6 * 2 and len({m.name for m in models}) == 72
    groups = {m.group for m in models}
    assert groups == {("dsprites", o) for o in spec.objectives.split(",")}
    annealed = next(m for m in models if m.objective == "annealed_vae")
    assert annealed.config["objective"] == {
        "name": "annealed_vae", "c_max": 5.0, "gamma": 1000.0, "iteration_threshold": 100000
    }  # fmt: skip
    assert annealed.config["num_steps"] == 20 and annealed.config["evaluate"] is False


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("--config.objectives=beta_vae,nope", "unknown objective 'nope'"),
        ("--config.datasets=nowhere", "unknown dataset 'nowhere'"),
        ("--config.seeds=0,-1", "seeds must be distinct and >= 0"),
        ("--config.seeds=3,3", "seeds must be distinct"),
        ("--config.num_seeds=0", "num_seeds must be an int >= 1"),
        ("--config.objectives=beta_vae,beta_vae", "names one twice"),
        ("--config.grid.beta_vae.values=(-1.0,)", "beta"),
        ("--config.batch_size=0", "batch_size"),
    ],
)
def test_bad_specs_are_named_before_anything_runs(override, match):
    spec = load_study_spec("tiny", [override])
    with pytest.raises(ValueError, match=match):
        plan(spec)


def test_an_unknown_spec_key_or_name_is_refused():
    with pytest.raises(ValueError, match="no key 'num_seed'"):
        load_study_spec("tiny", ["--config.num_seed=2"])
    with pytest.raises(FileNotFoundError, match="locatello2019"):
        load_study_spec("nope")


def _params(folder):
    loaded = runs.load(folder)
    return np.concatenate([np.ravel(x) for x in jax.tree.leaves(loaded.params)])


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    spec = load_study_spec("tiny", ["--config.metrics=mig,unsupervised"])
    lines = []
    result = run_study(spec, root, log=lines.append)
    return spec, root, result, lines


@pytest.mark.slow
def test_a_study_trains_evaluates_and_analyses_every_model(tiny_study):
    spec, root, result, _ = tiny_study
    assert result["models"] == result["trained"] == result["evaluated"] == 8
    status = study_status(root)
    assert all(r["step"] == 20 and r["evaluated"] for r in status)
    stored = json.loads((root / "models" / status[0]["model"] / "config.json").read_text())
    assert stored["devices"]["count"] == jax.device_count() == 8  # models split over 8 devices
    assert stored["devices"]["mesh"] == {"models": 8, "data": 1}  # the study's default split
    record = json.loads((root / "models" / status[0]["model"] / "evaluation.json").read_text())
    assert "mig" in record["metrics"]
    table = (root / "analysis" / "study.csv").read_text().splitlines()
    assert len(table) > 8 and table[0].startswith("model,dataset,objective")
    assert "data:image/png;base64," in (root / "analysis" / "study.html").read_text()


def test_run_again_trains_nothing_and_another_spec_is_refused(tiny_study):
    spec, root, _, _ = tiny_study
    lines = []
    again = run_study(spec, root, log=lines.append, analyse=False)
    assert again["trained"] == 8 and not [line for line in lines if "training" in line]
    other = load_study_spec("tiny", ["--config.metrics=mig,unsupervised",
                                     "--config.learning_rate=0.01"])  # fmt: skip
    with pytest.raises(ValueError, match="another spec: config.learning_rate"):
        run_study(other, root, log=lines.append)


def test_a_model_folder_changed_by_hand_is_refused(tiny_study, tmp_path):
    spec, root, _, _ = tiny_study
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    name = study_status(copy)[0]["model"]
    path = copy / "models" / name / "config.json"
    stored = json.loads(path.read_text())
    stored["config"]["num_latents"] = 7
    path.write_text(json.dumps(stored))
    with pytest.raises(ValueError, match="num_latents"):
        run_study(spec, copy, log=lambda _: None)


@pytest.mark.slow
def test_an_interrupted_study_resumes_to_the_same_parameters(tiny_study, tmp_path):
    _, root, _, _ = tiny_study
    spec = load_study_spec("tiny", ["--config.metrics=mig,unsupervised",
                                    "--config.objectives=beta_vae"])  # fmt: skip
    stopped = run_study(spec, tmp_path, log=lambda _: None, stop_fn=lambda step: step >= 10,
                        analyse=False)  # fmt: skip
    assert stopped["trained"] == 0
    assert {r["step"] for r in study_status(tmp_path)} <= {0, 10}
    run_study(spec, tmp_path, log=lambda _: None, analyse=False)
    for row in study_status(tmp_path):
        np.testing.assert_array_equal(
            _params(tmp_path / "models" / row["model"]), _params(root / "models" / row["model"])
        )


def test_the_study_command_runs_reports_status_and_analyses(tiny_study, capsys):
    from disentax import cli

    _, root, _, _ = tiny_study
    args = ["--config", "tiny", "--config.metrics=mig,unsupervised", "--workdir", str(root)]
    assert cli.main(["study", "run", *args]) == 0  # done already: trains nothing
    assert cli.main(["study", "status", str(root)]) == 0
    assert cli.main(["study", "analyse", str(root)]) == 0
    out = capsys.readouterr().out
    assert "training" not in out and "8/8 models trained, 8 evaluated" in out
    assert "8/8 trained, 8 evaluated" in out and "study.html" in out
    assert cli.main(["study", "status"]) == 2  # the folder is required
    assert "needs the study folder" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.multiprocess
def test_a_study_killed_with_sigkill_resumes_to_the_same_parameters(tiny_study, tmp_path):
    """`kill -9` once the first checkpoints exist (mid-training or mid-save), then run
    again: every model ends with the parameters of the uninterrupted study."""
    import os
    import signal
    import subprocess
    import sys
    import time

    _, root, _, _ = tiny_study
    args = ["--config", "tiny", "--config.metrics=unsupervised", "--workdir", str(tmp_path)]
    command = [sys.executable, "-m", "disentax.cli", "study", "run", *args]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not list(tmp_path.glob("models/*/checkpoints/10")) and time.monotonic() < deadline:
        assert process.poll() is None, "the study ended before it could be killed"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    spec = load_study_spec("tiny", ["--config.metrics=unsupervised"])  # scoring is not the point
    result = run_study(spec, tmp_path, log=lambda _: None, analyse=False)
    assert result["trained"] == result["evaluated"] == 8
    for row in study_status(root):
        np.testing.assert_array_equal(
            _params(tmp_path / "models" / row["model"]), _params(root / "models" / row["model"])
        )


def test_each_value_of_a_batch_hyperparameter_is_its_own_group():
    # num_labels configures the labelled batch, which a sweep's models share: the two
    # values train as two programs; beta (not a batch setting) keeps one group.
    spec = load_study_spec("experiments/studies/specs/cpu_weak.py")
    models = plan(spec)
    s2 = [m for m in models if m.objective == "s2_beta_vae"]
    assert {m.value for m in s2} == {100, 1000} and all(isinstance(m.value, int) for m in s2)
    assert len({m.group for m in s2}) == 2
    assert {len([m for m in s2 if m.group == g]) for g in {m.group for m in s2}} == {3}
    assert len({m.group for m in models if m.objective == "group_vae"}) == 1
