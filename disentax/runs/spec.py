"""A training config checked and built: :class:`RunSpec` (plain values) and :class:`Parts`.

Every check happens before anything is compiled or written: unknown model, objective or
dataset names, keys that do not exist, values of the wrong type or range,
hyperparameters the objective rejects, and a run folder that holds a run of a different
config.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any

from disentax.runs.folder import RunFolder

__all__ = [
    "KEY_HELP",
    "RESUMABLE_KEYS",
    "Parts",
    "RunSpec",
    "build",
    "check_workdir",
    "read_config",
    "validate",
]

REQUIRED_KEYS = (
    "model",
    "objective",
    "dataset",
    "num_latents",
    "batch_size",
    "num_steps",
    "learning_rate",
    "seed",
    "log_every",
    "checkpoint_every",
    "evaluate",
    "parallel",
)
OPTIONAL_KEYS = {
    "reconstruction": "bernoulli",
    "keep_checkpoints": 3,
    "eval_sizes": "auto",
    "dtype": "float32",
    "data_dir": "",  # "": $DISENTAX_DATA or ~/disentax_data
    "correlations": "",  # "factorA,factorB,alpha,sigma[;...]": correlated training data
    "eval_distribution": "independent",
}
# What each key means, one line each (``disentax config show NAME`` prints them with the
# config's values); the choices a key accepts are listed where they are checked.
KEY_HELP = {
    "model": "encoder/decoder architecture: a key of disentax.models.MODELS (conv, fc, ...)",
    "objective": "training objective, a key of disentax.losses.OBJECTIVES; objective.* are "
    "its hyperparameters (default where not given)",
    "dataset": "ground-truth dataset: a name of `disentax data list`",
    "num_latents": "latent dimensions L of the representation",
    "batch_size": "images per step over all devices (a multiple of the device count)",
    "num_steps": "the step training runs to (a resumed run continues up to it)",
    "learning_rate": "Adam learning rate (b1 0.9, b2 0.999, eps 1e-8)",
    "seed": "seed of the parameters and of every batch (jax.random.key, 32 bits)",
    "log_every": "steps between logged window means (metrics.jsonl, TensorBoard, terminal)",
    "checkpoint_every": "steps between checkpoints (one is also saved at the end and on a stop)",
    "evaluate": "after the last step, score every metric and write the pictures and report",
    "parallel": "data-parallel train step: jit (a mesh, default) or pmap",
    "reconstruction": "decoder likelihood of the reconstruction term: bernoulli or gaussian",
    "keep_checkpoints": "how many of the newest checkpoints to keep",
    "eval_sizes": "BetaVAE/FactorVAE vote counts of the final evaluation: auto (quick on a "
    "CPU, reference elsewhere), quick or reference",
    "dtype": "computation dtype of the layers (parameters stay float32)",
    "data_dir": "folder of a dataset read from files (empty: $DISENTAX_DATA or ~/disentax_data)",
    "correlations": "train on correlated factor pairs (Traeuble et al. 2021): "
    "'factorA,factorB,alpha,sigma[;...]', empty: independent factors",
    "eval_distribution": "what evaluation scores: independent (default) or correlated factors",
}

# Keys that may change between the runs of one workdir: they decide how long and how
# visibly a run goes, not its trajectory (a resumed run is still the same run).
RESUMABLE_KEYS = (
    "num_steps",
    "log_every",
    "checkpoint_every",
    "evaluate",
    "keep_checkpoints",
    "parallel",
    "eval_sizes",
    "eval_distribution",
)
# The seeds jax.random.key tells apart: it keeps a seed's low 32 bits (without x64), so
# 2**32 would silently repeat seed 0.
MAX_SEED = 2**32 - 1
# FactorVAE's discriminator optimizer, as in the reference study: Adam(1e-4, 0.5, 0.9).
DISCRIMINATOR_ADAM = {"learning_rate": 1e-4, "b1": 0.5, "b2": 0.9}


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """A validated config, as plain Python values."""

    model: str
    objective: str
    hyperparameters: dict
    dataset: str
    num_latents: int
    batch_size: int
    num_steps: int
    learning_rate: float
    seed: int
    log_every: int
    checkpoint_every: int
    evaluate: bool
    parallel: str
    reconstruction: str
    keep_checkpoints: int
    eval_sizes: str
    dtype: str
    data_dir: str  # absolute, or "" for the default data folder
    correlations: str  # "" or "factorA,factorB,alpha,sigma[;...]"
    eval_distribution: str  # "independent" or "correlated"
    resolved: dict  # JSON-ready resolved config


@dataclasses.dataclass(frozen=True)
class Parts:
    """What a run is made of, built from a :class:`RunSpec`."""

    model: Any
    dataset: Any
    objective: Any
    hyperparameters: dict
    tx: Any
    discriminator: Any
    discriminator_tx: Any
    sample_in_step: bool
    eval_dataset: Any = None  # what evaluation scores (the independent data by default)


def _to_dict(config) -> dict:
    if hasattr(config, "to_dict"):
        return config.to_dict()
    if isinstance(config, dict):
        return dict(config)
    raise TypeError(f"config must be an ml_collections.ConfigDict, got {type(config).__name__}")


def _int(d: dict, name: str, *, minimum: int, maximum: int | None = None, why: str = "") -> int:
    value = d[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"config.{name} must be an int >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(
            f"config.{name} must be an int in [{minimum}, {maximum}]{why}, got {value}"
        )
    return value


def validate(config) -> RunSpec:
    """Checks every key and name of a training config.

    Args:
      config: an ``ml_collections.ConfigDict`` (or a dict) with the keys of
        ``disentax/configs``.

    Returns:
      The :class:`RunSpec`: plain values, the objective's hyperparameters completed with
      their defaults, and the JSON-ready resolved config.

    Raises:
      ValueError: a missing or unknown key, an unknown model/objective/dataset name, or a
        value out of range; the message names the key.
    """
    d = _with_defaults(_to_dict(config))
    name, hyper = _objective(d["objective"])
    _check_choices(d)
    lr = d["learning_rate"]
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not 0 < lr < float("inf"):
        raise ValueError(f"config.learning_rate must be a positive number, got {lr!r}")
    spec = dict(
        model=d["model"],
        objective=name,
        hyperparameters=hyper,
        dataset=d["dataset"],
        num_latents=_int(d, "num_latents", minimum=1),
        batch_size=_int(d, "batch_size", minimum=1),
        num_steps=_int(d, "num_steps", minimum=1),
        learning_rate=float(lr),
        seed=_int(d, "seed", minimum=0, maximum=MAX_SEED, why=" (jax.random.key keeps 32 bits)"),
        log_every=_int(d, "log_every", minimum=1),
        checkpoint_every=_int(d, "checkpoint_every", minimum=1),
        evaluate=d["evaluate"],
        parallel=d["parallel"],
        reconstruction=d["reconstruction"],
        keep_checkpoints=_int(d, "keep_checkpoints", minimum=1),
        eval_sizes=d["eval_sizes"],
        dtype=d["dtype"],
        data_dir=_data_dir(d),
        correlations=_correlations(d["correlations"]),
        eval_distribution=d["eval_distribution"],
    )
    resolved = {k: v for k, v in spec.items() if k not in ("objective", "hyperparameters")}
    resolved["objective"] = {"name": name, **hyper}
    resolved = json.loads(json.dumps(resolved, sort_keys=True))
    return RunSpec(**spec, resolved=resolved)


def _data_dir(d: dict) -> str:
    """``config.data_dir`` made absolute ("" stays: the default data folder)."""
    from disentax.data.catalog import FILE_DATASETS

    value = d["data_dir"]
    if not isinstance(value, str):
        raise ValueError(f"config.data_dir must be a folder path (str), got {value!r}")
    if value and d["dataset"] not in FILE_DATASETS:
        raise ValueError(
            f"config.data_dir is only for datasets read from files ({sorted(FILE_DATASETS)}); "
            f"config.dataset {d['dataset']!r} reads none"
        )
    return str(pathlib.Path(value).expanduser().resolve()) if value else ""


def _correlations(value) -> str:
    """``config.correlations`` checked for its form (factor names are checked by build)."""
    from disentax.data import parse_correlations

    try:
        parse_correlations(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"config.correlations: {err}") from err
    return value.strip()


def _with_defaults(d: dict) -> dict:
    """``d`` with the optional keys filled in; refuses missing and unknown keys."""
    missing = [k for k in REQUIRED_KEYS if k not in d]
    if missing:
        raise ValueError(f"config is missing the keys {missing}")
    unknown = sorted(set(d) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise ValueError(
            f"config has unknown keys {unknown}; known keys: "
            f"{sorted(REQUIRED_KEYS + tuple(OPTIONAL_KEYS))}"
        )
    return {**OPTIONAL_KEYS, **d}


def _objective(objective) -> tuple[str, dict]:
    """``(name, hyperparameters with defaults)`` of ``config.objective``, checked."""
    from disentax import losses

    if not isinstance(objective, dict) or "name" not in objective:
        raise ValueError("config.objective must be a ConfigDict with a 'name' key")
    name = objective["name"]
    if name not in losses.OBJECTIVES:
        raise ValueError(
            f"config.objective.name {name!r} is unknown; known: {sorted(losses.OBJECTIVES)}"
        )
    hyper = {k: v for k, v in objective.items() if k != "name"}
    defaults = losses.DEFAULT_HYPERPARAMETERS[name]
    extra = sorted(set(hyper) - set(defaults))
    if extra:
        raise ValueError(
            f"config.objective has hyperparameters {extra} that {name} does not take; "
            f"it takes {sorted(defaults)}"
        )
    hyper = {**defaults, **hyper}
    losses.validate_hyperparameters(name, hyper)
    return name, hyper


def _check_choices(d: dict) -> None:
    """Checks the keys that name one of a fixed set of choices."""
    from disentax import data, models

    choices = {
        "model": sorted(models.MODELS),
        "dataset": data.names(),
        "parallel": ["jit", "pmap"],
        # the reference study's two, not every entry of losses.RECONSTRUCTIONS
        "reconstruction": ["bernoulli", "gaussian"],
        "eval_sizes": ["auto", "reference", "quick"],  # disentax.evaluation.EVAL_SIZES + auto
        "dtype": list(models_dtypes()),
        "eval_distribution": ["independent", "correlated"],
    }
    for key, allowed in choices.items():
        if d[key] in allowed:
            continue
        if key in ("model", "dataset"):
            raise ValueError(f"config.{key} {d[key]!r} is unknown; known: {allowed}")
        note = " (the layers' computation dtype; parameters stay float32)" if key == "dtype" else ""
        raise ValueError(f"config.{key} must be one of {allowed}{note}, got {d[key]!r}")
    if not isinstance(d["evaluate"], bool):
        raise ValueError(f"config.evaluate must be a bool, got {d['evaluate']!r}")


def models_dtypes() -> tuple[str, ...]:
    """The computation dtypes the models accept (``disentax.models.DTYPES``)."""
    from disentax.models.vae import DTYPES

    return DTYPES


def build(spec: RunSpec) -> Parts:
    """The model, dataset, objective and optimizers a spec names (nothing compiled)."""
    import optax

    from disentax import data, losses, models

    dataset = data.get(spec.dataset, **({"data_dir": spec.data_dir} if spec.data_dir else {}))
    model = models.make_model(
        spec.model,
        num_latents=spec.num_latents,
        image_shape=tuple(dataset.observation_shape),
        dtype=spec.dtype,
    )
    eval_dataset = dataset
    if spec.correlations:
        try:
            dataset = data.correlate(dataset, data.parse_correlations(spec.correlations))
        except ValueError as err:
            raise ValueError(f"config.correlations: {err}") from err
        if spec.eval_distribution == "correlated":
            eval_dataset = dataset
    objective = losses.OBJECTIVES[spec.objective]
    # the batch the objective trains on (pairs, a labelled subset) fits the dataset: refused
    # here, before the job writes config.json or compiles anything
    from disentax.train import step_sampling

    options = objective.batch_options(objective.resolve(dict(spec.hyperparameters)))
    step_sampling.check_batch(objective.batch, dataset, options)
    discriminator = discriminator_tx = None
    if objective.needs_discriminator:
        discriminator = models.make_discriminator(spec.num_latents)
        discriminator_tx = optax.adam(**DISCRIMINATOR_ADAM)
    return Parts(
        model=model,
        dataset=dataset,
        objective=objective,
        hyperparameters=dict(spec.hyperparameters),
        tx=optax.adam(spec.learning_rate),  # b1 0.9, b2 0.999, eps 1e-8 as the reference
        discriminator=discriminator,
        discriminator_tx=discriminator_tx,
        sample_in_step=not getattr(dataset, "host_only", False),
        eval_dataset=eval_dataset,
    )


def read_config(folder: RunFolder):
    """The resolved config stored in a run folder, as a ``ConfigDict``."""
    import ml_collections

    return ml_collections.ConfigDict(folder.read_config())


def check_workdir(workdir: pathlib.Path, resolved: dict) -> None:
    """Refuses a run folder that holds a run of a different config (nothing is touched).

    A folder whose stored config never trained (no checkpoint and no training log: a job
    that stopped before its first step, e.g. on a batch too large for the machine) holds
    no run yet: any config may start there.

    Raises:
      ValueError: ``workdir`` is a file, holds checkpoints without a stored config, or its
        stored config differs from ``resolved`` in a key outside :data:`RESUMABLE_KEYS`.
    """
    folder = RunFolder(workdir)
    workdir = folder.path
    if workdir.exists() and not workdir.is_dir():
        raise ValueError(f"workdir {workdir} exists and is not a folder")
    started = bool(folder.checkpoint_steps()) or folder.metrics.exists()
    if not folder.config.exists():
        checkpoints = folder.checkpoints
        if checkpoints.is_dir() and any(checkpoints.iterdir()):
            raise ValueError(
                f"workdir {workdir} holds checkpoints but no {folder.CONFIG}; refusing to mix "
                "runs (use a new --workdir)"
            )
        return
    stored = folder.read_config()
    differences = []
    for key in sorted(set(stored) | set(resolved)):
        if key in RESUMABLE_KEYS:
            continue
        # an optional key absent from an older stored config had its default value
        default = OPTIONAL_KEYS.get(key, "<absent>")
        if stored.get(key, default) != resolved.get(key, default):
            differences.append(
                f"{key}: workdir has {stored.get(key, default)!r}, "
                f"config has {resolved.get(key, default)!r}"
            )
    if differences and started:
        raise ValueError(
            f"workdir {workdir} holds a run of a different config ("
            + "; ".join(differences)
            + "); use a new --workdir or the same config (only "
            + ", ".join(RESUMABLE_KEYS)
            + " may change to continue a run)"
        )
