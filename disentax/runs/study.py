"""A study: a grid of models (datasets × objectives × hyperparameter values × seeds) as data.

A study spec is an ``ml_collections`` config like a run config (shipped specs live in
``disentax/configs/studies/``): the grid (``datasets``, ``objectives``, ``grid``,
``num_seeds`` or ``seeds``) and the run settings every model shares (the keys of a run
config: ``model``, ``num_latents``, ``batch_size``, ``num_steps``, ...). :func:`plan`
turns it into models, each with an ordinary run config and run folder
(``DIR/models/<name>``), so ``disentax evaluate``, ``disentax traverse`` and
:func:`disentax.runs.load` read every model as a single run.

Models that share everything but the seed and the objective's hyperparameter values
form a group, trained as one program (:func:`disentax.runs.train_sweep`; at most
``models_per_program`` models per program). :func:`run_study` trains the groups,
evaluates every model and analyses the study (:func:`disentax.runs.analyse_study` into
``DIR/analysis``). Run again, it resumes: a finished model is never trained again, and
models stopped at the same step resume together. :func:`study_status` says what is done.

Every check happens before anything is compiled: unknown objectives, hyperparameters or
datasets, negative or duplicate seeds, a study folder written by another spec, and a
model folder whose config was changed by hand (:func:`disentax.runs.spec.check_workdir`).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import pathlib
from collections.abc import Callable, Sequence

from disentax.runs import spec as spec_lib
from disentax.runs.folder import RunFolder

__all__ = [
    "StudyModel",
    "analyse_saved_study",
    "load_study_spec",
    "plan",
    "run_study",
    "study_status",
]

STUDY_FILE = "study.json"
# Keys of a spec that are not run settings.
GRID_KEYS = ("name", "datasets", "objectives", "grid", "num_seeds", "seeds",
             "models_per_program", "metrics", "mesh")  # fmt: skip
# Spec keys that may change between calls on one study folder (how far and how it runs).
RESUMABLE = ("num_steps", "log_every", "checkpoint_every", "eval_sizes", "metrics",
             "models_per_program", "keep_checkpoints", "mesh")  # fmt: skip


@dataclasses.dataclass(frozen=True)
class StudyModel:
    """One model of a study.

    Attributes:
      name: its folder name under ``DIR/models``.
      dataset: the dataset name.
      objective: the objective name.
      hyperparameter: the objective's hyperparameter the study varies.
      value: its value for this model.
      seed: the model's seed.
      config: the model's resolved run config (a plain dict).
    """

    name: str
    dataset: str
    objective: str
    hyperparameter: str
    value: float
    seed: int
    config: dict

    @property
    def group(self) -> tuple:
        """Models of one group train as one program: same dataset and objective.

        A hyperparameter that configures the batch (e.g. S²'s ``num_labels``, the pairs'
        ``k``) is shared by a sweep's models, so each of its values is a group of its own.
        """
        from disentax import losses

        if self.hyperparameter in losses.OBJECTIVES[self.objective].batch_hyperparameters:
            return (self.dataset, self.objective, f"{self.hyperparameter}={self.value:g}")
        return (self.dataset, self.objective)


def studies_dir() -> pathlib.Path:
    """The folder of the shipped study specs (``disentax/configs/studies``)."""
    from disentax.runs.config import configs_dir

    return configs_dir() / "studies"


def load_study_spec(spec: str, overrides: Sequence[str] = ()):
    """Loads a study spec (a shipped name or a ``.py`` file) with ``--config.KEY=VALUE``.

    Args:
      spec: a path to a Python file whose ``get_config()`` returns the spec, or the name
        of a shipped spec in ``disentax/configs/studies`` (e.g. ``"locatello2019"``).
      overrides: ``--config.KEY=VALUE`` strings, e.g. ``--config.num_seeds=2``.

    Returns:
      The ``ml_collections.ConfigDict``.

    Raises:
      FileNotFoundError: no such file or shipped spec (the shipped ones are listed).
      ValueError: the file does not run, or an override names no key of the spec.
    """
    from disentax.runs.config import _apply_overrides, _check_path, _run_config_file

    path = pathlib.Path(spec)
    if path.suffix != ".py" and os.sep not in spec:
        path = studies_dir() / f"{spec}.py"
        if not path.is_file():
            known = sorted(p.stem for p in studies_dir().glob("*.py") if p.stem[0] != "_")
            raise FileNotFoundError(
                f"--config: {spec!r} is neither a .py file nor a shipped study spec; "
                f"shipped specs in {studies_dir()}: {', '.join(known)}"
            )
    elif not path.is_file():
        raise FileNotFoundError(f"--config: no such study spec file: {path.resolve()}")
    config = _run_config_file(path)
    for override in overrides:
        if override.startswith("--config.") and "=" in override:
            _check_path(config, override[len("--config.") :].split("=", 1)[0])
    return _apply_overrides(config, list(overrides))


def _names(text: str, what: str) -> list[str]:
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    if not names:
        raise ValueError(f"config.{what} names nothing: give comma-separated names")
    if len(set(names)) != len(names):
        raise ValueError(f"config.{what} names one twice: {text!r}")
    return names


def _seeds(spec: dict) -> list[int]:
    seeds = spec.get("seeds") or ()
    if seeds:
        seeds = [int(s) for s in (seeds.split(",") if isinstance(seeds, str) else seeds)]
        if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
            raise ValueError(f"config.seeds must be distinct and >= 0, got {spec['seeds']!r}")
        return seeds
    num = spec.get("num_seeds")
    if not isinstance(num, int) or isinstance(num, bool) or num < 1:
        raise ValueError(f"config.num_seeds must be an int >= 1, got {num!r}")
    return list(range(num))


def _grid_entry(spec: dict, objective: str) -> tuple[str, list[float | int], dict]:
    from disentax import losses

    if objective not in losses.OBJECTIVES:
        raise ValueError(
            f"config.objectives: unknown objective {objective!r}; known: "
            f"{', '.join(sorted(losses.OBJECTIVES))}"
        )
    entry = spec.get("grid", {}).get(objective)
    if entry is None:
        raise ValueError(f"config.grid has no entry for objective {objective!r}")
    hyper, values = entry.get("hyperparameter"), list(entry.get("values", ()))
    fixed = dict(entry.get("fixed", {}))
    if not values:
        raise ValueError(f"config.grid.{objective}.values is empty")
    for value in values:  # the objective's own checks name the hyperparameter and value
        try:
            losses.OBJECTIVES[objective].validate({**fixed, hyper: value})
        except ValueError as err:
            raise ValueError(f"config.grid.{objective}: {err}") from err
    # an int stays an int (counts such as num_labels); other numbers are floats
    numbers = [v if isinstance(v, int) and not isinstance(v, bool) else float(v) for v in values]
    return hyper, numbers, fixed


def _model_name(dataset, objective, hyper, value, seed) -> str:
    return f"{dataset}-{objective}-{hyper}{value:g}-seed{seed}"


def plan(spec) -> list[StudyModel]:
    """The study's models, each with its validated run config (nothing is compiled).

    Args:
      spec: the study spec (``ConfigDict`` or dict).

    Returns:
      The models, grouped: dataset, objective, value, then seed.

    Raises:
      ValueError: an unknown dataset, objective or hyperparameter, bad seeds, or run
        settings a run config would reject (named).
    """
    from disentax import data

    spec = spec.to_dict() if hasattr(spec, "to_dict") else dict(spec)
    datasets = _names(spec.get("datasets", ""), "datasets")
    for dataset in datasets:
        if dataset not in data.names():
            raise ValueError(
                f"config.datasets: unknown dataset {dataset!r}; known: {', '.join(data.names())}"
            )
    objectives = _names(spec.get("objectives", ""), "objectives")
    seeds = _seeds(spec)
    shared = {k: v for k, v in spec.items() if k not in GRID_KEYS}
    models = []
    for dataset, objective in itertools.product(datasets, objectives):
        hyper, values, fixed = _grid_entry(spec, objective)
        for value, seed in itertools.product(values, seeds):
            config = {
                **shared,
                "dataset": dataset,
                "objective": {"name": objective, **fixed, hyper: value},
                "seed": seed,
                "evaluate": False,  # the study evaluates its models itself
            }
            resolved = spec_lib.validate(config).resolved
            name = _model_name(dataset, objective, hyper, value, seed)
            models.append(StudyModel(name, dataset, objective, hyper, value, seed, resolved))
    return models


def _check_study_folder(root: pathlib.Path, spec: dict) -> None:
    """Refuses a study folder written by another spec (nothing is touched)."""
    if root.exists() and not root.is_dir():
        raise ValueError(f"study folder {root} exists and is not a folder")
    path = root / STUDY_FILE
    if not path.is_file():
        return
    stored = json.loads(path.read_text(encoding="utf-8"))["spec"]
    for key in sorted(set(stored) | set(spec)):
        if key not in RESUMABLE and stored.get(key) != spec.get(key):
            raise ValueError(
                f"study folder {root} was written by another spec: config.{key} is "
                f"{stored.get(key)!r} there and {spec.get(key)!r} now (use a new --workdir)"
            )


def _trained_step(folder: RunFolder) -> int:
    return max(folder.checkpoint_steps(), default=0)


def _evaluated(folder: RunFolder, step: int) -> bool:
    record = folder.read_json(folder.evaluation) or {}
    return record.get("step") == step and bool(record.get("metrics"))


def study_status(workdir: str | os.PathLike) -> list[dict]:
    """What is done in a study folder: a row per model (name, step, num_steps, evaluated).

    Raises:
      FileNotFoundError: ``workdir`` holds no study (no ``study.json``).
    """
    root = pathlib.Path(workdir)
    path = root / STUDY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{root} holds no study ({STUDY_FILE} not found)")
    record = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    for name in record["models"]:
        folder = RunFolder(root / "models" / name)
        step = _trained_step(folder)
        num_steps = record["spec"]["num_steps"]
        rows.append(
            {"model": name, "step": step, "num_steps": num_steps,
             "evaluated": _evaluated(folder, num_steps)}
        )  # fmt: skip
    return rows


def _chunks(models: list[StudyModel], size: int) -> list[list[StudyModel]]:
    size = size if size and size > 0 else len(models)
    return [models[i : i + size] for i in range(0, len(models), size)]


def _mesh_shape(spec: dict) -> tuple[int, int] | None:
    """The ``(models, data)`` mesh of the groups' programs; None: one device.

    ``config.mesh.models`` / ``config.mesh.data`` (0: automatic). With several devices
    and nothing set, every device goes on the models axis (the study's models are small).
    """
    import jax

    mesh = spec.get("mesh") or {}
    models, data = int(mesh.get("models", 0)), int(mesh.get("data", 0))
    if jax.local_device_count() == 1 and models <= 1 and data <= 1:
        return None
    return (models, data)


def _train(models, root, spec, log, stop_fn) -> None:
    """Trains the unfinished models: per group, those at the same step together."""
    from disentax.runs.sweep import train_sweep

    num_steps = spec["num_steps"]
    todo = {}
    for model in models:
        step = _trained_step(RunFolder(root / "models" / model.name))
        if step < num_steps:
            todo.setdefault((model.group, step), []).append(model)
    for (group, step), members in todo.items():
        for chunk in _chunks(members, spec.get("models_per_program", 0)):
            log(f"study: training {len(chunk)} models of {group} from step {step}")
            reached = train_sweep(
                [m.config for m in chunk],
                [root / "models" / m.name for m in chunk],
                log=log,
                stop_fn=stop_fn,
                mesh_shape=_mesh_shape(spec),
            )["step"]
            if reached < num_steps:  # stopped (stop_fn, a signal): the rest waits for a rerun
                return


def _evaluate(todo: dict, spec: dict, metrics, shape, log) -> None:
    """Scores each group's unevaluated models: as programs, or one at a time on a CPU.

    On a CPU a group scored as one program was 0.32x as fast as its models one at a time
    (``disentax bench study/evaluate``: the vmapped conv encoder), so there it is not used.
    """
    import jax

    from disentax.runs.group_scoring import evaluate_group
    from disentax.runs.scoring import evaluate

    sizes = spec.get("eval_sizes", "auto")
    for group, members in todo.items():
        if jax.default_backend() == "cpu":
            for path in members:
                log(f"study: evaluating {path.name}")
                evaluate(path, metrics=metrics, eval_sizes=sizes)
            continue
        for chunk in _chunks(members, spec.get("models_per_program", 0)):
            log(f"study: evaluating {len(chunk)} models of {group} as one program")
            evaluate_group(chunk, metrics=metrics, eval_sizes=sizes, mesh_shape=shape)


def run_study(
    spec,
    workdir: str | os.PathLike,
    *,
    log: Callable[[str], None] = print,
    stop_fn: Callable[[int], bool] | None = None,
    analyse: bool = True,
) -> dict:
    """Plans, trains, evaluates and analyses a study; run again, it resumes.

    Args:
      spec: the study spec (:func:`load_study_spec`).
      workdir: the study folder: ``study.json``, ``models/<name>/`` (run folders) and
        ``analysis/`` (table, figures, ``study.html``).
      log: where progress lines go.
      stop_fn: as for :func:`disentax.runs.train` (asked after every step).
      analyse: write the analysis at the end.

    Returns:
      ``{"models": count, "trained": count finished, "evaluated": count, "analysis":
      paths or None}``.
    """
    from disentax.runs.study_analysis import analyse_study

    resolved = spec.to_dict() if hasattr(spec, "to_dict") else dict(spec)
    resolved = json.loads(json.dumps(resolved))  # as study.json stores it (tuples as lists)
    root = pathlib.Path(workdir).absolute()
    models = plan(resolved)
    _check_study_folder(root, resolved)
    shape = _mesh_shape(resolved)
    if shape is not None:  # a mesh that does not fit the devices is named before compiling
        import jax

        from disentax import parallel

        parallel.make_model_mesh(*shape, devices=jax.local_devices())
    for model in models:  # a model folder changed by hand is refused before any compile
        spec_lib.check_workdir(root / "models" / model.name, model.config)
    (root / "models").mkdir(parents=True, exist_ok=True)
    record = {"spec": resolved, "models": [m.name for m in models]}
    RunFolder(root).write_json(root / STUDY_FILE, record)
    _train(models, root, resolved, log, stop_fn)
    num_steps = resolved["num_steps"]
    folders = [RunFolder(root / "models" / m.name) for m in models]
    finished = [f for f in folders if _trained_step(f) >= num_steps]
    metrics = _names(resolved["metrics"], "metrics") if resolved.get("metrics") else None
    todo = {}  # the unevaluated finished models, by group
    for model, folder in zip(models, folders, strict=True):
        if _trained_step(folder) >= num_steps and not _evaluated(folder, num_steps):
            todo.setdefault(model.group, []).append(folder.path)
    _evaluate(todo, resolved, metrics, shape, log)
    evaluated = [f for f in finished if _evaluated(f, num_steps)]
    paths = None
    if analyse and evaluated:
        hyper = {m.objective: m.hyperparameter for m in models}
        title = resolved.get("name", "Study")
        evaluated_paths = [f.path for f in evaluated]
        paths = analyse_study(
            evaluated_paths, root / "analysis", hyperparameter_of=hyper, title=title
        )
        log(f"study: analysis of {len(evaluated)} models in {paths['html']}")
    return {"models": len(models), "trained": len(finished), "evaluated": len(evaluated),
            "analysis": paths}  # fmt: skip


def analyse_saved_study(workdir: str | os.PathLike) -> dict:
    """Redoes the analysis of a study folder from its evaluated models (``DIR/analysis``).

    Raises:
      FileNotFoundError: ``workdir`` holds no study, or none of its models is evaluated.
    """
    from disentax.runs.study_analysis import analyse_study

    root = pathlib.Path(workdir)
    rows = study_status(root)
    record = json.loads((root / STUDY_FILE).read_text(encoding="utf-8"))
    spec = record["spec"]
    done = [root / "models" / r["model"] for r in rows if r["evaluated"]]
    if not done:
        raise FileNotFoundError(f"{root}: no evaluated model to analyse (disentax study run)")
    hyper = {name: entry["hyperparameter"] for name, entry in spec.get("grid", {}).items()}
    title = spec.get("name", "Study")
    return analyse_study(done, root / "analysis", hyperparameter_of=hyper, title=title)
