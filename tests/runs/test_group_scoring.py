"""disentax.runs.group_scoring: a group of run folders evaluated as one program.

The oracle is disentax.runs.evaluate of each folder alone (one process), whose record the
group's must match, score for score.
"""

import json

import numpy as np
import pytest

from disentax import runs
from disentax.runs import scoring
from disentax.runs.group_scoring import evaluate_group

METRICS = ["mig", "unsupervised", "beta_vae_score"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory, tiny_config):
    root = tmp_path_factory.mktemp("group")
    paths = []
    for seed in range(3):
        path = root / f"seed{seed}"
        runs.train(tiny_config(f"--config.seed={seed}"), path)
        paths.append(path)
    other = root / "three_latents"
    runs.train(tiny_config("--config.num_latents=3"), other)
    return paths, other


def test_each_folder_gets_the_record_it_gets_alone(folders):
    paths, _ = folders
    records = evaluate_group(paths, metrics=METRICS, eval_sizes="quick")
    written = [json.loads((p / "evaluation.json").read_text()) for p in paths]
    assert written == json.loads(json.dumps(records))
    for path, record in zip(paths, written, strict=True):
        alone = scoring.evaluate(path, metrics=METRICS, eval_sizes="quick")
        assert set(record) == set(alone) | {"group"}
        assert record["group"]["models"] == 3 and record["step"] == alone["step"] == 6
        assert record["skipped"] == alone["skipped"] and record["sizes"] == alone["sizes"]
        assert set(record["metrics"]) == set(alone["metrics"])
        for key, value in alone["metrics"].items():
            np.testing.assert_allclose(record["metrics"][key], value, rtol=1e-5, atol=1e-6)


def test_folders_that_are_not_a_group_are_refused(folders):
    paths, other = folders
    with pytest.raises(ValueError, match=rf"config.num_latents is 3 in {other}"):
        evaluate_group([paths[0], other], metrics=["mig"], eval_sizes="quick")
    with pytest.raises(ValueError, match="at least one run folder"):
        evaluate_group([], metrics=["mig"])
    with pytest.raises(ValueError, match="unknown metrics"):
        evaluate_group(paths, metrics=["nope"])
