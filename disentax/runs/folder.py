"""A run folder: every file name of a run in one place, atomic writes, provenance.

A run folder holds ``config.json`` (the resolved config, library versions, devices),
``metrics.jsonl`` and ``tensorboard/`` (the training log), ``checkpoints/<step>/`` (orbax),
``evaluation.json`` (scores), ``viz/`` (pictures), ``report.html`` and, while a job
writes the folder, its lock file ``.lock``. No other module of disentax spells these
names: the layers below receive paths and objects.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax

__all__ = ["RunFolder", "library_versions", "provenance", "source_revision"]


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries a run's numbers depend on."""
    import importlib.metadata
    import platform

    versions = {"python": platform.python_version()}
    for name in ("disentax", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def source_revision() -> dict[str, Any] | None:
    """The git commit of the disentax source tree, or None when not run from a checkout.

    Returns:
      ``{"commit": sha, "modified": whether tracked files differ from it}``; None for an
      installed wheel, a missing ``git`` or any git failure.
    """
    import subprocess

    root = pathlib.Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():  # an installed package, not a checkout
        return None

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        modified = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "modified": modified}


def provenance(mesh=None) -> dict[str, Any]:
    """Versions, source commit, devices (of ``mesh``, else all devices) and the time.

    With a mesh, ``devices["mesh"]`` is its shape by axis name (e.g. ``{"models": 4,
    "data": 2}`` for a study group split over 8 devices).
    """
    devices = list(mesh.devices.flat) if mesh is not None else jax.devices()
    shape = {} if mesh is None else {"mesh": dict(mesh.shape)}
    return {
        "versions": library_versions(),
        "source": source_revision(),
        "devices": {
            "count": len(devices),
            "kind": devices[0].device_kind,
            "platform": devices[0].platform,
            "processes": jax.process_count(),
            **shape,
        },
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


@dataclasses.dataclass(frozen=True)
class RunFolder:
    """The files of one run folder.

    Args:
      path: the folder (made absolute; need not exist yet).

    Example:
      >>> folder = RunFolder("runs/demo")
      >>> folder.config.name, folder.checkpoints.name
      ('config.json', 'checkpoints')
    """

    path: pathlib.Path

    CONFIG = "config.json"
    METRICS = "metrics.jsonl"
    TENSORBOARD = "tensorboard"
    CHECKPOINTS = "checkpoints"
    EVALUATION = "evaluation.json"
    VIZ = "viz"
    REPORT = "report.html"
    LOCK = ".lock"

    def __init__(self, path: str | os.PathLike):  # noqa: D107 -- Args in the class docstring
        object.__setattr__(self, "path", pathlib.Path(path).absolute())

    def __fspath__(self) -> str:  # noqa: D105 -- os.fspath protocol
        return str(self.path)

    @property
    def config(self) -> pathlib.Path:
        """``config.json``: the resolved config and its provenance."""
        return self.path / self.CONFIG

    @property
    def metrics(self) -> pathlib.Path:
        """``metrics.jsonl``: one JSON object per log step."""
        return self.path / self.METRICS

    @property
    def tensorboard(self) -> pathlib.Path:
        """``tensorboard/``: the TensorBoard event files."""
        return self.path / self.TENSORBOARD

    @property
    def checkpoints(self) -> pathlib.Path:
        """``checkpoints/``: one numbered folder per saved step."""
        return self.path / self.CHECKPOINTS

    @property
    def evaluation(self) -> pathlib.Path:
        """``evaluation.json``: the scores of :func:`disentax.runs.evaluate`."""
        return self.path / self.EVALUATION

    @property
    def viz(self) -> pathlib.Path:
        """``viz/``: the pictures of :func:`disentax.runs.traverse`."""
        return self.path / self.VIZ

    @property
    def report(self) -> pathlib.Path:
        """``report.html``: the self-contained summary page."""
        return self.path / self.REPORT

    @property
    def lock(self) -> pathlib.Path:
        """``.lock``: held by the job writing the folder (:mod:`disentax.runs.lock`)."""
        return self.path / self.LOCK

    def checkpoint_steps(self) -> list[int]:
        """The saved checkpoint steps, oldest first (``[]`` when there are none).

        A step counts once its numbered folder is committed (orbax writes into a
        temporary name and renames it when complete).
        """
        folder = self.checkpoints
        if not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())

    def latest_step(self) -> int | None:
        """The newest checkpoint step, or None."""
        steps = self.checkpoint_steps()
        return steps[-1] if steps else None

    def require_checkpoints(self, step: int | None = None) -> list[int]:
        """The saved steps.

        Raises:
          FileNotFoundError: the folder is missing, or no checkpoint (or not ``step``) is
            saved; the message names the folder and how to make one.
        """
        if not self.path.is_dir():
            raise FileNotFoundError(f"workdir: no such run folder: {self.path}")
        steps = self.checkpoint_steps()
        if not steps:
            raise FileNotFoundError(
                f"no checkpoints in {self.checkpoints}: expected numbered step folders "
                f"written by `disentax train --workdir {self.path}` (train first)"
            )
        if step is not None and step not in steps:
            raise FileNotFoundError(
                f"step: no checkpoint for step {step} in {self.checkpoints}; "
                f"available steps: {steps}"
            )
        return steps

    def read_json(self, path: pathlib.Path) -> dict | None:
        """The JSON object in ``path`` (a file of this folder), or None if absent.

        Raises:
          ValueError: the file is not UTF-8 JSON (the message names the file).
        """
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path} is not a readable JSON file: {err}") from err

    def write_json(self, path: pathlib.Path, record: Mapping) -> pathlib.Path:
        """Writes ``record`` to ``path`` atomically (sorted keys, indented)."""
        text = json.dumps(record, indent=2, sort_keys=True) + "\n"
        return self.write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    def write_atomic(self, path: pathlib.Path, write: Callable[[pathlib.Path], Any]):
        """Calls ``write(temporary_path)`` and renames the result to ``path``.

        A reader never sees a half-written file and a failed write leaves the old one.

        Raises:
          OSError: the write failed (e.g. a full disk); the message names ``path`` and
            says that its previous version, if any, is unchanged.
        """
        temporary = path.with_name(f".{path.stem}.tmp{path.suffix}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write(temporary)
            os.replace(temporary, path)
        except OSError as err:
            kept = "its previous version is unchanged" if path.exists() else "nothing written"
            message = f"cannot write {path} ({err.strerror or err}); {kept}"
            raise OSError(err.errno, message) from err
        finally:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
        return path

    def trim_metrics(self, step: int) -> str | None:
        """Keeps the rows of the training log up to ``step``, the step training resumes from.

        Rows past it would be logged twice (a kill after a log, before its checkpoint),
        and a partial last line (a kill mid-write) would be glued to the next row. The log
        is rewritten atomically only when something is dropped; lines that are not rows
        of ours are kept as they are.

        Returns:
          A line saying what was dropped, or None when nothing was.
        """
        path = self.metrics
        if not path.is_file():
            return None
        *lines, partial = path.read_bytes().split(b"\n")  # b"" after a final newline
        if partial and _row_step(partial) is not None:
            lines, partial = [*lines, partial], b""  # complete but for its newline
        kept = [line for line in lines if (_row_step(line) or 0) <= step]
        dropped = len(lines) - len(kept)
        if not dropped and not partial:
            return None
        self.write_atomic(path, lambda tmp: tmp.write_bytes(b"".join(x + b"\n" for x in kept)))
        what = [f"{dropped} rows after step {step}"] if dropped else []
        what += ["a partial last line"] if partial else []
        return f"{path}: dropped {' and '.join(what)} (training resumes from step {step})"

    def write_config(self, resolved: Mapping, *, mesh=None, **extra) -> pathlib.Path:
        """Writes ``config.json``: ``{"config": resolved, versions, devices, written}``."""
        return self.write_json(self.config, {"config": dict(resolved), **provenance(mesh), **extra})

    def read_config(self) -> dict:
        """The resolved config stored in ``config.json``.

        Raises:
          FileNotFoundError: no ``config.json`` (not a run folder).
          ValueError: the file is not a disentax ``config.json``.
        """
        if not self.config.is_file():
            raise FileNotFoundError(
                f"{self.path} holds no {self.CONFIG} (not a disentax run folder)"
            )
        try:
            stored = json.loads(self.config.read_text(encoding="utf-8"))["config"]
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(
                f"{self.config} is not a readable disentax config.json: {err}"
            ) from err
        return stored


def _row_step(line: bytes) -> int | None:
    """The ``step`` of a log row, or None for a line that is not one."""
    try:
        row = json.loads(line)
    except ValueError:
        return None
    step = row.get("step") if isinstance(row, dict) else None
    return step if isinstance(step, int) else None
