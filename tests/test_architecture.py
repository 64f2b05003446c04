"""The arrows between the rooms of the package hold (../shared/DESIGN.md, "The rooms").

cli -> runs -> {train, evaluation, viz} -> {models, losses, metrics, data, parallel}: a
room imports only rooms below it (or itself); train, evaluation and viz never import each
other; nothing below ``runs`` imports it; losses and metrics import neither models, train,
Flax nor a config library. Every import statement counts, including those inside
functions. The checker is plain ``ast`` so a violation names the file and line.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "disentax"

# Rank of each room: a room may import rooms of lower rank and itself.
RANKS = {
    "cli": 4,
    "runs": 3,
    "train": 2,
    "evaluation": 2,
    "viz": 2,
    "_allocator": 1,  # the command's process settings (used by cli and the eval worker)
    "models": 1,
    "losses": 1,
    "metrics": 1,
    "data": 1,
    "parallel": 1,
    "configs": 1,  # the shipped config files (read by runs through their path)
    "_extras": 0,  # names the extra of a missing optional dependency
    "typing": 0,
    "__init__": 0,  # the top-level package: the version only
}
# Imports between rooms of equal rank are refused except these (room -> rooms it may use).
SIDEWAYS = {
    "metrics": {"data"},  # the interventional scores take a ground-truth dataset
}
# Third-party libraries a room must not import.
FORBIDDEN_EXTERNAL = {
    "losses": {"flax", "ml_collections", "absl"},
    "metrics": {"flax", "ml_collections", "absl"},
    "train": {"ml_collections", "absl"},
    "evaluation": {"ml_collections", "absl"},
    "viz": {"ml_collections", "absl"},
}


def room_of(module: str) -> str | None:
    """``disentax.x.y`` -> ``x`` (``__init__`` for ``disentax`` itself); None if outside."""
    parts = module.split(".")
    if parts[0] != "disentax":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(path: pathlib.Path, package: pathlib.Path = PACKAGE):
    """``(line, imported module)`` of every import statement in ``path``, at any depth.

    ``from disentax import runs`` yields ``disentax.runs``; relative imports are resolved.
    """
    relative = path.relative_to(package.parent).with_suffix("")
    here = list(relative.parts)
    if here[-1] == "__init__":
        here = here[:-1]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + (1 if path.name == "__init__.py" else 0)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            if module == "disentax":
                for alias in node.names:
                    yield node.lineno, f"disentax.{alias.name}"
            else:
                yield node.lineno, module


def violations(package: pathlib.Path = PACKAGE) -> list[str]:
    """Every import that breaks the arrows, as ``file:line: room -> room``."""
    found = []
    for path in sorted(package.rglob("*.py")):
        module = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        source = room_of(module.removesuffix(".__init__"))
        if source not in RANKS:
            found.append(f"{path}: room {source!r} has no rank in the architecture test")
            continue
        for line, imported in imports_of(path, package):
            where = f"{path.relative_to(package.parent)}:{line}"
            target = room_of(imported)
            if target is None:
                top = imported.split(".")[0]
                if top in FORBIDDEN_EXTERNAL.get(source, ()):
                    found.append(f"{where}: {source} imports {top}")
                continue
            if target == source:
                continue
            if target not in RANKS:
                found.append(f"{where}: {source} imports unknown room {target}")
            elif RANKS[target] > RANKS[source] or (
                RANKS[target] == RANKS[source] and target not in SIDEWAYS.get(source, ())
            ):
                found.append(f"{where}: {source} -> {target}")
    return found


def test_the_package_keeps_its_arrows():
    assert violations() == []


def test_every_room_on_disk_has_a_rank():
    rooms = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()}
    rooms = {r for r in rooms if not r.startswith(".") and r != "__pycache__"}
    assert rooms <= set(RANKS), sorted(rooms - set(RANKS))


@pytest.mark.parametrize(
    ("room", "statement", "expected"),
    [
        ("metrics", "import flax.linen as nn", "metrics imports flax"),
        ("train", "def f():\n    from disentax import runs", "train -> runs"),
        ("viz", "from disentax.evaluation import evaluate", "viz -> evaluation"),
        ("losses", "from disentax.models import vae", "losses -> models"),
        ("runs", "from ..cli import main", "runs -> cli"),
    ],
)
def test_the_checker_catches_a_wrong_arrow(tmp_path, room, statement, expected):
    package = tmp_path / "disentax"
    (package / room).mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / room / "__init__.py").write_text("")
    (package / room / "bad.py").write_text(statement + "\n")
    (package / "cli.py").write_text("")
    assert any(expected in v for v in violations(package)), violations(package)


def test_the_checker_accepts_downward_and_same_room_imports(tmp_path):
    package = tmp_path / "disentax"
    (package / "runs").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "runs" / "__init__.py").write_text("from disentax.runs import folder\n")
    (package / "runs" / "folder.py").write_text(
        "import jax\nfrom disentax import train\nfrom . import load\nfrom ..metrics import mig\n"
    )
    assert violations(package) == []
