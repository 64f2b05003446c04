"""experiments/studies/locatello2019.py: the grid (6 models x 6 values x seeds) and the
configs it emits, which must load through the CLI and pass the training config checks."""

import importlib.util
import pathlib

import pytest

from disentax import losses, runs
from disentax.runs import spec as run_spec

ROOT = pathlib.Path(__file__).resolve().parents[2]


def load_study():
    path = ROOT / "experiments" / "studies" / "locatello2019.py"
    spec = importlib.util.spec_from_file_location("locatello2019", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


study = load_study()


def test_grid_is_six_models_by_six_values_by_seeds():
    assert len(study.GRID) == 6 and set(study.GRID) <= set(losses.OBJECTIVES)  # the study's six
    assert all(len(values) == 6 for _, values, _ in study.GRID.values())
    points = list(study.points())
    assert len(points) == 6 * 6 * 50
    assert len({p.name for p in points}) == len(points)
    # Locatello et al. 2019, Table 2 (values quoted there)
    assert study.GRID["beta_vae"][1] == (1.0, 2.0, 4.0, 6.0, 8.0, 16.0)
    assert study.GRID["factor_vae"][1] == (10.0, 20.0, 30.0, 40.0, 50.0, 100.0)
    groups = study.sweep_groups(num_seeds=2)
    assert {k: len(v) for k, v in groups.items()} == {k: 12 for k in study.GRID}


def test_every_point_passes_the_training_config_checks():
    for point in study.points(num_seeds=1):
        spec = run_spec.validate(study.get_config(point))
        assert spec.hyperparameters[point.hyperparameter] == point.value
        assert (spec.batch_size, spec.num_steps, spec.learning_rate) == (64, 300_000, 1e-4)


def test_emitted_configs_load_through_the_cli(tmp_path):
    paths = study.emit(tmp_path, num_seeds=1, num_steps=100)
    assert len(paths) == 36
    for path in paths[::7]:
        config = runs.load_config(str(path), ["--config.seed=3"])
        spec = run_spec.validate(config)
        assert (spec.num_steps, spec.seed) == (100, 3)
    with pytest.raises(ValueError, match="unknown config keys"):
        study.config_values(next(study.points()), nmu_steps=1)
