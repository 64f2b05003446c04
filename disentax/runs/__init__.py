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
* :func:`load_study_spec`, :func:`plan`, :func:`run_study`, :func:`study_status` — a
  study: a grid of models trained by groups, evaluated and analysed, resumable.
* :func:`study_table` / :func:`analyse_study` — a study's tidy table of every model's
  scores, its statistics, figures and ``study.html``.

Example:
  >>> from disentax import runs
  >>> config = runs.load_config("default", ["--config.num_steps=10"])
  >>> runs.validate(config).num_steps
  10
"""

import importlib

# name -> submodule. Loaded on first use (PEP 562): training must not import what only
# evaluation and pictures need (matplotlib, the metric suite) before its first step.
_WHERE = {
    "configs_dir": "config",
    "load_config": "config",
    "resolve_config_path": "config",
    "RunFolder": "folder",
    "LoadedRun": "loading",
    "load": "loading",
    "OWNED_FILES": "pictures",
    "traverse": "pictures",
    "write_report": "pictures",
    "run": "pipeline",
    "default_workers": "scoring",
    "evaluate": "scoring",
    "RunSpec": "spec",
    "validate": "spec",
    "check_sweep": "sweep",
    "train_sweep": "sweep",
    "train": "training",
    "analyse_study": "study_analysis",
    "study_table": "study_analysis",
    "load_study_spec": "study",
    "analyse_saved_study": "study",
    "plan": "study",
    "run_study": "study",
    "study_status": "study",
}


def __getattr__(name: str):
    if name == "NonFiniteLossError":
        from disentax.train import NonFiniteLossError

        return NonFiniteLossError
    if name not in _WHERE:
        raise AttributeError(f"module 'disentax.runs' has no attribute {name!r}")
    return getattr(importlib.import_module(f"disentax.runs.{_WHERE[name]}"), name)


def __dir__():
    return sorted(__all__)


__all__ = [
    "OWNED_FILES",
    "LoadedRun",
    "NonFiniteLossError",
    "RunFolder",
    "RunSpec",
    "analyse_saved_study",
    "analyse_study",
    "check_sweep",
    "configs_dir",
    "default_workers",
    "evaluate",
    "load",
    "load_config",
    "load_study_spec",
    "resolve_config_path",
    "plan",
    "run",
    "run_study",
    "study_status",
    "study_table",
    "train",
    "train_sweep",
    "traverse",
    "validate",
    "write_report",
]
