"""runs.traverse: every artefact from a checkpoint, clear errors, owns only its files."""

import hashlib
import json
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from PIL import Image

import disentax.runs.pictures as traverse_module
from disentax import runs, viz


class _Run(NamedTuple):
    config: object
    model: object
    params: object
    dataset: object
    step: int


class _Blobs:
    """A 2-factor ground-truth dataset of 8x8 images: one bright 2x2 block at (row, col)."""

    factor_names = ("row", "col")
    factor_sizes = (4, 4)
    observation_shape = (8, 8, 1)

    @staticmethod
    @jax.jit
    def _observations(factors):
        grid = jnp.arange(8) // 2
        rows = grid[None, :, None] == factors[:, 0, None, None]
        cols = grid[None, None, :] == factors[:, 1, None, None]
        return (rows & cols).astype(jnp.float32)[..., None]

    def sample_factors(self, key, num):
        return np.random.default_rng(int(jax.random.key_data(key)[-1])).integers(0, 4, (num, 2))

    def observations(self, factors):
        return self._observations(jnp.asarray(factors, jnp.int32))


def _fake_run_folder(tmp_path, *, steps=(100, 200), evaluation=True, log=True):
    for step in steps:
        (tmp_path / "checkpoints" / str(step)).mkdir(parents=True)
    (tmp_path / "config.json").write_text(json.dumps({"config": {"num_latents": 4}}))
    if log:
        rows = [{"step": s, "loss": 100.0 / s, "recon": 50.0, "kl": 3.0, "tc": 0.1} for s in (1, 2)]
        (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if evaluation:
        mi = np.zeros((4, 2))
        mi[0, 1], mi[1, 0] = 0.8, 0.6
        record = {
            "step": 200,
            "metrics": {"mig": 0.3},
            "matrices": {"mutual_info": mi.tolist(), "dci_importance": (mi / 2).tolist()},
        }
        (tmp_path / "evaluation.json").write_text(json.dumps(record))
    return tmp_path


@pytest.fixture()
def fake_load_run(monkeypatch, tiny_vae):
    model, params = tiny_vae
    calls = []

    def load(workdir, *, step=None):
        calls.append(step)
        config = ml_collections.ConfigDict(
            {"num_latents": 4, "objective": {"name": "beta_vae", "reconstruction": "bernoulli"}}
        )
        return _Run(config, model, params, _Blobs(), 200 if step is None else step)

    monkeypatch.setattr(traverse_module, "load", load)
    return calls


def _digests(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_writes_every_artefact_and_touches_nothing_else(tmp_path, fake_load_run):
    folder = _fake_run_folder(tmp_path)
    (folder / "viz").mkdir()
    (folder / "viz" / "notes.txt").write_text("mine")  # a user's file beside the artefacts
    before = _digests(folder)
    written = runs.traverse(folder, num_seeds=2, num_steps=5, num_frames=6, num_reference=32)
    assert fake_load_run == [None]
    expected = {name for name, _, _ in viz.ARTEFACTS} | {"report.html"}
    assert set(written) == expected
    after = _digests(folder)
    assert {k: v for k, v in after.items() if k in before} == before  # inputs unchanged
    assert set(after) - set(before) == {f"viz/{n}" for n, _, _ in viz.ARTEFACTS} | {"report.html"}
    assert set(after) - set(before) == set(runs.OWNED_FILES)
    with Image.open(folder / "viz" / "traversal.gif") as gif:
        assert gif.n_frames == 6
    report = (folder / "report.html").read_text()
    for name, _, _ in viz.ARTEFACTS:
        assert f'data-artefact="{name}"' in report
    assert "checkpoint step 200" in report


def test_step_and_latent_errors(tmp_path, fake_load_run):
    folder = _fake_run_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"step 150 .*available steps: \[100, 200\]"):
        runs.traverse(folder, step=150)
    with pytest.raises(ValueError, match=r"valid latent indices are 0\.\.3"):
        runs.traverse(folder, latents=[4])
    assert not (folder / "viz").exists() and not (folder / "report.html").exists()


def test_without_evaluation_or_log_the_report_says_what_is_missing(tmp_path, fake_load_run):
    folder = _fake_run_folder(tmp_path, evaluation=False, log=False)
    written = runs.traverse(
        folder, step=100, num_seeds=1, num_steps=3, num_frames=4, num_reference=16
    )
    assert fake_load_run == [100]
    assert "mutual_info.png" not in written and "curves.png" not in written
    report = (folder / "report.html").read_text()
    assert "disentax evaluate --workdir" in report and "No training log" in report


def test_stale_or_misshapen_evaluation_is_reported_not_used(tmp_path, fake_load_run):
    folder = _fake_run_folder(tmp_path)
    record = json.loads((folder / "evaluation.json").read_text())
    record["step"] = 100
    record["matrices"]["mutual_info"] = np.zeros((5, 2)).tolist()  # 5 latents, model has 4
    (folder / "evaluation.json").write_text(json.dumps(record))
    written = runs.traverse(folder, num_seeds=1, num_steps=3, num_frames=4, num_reference=16)
    assert "mutual_info.png" not in written and "dci_importance.png" in written
    report = (folder / "report.html").read_text()
    assert "from step 100 (evaluation.json)" in report and "checkpoint step 200" in report
    assert "matrix &#x27;mutual_info&#x27; of shape (5, 2) ignored" in report


@pytest.mark.parametrize("make", ["missing", "empty", "no_steps"])
def test_missing_checkpoints_name_the_folder(tmp_path, make):
    folder = tmp_path / "run"
    if make != "missing":
        folder.mkdir()
    if make == "no_steps":
        (folder / "checkpoints").mkdir()
    expected = str(folder) if make == "missing" else str(folder / "checkpoints")
    with pytest.raises(FileNotFoundError) as info:
        runs.traverse(folder)
    assert expected in str(info.value)
    if make != "missing":
        assert "expected numbered step folders" in str(info.value)


def test_cli_latents_option(tmp_path, fake_load_run, capsys):
    from disentax import cli

    folder = _fake_run_folder(tmp_path)
    assert cli.main(["traverse", "--workdir", str(folder), "--latents", "0,9"]) == 1
    err = capsys.readouterr().err
    assert "index 9 is out of range; valid latent indices are 0..3" in err
    assert cli.main(["traverse", "--workdir", str(folder), "--latents", "a,b"]) == 1
    assert "--latents: expected comma-separated integers" in capsys.readouterr().err
    assert not (folder / "report.html").exists()


@pytest.mark.slow
def test_train_with_evaluation_on_vector_observations_draws_everything(
    tmp_path, monkeypatch, capsys
):
    # synthetic_identity's observations are [1, 1, 4] vectors: drawn as 4 grey cells each
    from disentax import cli
    from disentax.runs import scoring

    score = scoring.evaluate

    def small_evaluation(workdir, **unused):  # the pipeline's call, at test sizes
        return score(workdir, metrics=["mig", "dci"], num_train=200, num_test=100, workers=1)

    monkeypatch.setattr(scoring, "evaluate", small_evaluation)
    workdir = tmp_path / "run"
    args = ["train", "--workdir", str(workdir), "--config.model=fc", "--config.num_latents=4"]
    args += ["--config.dataset=synthetic_identity", "--config.batch_size=8"]
    args += ["--config.num_steps=4", "--config.log_every=2", "--config.checkpoint_every=4"]
    assert cli.main(args) == 0, capsys.readouterr().err
    for name in runs.OWNED_FILES:
        assert (workdir / name).is_file(), name
    with Image.open(workdir / "viz" / "traversal.gif") as gif:
        assert gif.size[1] == 4 * (16 + 2) + 2  # 4 latents, cells enlarged to 16 px
    assert json.loads((workdir / "evaluation.json").read_text())["step"] == 4
    assert not (workdir / runs.RunFolder.LOCK).exists()
