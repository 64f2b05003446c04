"""disentax.runs: the job layer, the only code that reads configs and run folders.

* :class:`RunFolder` — every file name of a run folder, checkpoint steps, atomic writes.
* :func:`load_config` — a shipped config name or ``.py`` file, with ``--config.KEY=VALUE``
  overrides; :func:`validate` checks it (:mod:`disentax.runs.spec`).
* :func:`train` — trains or resumes one run; :func:`train_sweep` — several configs of one
  objective as one vmapped program, one run folder each.
* :func:`load` — a trained run read back (config, model, parameters, dataset, step).
* :func:`evaluate` — scores a run folder and writes its evaluation record.
* :func:`traverse` — traversal pictures, plots and the report of a run folder.
* :func:`run` — the pipeline of ``disentax train``: train, evaluate, traverse.

Example:
  >>> from disentax import runs
  >>> config = runs.load_config("default", ["--config.num_steps=10"])
  >>> runs.validate(config).num_steps
  10
"""

from disentax.runs.config import configs_dir, load_config, resolve_config_path
from disentax.runs.folder import RunFolder
from disentax.runs.loading import LoadedRun, load
from disentax.runs.pictures import OWNED_FILES, traverse, write_report
from disentax.runs.pipeline import run
from disentax.runs.scoring import default_workers, evaluate
from disentax.runs.spec import RunSpec, validate
from disentax.runs.sweep import check_sweep, train_sweep
from disentax.runs.training import train
from disentax.train import NonFiniteLossError

__all__ = [
    "OWNED_FILES",
    "LoadedRun",
    "NonFiniteLossError",
    "RunFolder",
    "RunSpec",
    "check_sweep",
    "configs_dir",
    "default_workers",
    "evaluate",
    "load",
    "load_config",
    "resolve_config_path",
    "run",
    "train",
    "train_sweep",
    "traverse",
    "validate",
    "write_report",
]
