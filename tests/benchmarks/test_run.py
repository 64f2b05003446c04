"""benchmarks/run.py's table: one train-step benchmark per objective of the registry."""

import pathlib
import sys

from disentax import losses

# benchmarks/ is a top-level package of the source checkout (as `disentax bench` imports it)
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from benchmarks import run  # noqa: E402


def test_every_objective_has_its_train_step_benchmarks():
    # one benchmark per shipped config (e.g. ada_gvae trains the objective group_vae);
    # together the configs train every objective of the registry
    from disentax import runs

    trained = {runs.load_config(name).objective.name for name in run.OBJECTIVE_NAMES}
    assert trained == set(losses.OBJECTIVES)
    for name in run.OBJECTIVE_NAMES:
        assert f"train_step/{name}/b64" in run.BENCHMARKS
