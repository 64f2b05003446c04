"""``config.correlations`` and ``config.eval_distribution``: training on correlated factors
(Träuble et al. 2021), evaluating on the independent factors unless told otherwise, and
``evaluation.json`` saying which distribution was scored."""

import json

import pytest

from disentax import cli, data, runs
from disentax.runs import spec as run_spec

SMALL = ["--config.model=fc", "--config.dataset=synthetic_identity", "--config.num_latents=4"]
PAIR = "--config.correlations=factor_0,factor_1,1,0.2"


def test_training_data_is_correlated_evaluation_data_independent_by_default():
    spec = run_spec.validate(runs.load_config("default", [*SMALL, PAIR]))
    assert spec.correlations == "factor_0,factor_1,1,0.2"
    assert spec.resolved["eval_distribution"] == "independent"
    parts = run_spec.build(spec)
    assert isinstance(parts.dataset, data.Correlated) and parts.sample_in_step
    assert parts.dataset.pairs == (data.CorrelatedPair(0, 1, 1.0, 0.2),)
    assert not isinstance(parts.eval_dataset, data.Correlated)
    both = run_spec.build(
        run_spec.validate(
            runs.load_config("default", [*SMALL, PAIR, "--config.eval_distribution=correlated"])
        )
    )
    assert both.eval_dataset is both.dataset
    plain = run_spec.build(run_spec.validate(runs.load_config("default", SMALL)))
    assert plain.eval_dataset is plain.dataset and not isinstance(plain.dataset, data.Correlated)


@pytest.mark.parametrize(
    "value, message",
    [
        ("factor_0,factor_9,1,0.2", "config.correlations: .*lacks"),
        ("factor_0,factor_0,1,0.2", "config.correlations: .*twice"),
        ("factor_0,factor_1,1,0", "config.correlations: .*sigma must be > 0"),
        ("factor_0,factor_1,nan,0.2", "config.correlations: .*alpha must be a finite"),
        ("factor_0,factor_1,1", "config.correlations: .*factorA,factorB,alpha,sigma"),
    ],
)
def test_bad_correlations_are_refused_before_training(value, message):
    with pytest.raises(ValueError, match=message):
        spec = run_spec.validate(
            runs.load_config("default", [*SMALL, f"--config.correlations={value}"])
        )
        run_spec.build(spec)


def test_bad_eval_distribution_is_refused():
    with pytest.raises(ValueError, match="config.eval_distribution must be one of"):
        run_spec.validate(runs.load_config("default", [*SMALL, "--config.eval_distribution=x"]))


@pytest.mark.slow
def test_cli_trains_on_correlated_dsprites_and_evaluates_independent(tmp_path):
    workdir = tmp_path / "run"
    args = [
        "train",
        "--config",
        "default",
        "--workdir",
        str(workdir),
        "--config.model=fc",
        "--config.num_latents=3",
        "--config.batch_size=8",
        "--config.num_steps=3",
        "--config.log_every=1",
        "--config.evaluate=False",
        "--config.correlations=posX,posY,1,0.2",
    ]
    assert cli.main(args) == 0
    stored = json.loads((workdir / "config.json").read_text())["config"]
    assert stored["correlations"] == "posX,posY,1,0.2"
    record = runs.evaluate(
        workdir, metrics=["latent_correlation", "mig"], num_train=200, num_test=100
    )
    assert record["data"] == {"distribution": "independent"}
    written = json.loads((workdir / "evaluation.json").read_text())
    assert written["data"] == {"distribution": "independent"}
    assert 0.0 <= written["metrics"]["latent_correlation"] <= 1.0
