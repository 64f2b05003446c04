"""The package as a user installs it: a wheel with its configs, a jax+numpy core, extras.

Fast tests run the source tree with the optional modules hidden. The slow ones build the
wheel and install it into a fresh virtual environment whose only other packages are the
distributions that the wheel's own metadata requires (for the core, or with the ``train``
extra), found through the dependency metadata of the packages installed here and linked in,
so no download is needed. ``DISENTAX_PACKAGING_INDEX=1`` installs them from the package
registry instead, as a user would (minutes; skipped when the registry cannot be reached).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
import zipfile

import pytest

from disentax import _extras

ROOT = pathlib.Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
EXTRAS = PYPROJECT["project"]["optional-dependencies"]
FROM_INDEX = os.environ.get("DISENTAX_PACKAGING_INDEX") == "1"

# Code run first in a child process: the named top-level modules cannot be imported, as if
# they were not installed.
HIDE = """
import importlib.abc, sys
class _Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Hide())
"""
# A metric on small arrays, checked against its value by hand: codes that copy the two
# factors of a full grid (MIG 1), or hold the first factor twice (MIG 0: the first factor's
# two codes tie, and no code informs about the second).
METRIC = """
import numpy as np
import disentax.metrics as m
factors = np.stack(np.meshgrid(np.arange(4), np.arange(4)), -1).reshape(-1, 2).repeat(4, 0)
copy = m.mig(factors.astype(np.float32), factors, num_bins=4)
twice = m.mig(factors[:, [0, 0]].astype(np.float32), factors, num_bins=4)
print(float(copy), float(twice))
"""


def _child(code: str, hidden=(), cwd=None, python=sys.executable) -> subprocess.CompletedProcess:
    prefix = f"HIDDEN = {sorted(hidden)!r}\n{HIDE}\n" if hidden else ""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "XLA_FLAGS")}
    env["JAX_PLATFORMS"] = "cpu"
    return subprocess.run(
        [python, "-c", prefix + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=env,
        timeout=300,
    )


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(extra: str) -> set[str]:
    """Distribution names an extra of pyproject.toml brings, its own ``disentax[...]`` too."""
    names = set()
    for requirement in EXTRAS[extra]:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)
        if name == "disentax":
            inner = re.search(r"\[(.*)\]", requirement).group(1)
            for other in inner.split(","):
                names |= _requirement_names(other.strip())
        else:
            names.add(_canonical(name))
    return names


OPTIONAL_MODULES = sorted(_extras.EXTRA_OF)
# A run of a few seconds: a small model on a synthetic dataset, no final evaluation.
TINY = [
    "--config.model=fc",
    "--config.dataset=synthetic_identity",
    "--config.batch_size=8",
    "--config.num_latents=4",
    "--config.num_steps=3",
    "--config.log_every=1",
    "--config.checkpoint_every=3",
    "--config.evaluate=False",
]


def test_the_core_imports_and_scores_without_any_optional_module():
    out = _child(METRIC, hidden=OPTIONAL_MODULES)
    assert out.returncode == 0, out.stderr
    copy, twice = map(float, out.stdout.split())
    assert copy == pytest.approx(1.0, abs=1e-5)
    assert twice == pytest.approx(0.0, abs=1e-5)
    out = _child("import disentax.losses, disentax.data", hidden=OPTIONAL_MODULES)
    assert out.returncode == 0, out.stderr


def test_models_without_flax_say_which_extra():
    out = _child("import disentax.models", hidden=["flax"])
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.endswith(
        'disentax.models needs flax, which is not installed: pip install "disentax[models]"'
    )


@pytest.mark.parametrize(
    ("argv", "hidden", "extra"),
    [
        (["train"], ["flax", "ml_collections", "optax"], "train"),
        (["data", "show", "synthetic_identity", "--num", "4"], ["PIL"], "viz"),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(tmp_path, argv, hidden, extra):
    code = f"""
    import sys
    from disentax.cli import main
    sys.exit(main({[*argv, "--workdir", str(tmp_path / "run")]!r}))
    """
    out = _child(code, hidden=hidden, cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(f"disentax {argv[0]}: error: ")
    assert lines[0].endswith(f'pip install "disentax[{extra}]"')


def test_every_optional_module_names_an_extra_that_installs_it():
    for module, (package, extra) in _extras.EXTRA_OF.items():
        assert extra in EXTRAS, (module, extra)
        assert _canonical(package) in _requirement_names(extra), (module, package, extra)
    for command, (extra, included) in _extras.COMMAND_EXTRAS.items():
        for other in included:
            assert _requirement_names(other) <= _requirement_names(extra), (command, other)


def test_the_core_needs_only_jax_and_numpy():
    names = {re.match(r"[A-Za-z0-9_.-]+", r).group(0) for r in PYPROJECT["project"]["dependencies"]}
    assert names == {"jax", "numpy"}


def test_shipped_configs_load_by_name_from_any_directory(tmp_path, monkeypatch):
    from disentax import runs

    monkeypatch.chdir(tmp_path)
    names = sorted(p.stem for p in runs.configs_dir().glob("*.py") if not p.stem.startswith("_"))
    assert "default" in names
    for name in names:
        config = runs.load_config(name, ["--config.num_steps=3"])
        assert config.num_steps == 3, name
    with pytest.raises(FileNotFoundError, match="shipped configs in .*default"):
        runs.load_config("no_such_config")


def test_a_copied_config_loads_by_path(tmp_path):
    from disentax import runs

    copy = tmp_path / "mine.py"
    shutil.copy(runs.configs_dir() / "beta_vae.py", copy)
    assert runs.load_config(str(copy)).objective.name == "beta_vae"


# ---------------------------------------------------------------------------------------
# The wheel, installed in a fresh virtual environment.


def _setuptools_can_build() -> bool:
    try:
        major = int(importlib.metadata.version("setuptools").split(".")[0])
    except importlib.metadata.PackageNotFoundError:
        return False
    return major >= int(re.search(r"setuptools>=(\d+)", str(PYPROJECT["build-system"])).group(1))


def _pip(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=900,
    )


def _skip_if_offline(out: subprocess.CompletedProcess, what: str) -> None:
    if out.returncode != 0:
        text = out.stdout + out.stderr
        if re.search(
            r"NewConnectionError|Temporary failure|Network is unreachable|timed out", text
        ):
            pytest.skip(f"{what}: the package registry cannot be reached")
        raise AssertionError(f"{what} failed:\n{text[-3000:]}")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> pathlib.Path:
    """The wheel built from a copy of the source (the checkout gets no build/ folder)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "disentax", source / "disentax", ignore=shutil.ignore_patterns("__pycache__")
    )
    out_dir = tmp_path_factory.mktemp("wheel")
    # The build backend installed here (the dev extra has it) spares a download.
    isolation = ["--no-build-isolation"] if _setuptools_can_build() else []
    out = _pip("wheel", "--no-deps", *isolation, "-w", str(out_dir), str(source))
    _skip_if_offline(out, "building the wheel (setuptools from the registry)")
    (built,) = out_dir.glob("disentax-*.whl")
    return built


def _wheel_requirements(wheel: pathlib.Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(name).decode()
    return [
        line.split(":", 1)[1].strip()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    ]


def _closure(wheel: pathlib.Path, extras: set[str]) -> set[str]:
    """Installed distributions the wheel (with ``extras``) requires, transitively."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    own = _wheel_requirements(wheel)
    found: set[str] = set()
    todo = [(r, {""} | extras) for r in own]
    while todo:
        text, active = todo.pop()
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is not None and not any(marker.evaluate({"extra": e}) for e in active):
            continue
        name = canonicalize_name(requirement.name)
        if name == "disentax":
            todo += [(r, {""} | set(requirement.extras)) for r in own]
            continue
        if (name, frozenset(requirement.extras)) in found:
            continue
        found.add((name, frozenset(requirement.extras)))
        try:
            requires = importlib.metadata.distribution(name).requires or []
        except importlib.metadata.PackageNotFoundError:
            pytest.skip(f"{name} is not installed here to link in (pip install -e '.[dev]')")
        todo += [(r, {""} | set(requirement.extras)) for r in requires]
    return {name for name, _ in found}


def _link_distributions(names: set[str], into: pathlib.Path) -> None:
    """Links the top-level files of each installed distribution into ``into``."""
    into.mkdir()
    for name in sorted(names):
        distribution = importlib.metadata.distribution(name)
        for top in {pathlib.Path(f).parts[0] for f in distribution.files or ()}:
            if top in ("..", "__pycache__") or top.endswith(".pth") or (into / top).exists():
                continue
            target = pathlib.Path(distribution.locate_file(top))
            if target.exists():
                (into / top).symlink_to(target)


def _fresh_venv(tmp_path: pathlib.Path, wheel: pathlib.Path, extras: set[str]) -> pathlib.Path:
    """A new venv holding the wheel and what it requires with ``extras``; its bin folder."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    target = wheel.name if not extras else f"{wheel.name}[{','.join(sorted(extras))}]"
    if FROM_INDEX:
        out = _pip("--python", str(python), "install", "--quiet", target, cwd=wheel.parent)
        _skip_if_offline(out, f"pip install {target}")
        return venv / "bin"
    site = pathlib.Path(
        subprocess.check_output(
            [python, "-c", "import site; print(site.getsitepackages()[0])"], text=True
        ).strip()
    )
    _link_distributions(_closure(wheel, extras), tmp_path / "linked")
    (site / "linked.pth").write_text(str(tmp_path / "linked") + "\n")
    out = _pip("--python", str(python), "install", "--quiet", "--no-index", "--no-deps", str(wheel))
    assert out.returncode == 0, out.stderr
    out = _pip("--python", str(python), "check")
    assert out.returncode == 0, out.stdout + out.stderr
    return venv / "bin"


@pytest.mark.slow
def test_the_core_wheel_scores_with_jax_and_numpy_only(wheel, tmp_path):
    bin_dir = _fresh_venv(tmp_path, wheel, set())
    python = str(bin_dir / "python")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = _child(METRIC, cwd=elsewhere, python=python)
    assert out.returncode == 0, out.stderr
    assert [round(float(v), 4) for v in out.stdout.split()] == [1.0, 0.0]
    code = """
    import importlib.util, disentax
    print(disentax.__file__)
    optional = ("flax", "optax", "ml_collections", "PIL", "matplotlib", "sklearn", "h5py")
    print([m for m in optional if importlib.util.find_spec(m)])
    """
    out = _child(code, cwd=elsewhere, python=python)
    where, missing = out.stdout.splitlines()
    assert str(tmp_path / "venv") in where  # the installed wheel, not the checkout
    assert missing == "[]"


@pytest.mark.slow
def test_the_wheel_with_train_runs_disentax_train_from_another_directory(wheel, tmp_path):
    bin_dir = _fresh_venv(tmp_path, wheel, {"train"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    workdir = tmp_path / "run"
    argv = [str(bin_dir / "disentax"), "train", "--config", "default", "--workdir", str(workdir)]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "XLA_FLAGS")}
    out = subprocess.run(
        [*argv, *TINY], capture_output=True, text=True, cwd=elsewhere, env=env, timeout=600
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    steps = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    assert steps and steps[-1] == 3
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2, 3]
