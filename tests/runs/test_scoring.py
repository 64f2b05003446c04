"""evaluate_workdir with a second worker process: the same record as one process.

A tiny real run folder (the FC model on the 4-factor synthetic dataset, a few steps) is
scored once in one process and once with the BetaVAE score and ``mig_sampled`` in a
second process; every score, matrix and size must be identical (each metric draws its
points from its own key). A second process that fails is reported and its metrics are
scored in the first.
"""

import json
import sys

import pytest

from disentax import cli, runs

# What differs from the shared tiny config (tests/conftest.py).
SMALL = ("--config.num_latents=3", "--config.num_steps=4", "--config.checkpoint_every=2")
METRICS = ["mig", "sap", "beta_vae_score", "mig_sampled"]
SIZES = {"batch_size": 8, "num_train": 40, "num_eval": 20, "num_variance_estimate": 100}

pytestmark = [pytest.mark.slow, pytest.mark.multiprocess]


@pytest.fixture(scope="module")
def run_dir(tiny_config, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run")
    runs.run(tiny_config(*SMALL), workdir)
    return workdir


def score(workdir, workers):
    return runs.evaluate(
        workdir,
        metrics=METRICS,
        num_train=1000,
        num_test=100,
        interventional_sizes=SIZES,
        workers=workers,
    )


def comparable(record):
    return {k: record[k] for k in ("step", "metrics", "matrices", "sizes", "skipped")}


def test_two_workers_write_the_record_of_one(run_dir):
    one = score(run_dir, 1)
    two = score(run_dir, 2)
    assert comparable(two) == comparable(one)
    assert set(two["metrics"]) >= {"mig", "sap", "beta_vae_score", "mig_sampled"}
    assert not two["skipped"]
    assert {"sampling", "mig", "sap", "beta_vae_score", "mig_sampled", "total"} == set(
        two["seconds"]
    )
    assert one["workers"] == {"processes": 1}
    second = two["workers"]["second_process"]
    assert two["workers"]["processes"] == 2 and not second["failed"]
    assert second["metrics"] == ["beta_vae_score", "mig_sampled"] and second["seconds"] > 0
    written = json.loads((run_dir / "evaluation.json").read_text())
    assert comparable(written) == json.loads(json.dumps(comparable(one)))


def test_only_own_point_metrics_skip_the_shared_sets(run_dir):
    record = runs.evaluate(
        run_dir, metrics=["mig_sampled"], num_train=1000, num_test=100, workers=2
    )
    assert "sampling" not in record["seconds"] and "mig_sampled" in record["metrics"]
    assert record["sizes"]["num_codes"] == 3


def test_a_failed_second_worker_falls_back_to_this_process(run_dir, monkeypatch, capsys):
    one = score(run_dir, 1)
    monkeypatch.setattr(sys, "executable", "/bin/false")
    two = score(run_dir, 2)
    assert comparable(two) == comparable(one)
    assert two["workers"]["second_process"]["failed"]
    err = capsys.readouterr().err
    assert "second process scoring ['beta_vae_score', 'mig_sampled'] failed" in err


def test_default_workers_on_this_cpu():
    import os

    expected = 2 if len(os.sched_getaffinity(0)) >= 2 else 1
    assert runs.default_workers() == expected


def test_cli_workers_option_is_checked(tmp_path, capsys):
    assert cli.main(["evaluate", "--workdir", str(tmp_path), "--workers", "3"]) == 1
    assert "--workers: expected 1, 2 or auto, got '3'" in capsys.readouterr().err
