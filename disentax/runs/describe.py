"""What the command's help shows: configs, their keys, datasets and benchmarks.

* :func:`shipped_configs` — each shipped config's name and the first line of its
  docstring (read from the file, not run).
* :func:`config_keys` — every key of a training config, with its value (the config's, or
  the default it gets) and its meaning (:data:`disentax.runs.spec.KEY_HELP`; for an
  objective's hyperparameter, the objective's own documentation).
* :func:`dataset_summary`, :func:`benchmark_summary` — the lines of ``data list`` and
  ``bench --list``, from the docstrings.
"""

from __future__ import annotations

import ast
import inspect
import json
import pathlib

from disentax.runs import spec as spec_lib
from disentax.runs.config import configs_dir

__all__ = ["benchmark_summary", "config_keys", "dataset_summary", "shipped_configs"]


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n", 1)[0].strip()


def shipped_configs() -> dict[str, str]:
    """The shipped config names (as ``--config`` takes them) and their one-line summaries.

    Returns:
      ``{name: first line of the file's docstring}``, sorted by name; files whose name
      starts with ``_`` (shared pieces such as ``_base.py``) are not configs.

    Examples:
      >>> from disentax.runs.describe import shipped_configs
      >>> "default" in shipped_configs()
      True
    """
    found = {}
    for path in sorted(configs_dir().glob("*.py")):
        if path.stem.startswith("_"):
            continue
        try:
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        except (SyntaxError, UnicodeDecodeError, OSError):
            doc = None
        found[path.stem] = _first_line(doc) or "(no description)"
    return found


def _hyperparameter_help(objective: str, name: str) -> str:
    """Whose hyperparameter it is, and what its declared check accepts."""
    from disentax import losses

    entry = losses.OBJECTIVES[objective]
    text = f"hyperparameter of disentax.losses.{entry.fn.__name__}"
    check = entry.hyperparameters[name].check
    accepts = _first_line(inspect.getdoc(check)).removeprefix("Check: ").rstrip(".")
    options = inspect.getclosurevars(check).nonlocals.get("options") if check else None
    if options is not None:  # losses' one_of(options)
        accepts = f"one of {', '.join(map(str, options))}"
    return f"{text}: {accepts}" if accepts else text


def _show(value) -> str:
    return json.dumps(value)


def config_keys(config) -> list[tuple[str, str, str]]:
    """Every key of a training config: ``(key, value, meaning)``, in a fixed order.

    The values are those the run would use (:func:`disentax.runs.spec.validate`): keys the
    config does not spell come with their defaults. The objective is shown as
    ``objective.name`` and one ``objective.<hyperparameter>`` each.

    Args:
      config: an ``ml_collections.ConfigDict`` (e.g. from :func:`disentax.runs.load_config`).

    Returns:
      A list of ``(key, value as JSON, one-line meaning)``.

    Raises:
      ValueError: the config does not validate (the message names the key).

    Examples:
      >>> from disentax import runs
      >>> from disentax.runs.describe import config_keys
      >>> keys = dict((k, v) for k, v, _ in config_keys(runs.load_config("default")))
      >>> keys["objective.name"], keys["reconstruction"]
      ('"beta_tcvae"', '"bernoulli"')
    """
    from disentax import losses

    resolved = spec_lib.validate(config).resolved
    order = [k for k in spec_lib.KEY_HELP if k in resolved]
    order += sorted(set(resolved) - set(order))
    rows = []
    for key in order:
        if key != "objective":
            rows.append((key, _show(resolved[key]), spec_lib.KEY_HELP.get(key, "")))
            continue
        objective = dict(resolved["objective"])
        name = objective.pop("name")
        rows.append(("objective.name", _show(name), spec_lib.KEY_HELP["objective"]))
        for hyper in losses.OBJECTIVES[name].hyperparameters:
            if hyper in objective:
                help_text = _hyperparameter_help(name, hyper)
                rows.append((f"objective.{hyper}", _show(objective[hyper]), help_text))
    return rows


def benchmark_summary(fn, folder: pathlib.Path) -> str:
    """A benchmark's line: the first line of its module's docstring (read, not imported).

    Args:
      fn: an entry of ``benchmarks.run.BENCHMARKS`` (named ``module.function``).
      folder: the ``benchmarks/`` folder of the source tree.
    """
    module = fn.__name__.rpartition(".")[0]
    try:
        doc = ast.get_docstring(ast.parse((folder / f"{module}.py").read_text(encoding="utf-8")))
    except (OSError, SyntaxError, ValueError):
        doc = None
    return _first_line(doc)


def dataset_summary(constructor) -> str:
    """A dataset's line: its class's or loader's docstring (first line), with its variant.

    Examples:
      >>> from disentax import data
      >>> dataset_summary(data.DATASETS["mpi3d_toy"]).endswith("[toy]")
      True
    """
    import functools

    fn = constructor.func if isinstance(constructor, functools.partial) else constructor
    line = _first_line(inspect.getdoc(fn))
    if isinstance(constructor, functools.partial) and constructor.args:
        line += f" [{', '.join(map(str, constructor.args))}]"
    return line
