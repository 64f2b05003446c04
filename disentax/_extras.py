"""Which optional extra installs a missing third-party module, said in one line.

The core install (``pip install disentax``) brings only JAX and NumPy: enough for
:mod:`disentax.metrics`, :mod:`disentax.losses` and the procedural datasets of
:mod:`disentax.data`. Everything else comes with an extra of ``pyproject.toml``
(``pip install "disentax[train]"``). :func:`require` imports an optional module or says
which extra installs it; :func:`missing_extra_message` turns the ``ModuleNotFoundError``
of an optional module, raised anywhere during a command, into the line the ``disentax``
command prints.
"""

from __future__ import annotations

import importlib
import types

__all__ = [
    "COMMAND_EXTRAS",
    "EXTRA_OF",
    "install_hint",
    "missing_extra_message",
    "missing_module_error",
    "require",
]

#: Top-level import name of an optional dependency -> (its distribution, the extra that
#: installs it). Kept in step with ``[project.optional-dependencies]`` of pyproject.toml.
EXTRA_OF: dict[str, tuple[str, str]] = {
    "flax": ("flax", "models"),
    "optax": ("optax", "train"),
    "orbax": ("orbax-checkpoint", "train"),
    "ml_collections": ("ml_collections", "train"),
    "absl": ("absl-py", "train"),
    "tqdm": ("tqdm", "train"),
    "tensorboardX": ("tensorboardX", "train"),
    "matplotlib": ("matplotlib", "viz"),
    "PIL": ("pillow", "viz"),
    "h5py": ("h5py", "files"),
    "sklearn": ("scikit-learn", "sklearn"),
    "tensorflow_datasets": ("tensorflow-datasets", "tfds"),
    "pandas": ("pandas", "study"),
    "pyarrow": ("pyarrow", "study"),
    "tensorboard": ("tensorboard", "tensorboard"),
    "torch": ("torch", "bench"),
}

#: ``disentax`` sub-command -> (the extra it needs, the extras that one includes): a
#: module of an included extra missing during that command names the command's extra.
COMMAND_EXTRAS: dict[str, tuple[str, frozenset[str]]] = {
    "train": ("train", frozenset({"models", "train", "viz"})),
    "evaluate": ("train", frozenset({"models", "train", "viz"})),
    "traverse": ("train", frozenset({"models", "train", "viz"})),
    "config": ("train", frozenset({"models", "train", "viz"})),
    "study": ("train", frozenset({"models", "train", "viz"})),  # pandas: the study extra
    "bench": ("bench", frozenset({"models", "train", "viz", "bench"})),
}


def install_hint(extra: str) -> str:
    """The pip command installing ``extra``.

    Examples:
      >>> from disentax._extras import install_hint
      >>> install_hint("train")
      'pip install "disentax[train]"'
    """
    return f'pip install "disentax[{extra}]"'


def require(module: str, extra: str, purpose: str) -> types.ModuleType:
    """Imports ``module``, or raises one line naming the extra that installs it.

    Args:
      module: the module to import, e.g. ``"PIL.Image"``.
      extra: the extra of ``pyproject.toml`` that installs it, e.g. ``"viz"``.
      purpose: what needs it, for the message, e.g. ``"disentax.data.show"``.

    Returns:
      The imported module.

    Raises:
      ModuleNotFoundError: the module is not installed; the message names the package
        and the ``pip install "disentax[EXTRA]"`` command.

    Examples:
      >>> from disentax._extras import require
      >>> require("numpy", "core", "the example").__name__
      'numpy'
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        raise missing_module_error(err.name or module, extra, purpose) from err


def missing_module_error(module: str, extra: str, purpose: str) -> ModuleNotFoundError:
    """The error to raise when ``purpose`` cannot import ``module`` (see :func:`require`).

    Examples:
      >>> from disentax._extras import missing_module_error
      >>> print(missing_module_error("flax.linen", "models", "disentax.models"))
      disentax.models needs flax, which is not installed: pip install "disentax[models]"
    """
    top = module.split(".")[0]
    package = EXTRA_OF.get(top, (top, extra))[0]
    return ModuleNotFoundError(
        f"{purpose} needs {package}, which is not installed: {install_hint(extra)}", name=module
    )


def missing_extra_message(err: BaseException, command: str | None = None) -> str | None:
    """One line naming the extra for a missing optional module, or None if not that.

    Args:
      err: an exception raised while running a command.
      command: the ``disentax`` sub-command that was running (``"train"``, ...), so that
        a module its extra brings (e.g. flax for ``train``) names that extra.

    Returns:
      The line (what is missing and the pip command), or None when ``err`` is not a
      ``ModuleNotFoundError`` of an optional dependency, or already names its extra.

    Examples:
      >>> from disentax._extras import missing_extra_message
      >>> missing_extra_message(ModuleNotFoundError("No module named 'flax'", name="flax"),
      ...                       "train")
      'flax is not installed: pip install "disentax[train]"'
    """
    if not isinstance(err, ModuleNotFoundError) or not err.name:
        return None
    top = err.name.split(".")[0]
    if top not in EXTRA_OF:
        return None
    package, extra = EXTRA_OF[top]
    command_extra, included = COMMAND_EXTRAS.get(command, (extra, frozenset()))
    if extra in included:
        return f"{package} is not installed: {install_hint(command_extra)}"
    if "disentax[" in str(err):  # raised by require(): it names the extra already
        return None
    return f"{package} is not installed: {install_hint(extra)}"
