"""Loading a training config: a shipped config name or a ``.py`` file, plus overrides.

The JAX ecosystem's convention of ``ml_collections``: a Python file whose ``get_config()``
returns a ``ConfigDict``; ``--config.KEY=VALUE`` strings override single fields (parsed
by ``ml_collections.config_flags``, which type-checks each value against the config).

A config file need not spell the optional keys (:data:`disentax.runs.spec.OPTIONAL_KEYS`)
or every hyperparameter of its objective: an override that names one adds it, starting
from its default. An override of ``objective.name`` starts the objective afresh from the
new objective's defaults (the file's hyperparameters belong to the old one).
"""

from __future__ import annotations

import ast
import os
import pathlib
from collections.abc import Sequence

__all__ = ["configs_dir", "load_config", "resolve_config_path"]

_PREFIX = "--config."


def configs_dir() -> pathlib.Path:
    """The folder of the shipped configs: the package ``disentax.configs``.

    It ships inside the package (a wheel, an editable install or a source checkout
    alike), so a config name works from any working directory.

    Examples:
      >>> from disentax import runs
      >>> (runs.configs_dir() / "default.py").is_file()
      True
    """
    import importlib.resources

    return pathlib.Path(str(importlib.resources.files("disentax.configs")))


def resolve_config_path(config: str) -> pathlib.Path:
    """A config argument is a path to a ``.py`` file or the name of a shipped config.

    A name (no ``.py`` suffix, no path separator) is looked up in :func:`configs_dir`,
    whatever the working directory; anything else is a file path.
    """
    path = pathlib.Path(config)
    if path.suffix == ".py" or os.sep in config:
        if not path.is_file():
            raise FileNotFoundError(f"--config: no such config file: {path.resolve()}")
        return path
    shipped = configs_dir() / f"{config}.py"
    if config.startswith("_") or not shipped.is_file():  # _base.py etc. are not configs
        known = sorted(p.stem for p in configs_dir().glob("*.py") if not p.stem.startswith("_"))
        raise FileNotFoundError(
            f"--config: {config!r} is neither a .py file nor a shipped config; "
            f"shipped configs in {configs_dir()}: {', '.join(known)}"
        )
    return shipped


def load_config(config: str, overrides: Sequence[str] = ()):
    """Loads ``get_config()`` from ``config`` and applies ``--config.KEY=VALUE`` overrides.

    Args:
      config: a path to a Python config file, or the name of a shipped config in
        ``disentax/configs`` (e.g. ``"default"``, ``"beta_tcvae"``).
      overrides: command-line strings of the form ``--config.KEY=VALUE``. A key the
        config lacks is accepted when it is an optional key of a training config or a
        hyperparameter of the config's objective (it starts from its default).

    Returns:
      The locked ``ml_collections.ConfigDict``.

    Raises:
      FileNotFoundError: no such config file or shipped config.
      ValueError: the file does not run or defines no ``get_config()``; an override
        names a key the config does not have (the message lists the known keys), or its
        value does not parse as the key's type.
    """
    path = resolve_config_path(config)
    base = _run_config_file(path)
    overrides = list(overrides)
    _declare_named_keys(base, _override_values(overrides))
    return _apply_overrides(base, overrides)


def _run_config_file(path: pathlib.Path):
    """The ``ConfigDict`` the file's ``get_config()`` returns."""
    import runpy

    import ml_collections

    try:
        namespace = runpy.run_path(str(path))
    except Exception as err:  # a config file is user code: say which file failed, and how
        message = f"--config {path}: the file fails to run: {type(err).__name__}: {err}"
        raise ValueError(message) from err
    get_config = namespace.get("get_config")
    if not callable(get_config):
        raise ValueError(
            f"--config {path} defines no get_config(): a config file is a Python file whose "
            "get_config() returns an ml_collections.ConfigDict"
        )
    try:
        config = get_config()
    except Exception as err:  # user code, reported in one line
        message = f"--config {path}: get_config() failed: {type(err).__name__}: {err}"
        raise ValueError(message) from err
    if isinstance(config, dict):
        config = ml_collections.ConfigDict(config)
    if not isinstance(config, ml_collections.ConfigDict):
        raise ValueError(
            f"--config {path}: get_config() must return an ml_collections.ConfigDict, got "
            f"{type(config).__name__}"
        )
    return config


def _override_values(overrides: Sequence[str]) -> dict[str, str]:
    """``{"a.b": "VALUE"}`` of the ``--config.a.b=VALUE`` overrides (later ones win)."""
    values = {}
    for override in overrides:
        if override.startswith(_PREFIX) and "=" in override:
            key, value = override[len(_PREFIX) :].split("=", 1)
            values[key] = value
    return values


def _declare_named_keys(config, values: dict[str, str]) -> None:
    """Adds the optional keys and hyperparameters that overrides name and ``config`` lacks.

    Raises:
      ValueError: an override names a key that is neither in ``config`` nor declared.
    """
    from disentax.runs.spec import OPTIONAL_KEYS, REQUIRED_KEYS

    for key in values:
        top, _, rest = key.partition(".")
        if top not in config:
            if rest or top not in OPTIONAL_KEYS:
                known = sorted(set(config) | set(REQUIRED_KEYS) | set(OPTIONAL_KEYS))
                raise ValueError(
                    f"bad config override --config.{key}: the config has no key {top!r}; "
                    f"known keys: {', '.join(known)}"
                )
            config[top] = OPTIONAL_KEYS[top]
    if "objective" in config and any(k.startswith("objective.") for k in values):
        _declare_hyperparameters(config, values)
    for key in values:
        _check_path(config, key)


def _check_path(config, key: str) -> None:
    """Refuses ``--config.a.b`` unless ``config.a`` is a group holding ``b``."""
    import ml_collections

    node, parts = config, key.split(".")
    for depth, part in enumerate(parts):
        where = ".".join(["config", *parts[:depth]])
        if not isinstance(node, ml_collections.ConfigDict):
            raise ValueError(
                f"bad config override --config.{key}: {where} is a value, not a group of keys"
            )
        if part not in node:
            raise ValueError(
                f"bad config override --config.{key}: {where} has no key {part!r}; its keys: "
                f"{', '.join(sorted(node))}"
            )
        node = node[part]


def _declare_hyperparameters(config, values: dict[str, str]) -> None:
    """The objective's hyperparameters that overrides name, from the objective's defaults."""
    import ml_collections

    from disentax import losses

    objective = config.objective
    if not isinstance(objective, ml_collections.ConfigDict) or "name" not in objective:
        return  # spec.validate reports the malformed objective
    name = values.get("objective.name", objective.name)
    if name != objective.name:  # a new objective starts from its own defaults
        config.objective = objective = ml_collections.ConfigDict({"name": objective.name})
    defaults = losses.DEFAULT_HYPERPARAMETERS.get(name)
    for key, value in values.items():
        if not key.startswith("objective.") or key == "objective.name":
            continue
        hyper = key.removeprefix("objective.")
        if hyper in objective:
            continue
        if defaults is None or hyper not in defaults:
            takes = "?" if defaults is None else ", ".join(sorted(defaults))
            raise ValueError(
                f"bad config override --config.{key}: objective {name!r} takes no "
                f"hyperparameter {hyper!r}; it takes {takes} (--config.objective.name=... "
                "changes the objective)"
            )
        objective[hyper] = _typed_default(defaults[hyper], value)


def _typed_default(default, value: str):
    """``default``, or for a None default a placeholder of the type ``value`` parses as."""
    if default is not None:
        return default
    from ml_collections import config_dict

    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        parsed = value
    return config_dict.placeholder(type(parsed) if parsed is not None else str)


def _apply_overrides(config, overrides: list[str]):
    """``config`` with the overrides parsed and type-checked by ``ml_collections``."""
    from absl import flags
    from ml_collections import config_flags

    argv = ["disentax", *overrides]
    flag_values = flags.FlagValues()
    config_flags.DEFINE_config_dict(
        "config", config, flag_values=flag_values, lock_config=True, sys_argv=argv
    )
    try:
        flag_values(argv)
    except (flags.Error, KeyError, AttributeError, TypeError, ValueError) as err:
        raise ValueError(f"bad config override in {overrides}: {err}") from err
    return flag_values.config
