"""The study runner: two tiny configs trained a few steps, evaluated, tabulated.

Tiny configs: the fully connected VAE on ``synthetic_identity`` (4 factors observed as a
1x1x4 image), batch 8, 3 steps, so the whole file compiles a handful of small programs.
"""

import importlib.util
import json
import pathlib
import sys

import jax
import numpy as np
import pytest

from disentax import runs

ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from experiments.studies import run_study, tables  # noqa: E402

HAS_EVALUATION = importlib.util.find_spec("disentax.evaluation") is not None


def _config(beta: float, *, seed: int = 0, objective: str = "beta_vae"):
    import ml_collections

    hyper = {"beta": beta} if objective != "factor_vae" else {"gamma": beta}
    return ml_collections.ConfigDict(
        {
            "model": "fc",
            "objective": {"name": objective, **hyper},
            "dataset": "synthetic_identity",
            "num_latents": 3,
            "batch_size": 8,
            "num_steps": 3,
            "learning_rate": 1e-3,
            "seed": seed,
            "log_every": 1,
            "checkpoint_every": 3,
            "evaluate": False,
            "parallel": "jit",
            "reconstruction": "bernoulli",
            "keep_checkpoints": 1,
        }
    )


def _entries():
    return [
        run_study.entry_from_config(_config(1.0), name="vae", label="VAE"),
        run_study.entry_from_config(_config(4.0, seed=1), name="beta_vae", label="beta-VAE"),
    ]


@pytest.fixture(scope="module")
def sequential_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("sequential")
    run_study.train_entries(_entries(), root, mode="sequential")
    return root


def test_entry_from_config_takes_the_grid_hyperparameter():
    entry = run_study.entry_from_config(_config(4.0, seed=2))
    assert entry.hyperparameter == "beta"  # locatello2019.GRID["beta_vae"]
    assert entry.value == 4.0 and entry.seed == 2
    assert entry.name == "beta_vae_beta4_seed2"


def test_sequential_training_writes_run_folders(sequential_root):
    for name in ("vae", "beta_vae"):
        records = [
            json.loads(line)
            for line in (sequential_root / name / "metrics.jsonl").read_text().splitlines()
        ]
        assert [r["step"] for r in records] == [1, 2, 3]
        assert (sequential_root / name / "checkpoints" / "3").is_dir()


def test_sweep_follows_each_single_model_run(sequential_root, tmp_path):
    """A vmapped sweep of the two configs gives each model the parameters of its own
    sequential run (same keys, same batches; only the summation order may differ, which
    Adam's first steps, ~lr * sign(g), can turn into differences of the order of the
    learning rate 1e-3 for the few weights whose gradient is near 0). So: almost every
    weight agrees to 1e-4 and the median to 1e-6, while the two models differ from each
    other in most weights (checked), so a mixed-up key or hyperparameter fails."""

    entries = _entries()
    run_study.train_entries(entries, tmp_path, mode="sweep")

    def flat(run):
        return np.concatenate([np.ravel(x) for x in jax.tree.leaves(run.params)])

    singles = {e.name: runs.load(sequential_root / e.name) for e in entries}
    for entry in entries:
        swept = runs.load(tmp_path / entry.name)
        assert swept.step == singles[entry.name].step == 3
        diff = np.abs(flat(swept) - flat(singles[entry.name]))
        assert np.mean(diff > 1e-4) < 1e-3, np.sort(diff)[-10:]
        assert np.median(diff) < 1e-6
    between = np.abs(flat(singles["vae"]) - flat(singles["beta_vae"]))
    assert np.mean(between > 1e-4) > 0.5
    # resuming a finished sweep trains nothing more
    again = runs.train_sweep(
        [e.config for e in entries], [tmp_path / e.name for e in entries], log=lambda _: None
    )
    assert again["step"] == 3


def test_sweep_rejects_configs_that_cannot_share_a_program():
    from disentax.runs import spec as run_spec

    specs = [
        run_spec.validate(_config(1.0)),
        run_spec.validate(_config(10.0, objective="factor_vae")),
    ]
    with pytest.raises(ValueError, match="one objective"):
        runs.check_sweep(specs)
    other = _config(4.0)
    other.learning_rate = 1e-2
    with pytest.raises(ValueError, match="learning_rate"):
        runs.check_sweep([run_spec.validate(_config(1.0)), run_spec.validate(other)])
    assert runs.check_sweep(
        [run_spec.validate(_config(1.0)), run_spec.validate(_config(4.0, seed=3))]
    ) == ("beta_vae", ["beta"])


def test_table_holds_the_evaluation_numbers(sequential_root, tmp_path):
    """The table's numbers are the ones in each folder's evaluation.json (written here by
    hand in the documented layout, so the table code is checked on its own)."""
    for i, name in enumerate(("vae", "beta_vae")):
        record = {
            "step": 3,
            "metrics": {"mig": 0.1 * (i + 1), "dci": {"disentanglement": 0.5, "importance": [[1]]}},
        }
        (sequential_root / name / "evaluation.json").write_text(json.dumps(record))
    table = tables.collect(_entries(), sequential_root)
    paths = tables.write_all(table, tmp_path, title="tiny")
    rows = {r["name"]: r for r in json.loads(paths["json"].read_text())["rows"]}
    assert rows["vae"]["metrics"] == {"mig": 0.1, "dci/disentanglement": 0.5}
    assert rows["beta_vae"]["metrics"]["mig"] == pytest.approx(0.2)
    assert rows["beta_vae"]["step"] == 3 and rows["beta_vae"]["value"] == 4.0
    md = paths["md"].read_text()
    label = "mig (histogram MIG of disentanglement_lib, codes in 20 equal-width bins)"
    assert f"| {label} | 0.100 | 0.200 |" in md
    assert "VAE (beta=1)" in md and "beta-VAE (beta=4)" in md
    assert paths["png"].stat().st_size > 1000
    for name in ("vae", "beta_vae"):
        (sequential_root / name / "evaluation.json").unlink()


@pytest.mark.skipif(not HAS_EVALUATION, reason="disentax.evaluation has not landed")
def test_run_study_evaluates_and_tabulates(sequential_root, tmp_path):
    table = run_study.run_study(
        _entries(), sequential_root, tmp_path, metrics=["mig"], title="tiny"
    )
    for row in table["rows"]:
        evaluation = json.loads((sequential_root / row["name"] / "evaluation.json").read_text())
        assert evaluation["step"] == 3
        assert row["metrics"]["mig"] == pytest.approx(evaluation["metrics"]["mig"])
    assert (tmp_path / "results.md").is_file() and (tmp_path / "scores.png").is_file()
