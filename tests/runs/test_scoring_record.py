"""disentax.runs.evaluate in one process: the record it writes, and `disentax evaluate`.

The run is a stand-in (the shared tiny VAE on the 4-factor synthetic dataset, loaded by a
patched ``load``), so only the scoring and the written record are under test.
"""

import json

import jax.numpy as jnp
import numpy as np
import pytest

import disentax
import disentax.data as dd
import disentax.runs.scoring as scoring
from disentax import cli
from disentax.runs import LoadedRun

SIZES = (5, 6, 7, 8)


@pytest.fixture(scope="module")
def tiny_run(make_vae):
    make_tiny_vae, tiny_params = make_vae
    model = make_tiny_vae(num_latents=3, image_shape=(1, 1, 4))
    return LoadedRun(
        config=None,
        model=model,
        params=tiny_params(model, inactive=()),
        dataset=dd.Identity(factor_sizes=SIZES),
        step=7,
    )


@pytest.mark.slow
def test_evaluate_and_cli_write_the_evaluation_record(tmp_path, monkeypatch, tiny_run):
    def fake_load(workdir, *, step=None):
        assert step in (None, 7)
        return tiny_run

    monkeypatch.setattr(scoring, "load", fake_load)
    record = disentax.runs.evaluate(tmp_path, metrics=["mig", "mig_sampled"])
    written = json.loads((tmp_path / "evaluation.json").read_text())
    assert written == json.loads(json.dumps(record))
    assert written["step"] == 7 and written["seed"] == 0
    assert written["version"] == disentax.__version__
    assert set(written["metrics"]) == {"mig", "mig_sampled"}
    assert np.shape(written["matrices"]["mutual_info"]) == (3, 4)
    assert {"sampling", "mig", "mig_sampled", "total"} <= set(written["seconds"])
    (tmp_path / "evaluation.json").unlink()
    assert cli.main(["evaluate", "--workdir", str(tmp_path), "--metrics", "mig"]) == 0
    again = json.loads((tmp_path / "evaluation.json").read_text())
    assert set(again["metrics"]) == {"mig"}
    assert jnp.isfinite(again["metrics"]["mig"])


@pytest.mark.parametrize(("sizes", "expected"), [("quick", False), ("reference", True)])
def test_quick_default_evaluation_leaves_out_the_full_grid_metrics(
    tmp_path, monkeypatch, tiny_run, sizes, expected
):
    asked = []

    def fake_score(run, names, **kwargs):
        asked.extend(names)
        return {"metrics": {"mig": 0.5}, "matrices": {}, "seconds": {}, "skipped": {}}

    monkeypatch.setattr(scoring, "load", lambda workdir, *, step=None: tiny_run)
    monkeypatch.setattr(scoring, "_score", fake_score)
    disentax.runs.evaluate(tmp_path, eval_sizes=sizes)
    assert ("mig_chen2018" in asked) is expected
    assert "mig" in asked and "dci" in asked
    asked.clear()
    disentax.runs.evaluate(tmp_path, eval_sizes=sizes, metrics=["mig_chen2018"])
    assert asked == ["mig_chen2018"]  # named: always run


def test_scoring_a_few_metrics_again_keeps_the_others(tmp_path, monkeypatch, tiny_run):
    monkeypatch.setattr(scoring, "load", lambda workdir, *, step=None: tiny_run)
    first = disentax.runs.evaluate(tmp_path, metrics=["mig", "sap"], num_test=500)
    second = disentax.runs.evaluate(tmp_path, metrics=["mig_sampled", "sap"], num_test=500)
    written = json.loads((tmp_path / "evaluation.json").read_text())
    assert written == json.loads(json.dumps(second))
    assert written["kept_from_earlier"] == ["mig"]
    assert set(written["metrics"]) == {"mig", "mig_sampled", "sap"}
    assert written["metrics"]["mig"] == pytest.approx(float(first["metrics"]["mig"]))
    assert np.allclose(written["matrices"]["mutual_info"], first["matrices"]["mutual_info"])
    assert {"mig", "mig_sampled", "sap"} <= set(written["seconds"])
    # another seed (or checkpoint, or sizes) scores other points: the record is replaced
    third = disentax.runs.evaluate(tmp_path, metrics=["sap"], num_test=500, seed=1)
    assert set(third["metrics"]) == {"sap"} and "kept_from_earlier" not in third
    assert set(json.loads((tmp_path / "evaluation.json").read_text())["metrics"]) == {"sap"}
