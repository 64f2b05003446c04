"""Loading a training config: a shipped config name or a ``.py`` file, plus overrides.

The JAX ecosystem's convention of ``ml_collections``: a Python file whose ``get_config()``
returns a ``ConfigDict``; ``--config.KEY=VALUE`` strings override single fields (parsed
by ``ml_collections.config_flags``, which type-checks each value against the config).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence

__all__ = ["configs_dir", "load_config", "resolve_config_path"]


def configs_dir() -> pathlib.Path:
    """The folder holding the shipped experiment configs (``experiments/configs``).

    Looked for beside the package (a source checkout or editable install) and then in
    the current directory.
    """
    candidates = [
        pathlib.Path(__file__).resolve().parents[2] / "experiments" / "configs",
        pathlib.Path.cwd() / "experiments" / "configs",
    ]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "experiments/configs was not found beside the disentax package "
        f"({candidates[0]}) nor in the current directory ({candidates[1]}); "
        "install disentax from a source checkout with `pip install -e .` or pass "
        "--config PATH to a config file."
    )


def resolve_config_path(config: str) -> pathlib.Path:
    """A config argument is a path to a ``.py`` file or the name of a shipped config."""
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
      config: a path to a Python config file, or the name of a file in
        ``experiments/configs`` (e.g. ``"default"``, ``"beta_tcvae"``).
      overrides: command-line strings of the form ``--config.KEY=VALUE``.

    Returns:
      The locked ``ml_collections.ConfigDict``.

    Raises:
      ValueError: an override names a key the config does not have, or its value does
        not parse as the key's type.
    """
    from absl import flags
    from ml_collections import config_flags

    path = resolve_config_path(config)
    argv = ["disentax", f"--config={path}", *overrides]
    flag_values = flags.FlagValues()
    config_flags.DEFINE_config_file(
        "config", default=None, flag_values=flag_values, lock_config=True, sys_argv=argv
    )
    try:
        flag_values(argv)
    except (flags.Error, KeyError, AttributeError, TypeError, ValueError) as err:
        raise ValueError(f"bad config override in {list(overrides)}: {err}") from err
    return flag_values.config
