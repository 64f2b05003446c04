"""Sphinx configuration of the disentax manual.

Build (what ``.ci/run`` does; warnings are errors):

    pip install -e ".[dev,docs]"
    sphinx-build -W --keep-going -b html docs docs/_build/html

The API reference is derived from the code: at start-up :func:`write_api_pages` writes one
page per public module into ``docs/api/`` (git-ignored) listing every name of the module's
``__all__``, so a name added to an ``__all__`` appears without editing the docs, and a
public name without a docstring is a warning (an error under ``-W``).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import pathlib
import sys
import types

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
# The docs import the library the way a user does; JAX stays on the CPU and quiet.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import disentax  # noqa: E402

project = "disentax"
author = "the disentax authors"
copyright = "the disentax authors, Apache-2.0"  # noqa: A001
version = release = disentax.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx_copybutton",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "**/.ipynb_checkpoints"]
root_doc = "index"

myst_enable_extensions = ["colon_fence", "dollarmath", "deflist"]
myst_heading_anchors = 3
# The performance notes are moved verbatim from code comments, headings included; a skipped
# heading level there is cosmetic and must not fail the build.
suppress_warnings = ["myst.header"]

# Google-style docstrings (the house style); ``Attributes:`` as a list of fields.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True
napoleon_use_rtype = False
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
autosummary_generate = False
python_use_unqualified_type_names = True
add_module_names = False

html_theme = "sphinx_book_theme"
html_title = f"disentax {release}"
html_static_path: list[str] = []
html_theme_options = {
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "home_page_in_toc": True,
}
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True

# The public modules: every name in their ``__all__`` is documented on their page.
PUBLIC_MODULES = [
    "disentax.data",
    "disentax.data.sampling",
    "disentax.data.pairs",
    "disentax.data.labelled",
    "disentax.data.labellers",
    "disentax.models",
    "disentax.losses",
    "disentax.metrics",
    "disentax.metrics.estimators",
    "disentax.evaluation",
    "disentax.train",
    "disentax.viz",
    "disentax.runs",
    "disentax.parallel",
    "disentax.typing",
]


def _home(obj, name: str) -> str | None:
    """The public module that owns ``obj``: the innermost one whose code defines it."""
    defined_in = getattr(obj, "__module__", None) or ""
    home = None
    for module in PUBLIC_MODULES:
        inside = defined_in == module or defined_in.startswith(module + ".")
        if inside and getattr(importlib.import_module(module), name, None) is obj:
            home = module
    return home


def _constant_doc(module: types.ModuleType, name: str) -> str | None:
    """The documentation of a constant or alias, read from the module that assigns it.

    A string right after the assignment, the comment lines right above it (``#:`` or
    ``#``), or a trailing ``# comment`` on its line, looked for in the package's
    submodules.
    """
    candidates = [module] + [
        m
        for n, m in sorted(sys.modules.items())
        if n.startswith(module.__name__ + ".") and m is not None
    ]
    for source_module in candidates:
        try:
            source = inspect.getsource(source_module)
        except (OSError, TypeError):
            continue
        tree = ast.parse(source)
        lines = source.splitlines()
        body = tree.body
        for i, node in enumerate(body):
            targets = (
                [t.id for t in node.targets if isinstance(t, ast.Name)]
                if isinstance(node, ast.Assign)
                else [node.target.id]
                if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                else []
            )
            if name not in targets:
                continue
            following = body[i + 1] if i + 1 < len(body) else None
            if (
                isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                return inspect.cleandoc(following.value.value)
            above, j = [], node.lineno - 2
            while j >= 0 and lines[j].lstrip().startswith("#"):
                text = lines[j].lstrip()
                above.insert(0, text[3:] if text.startswith("#: ") else text[2:])
                j -= 1
            if above:
                return _comment_rst(above)
            last = lines[node.end_lineno - 1]
            if "  # " in last:
                return _comment_rst([last.split("  # ", 1)[1].strip()])
    return None


def _comment_rst(lines: list[str]) -> str:
    """Comment lines as reST: a paragraph, then a literal block from the first line that
    is laid out in columns (indented), if any."""
    cut = next((i for i, line in enumerate(lines) if line.startswith(" ")), len(lines))
    head = " ".join(lines[:cut]).replace("*", r"\*").replace("|", r"\|")
    if cut == len(lines):
        return head
    block = "\n".join("   " + line for line in lines[cut:])
    return f"{head.rstrip(':')}::\n\n{block}"


def _kind(obj) -> str:
    """How a public name is documented: module, exception, class, function or constant."""
    if isinstance(obj, types.ModuleType):
        return "module"
    ours = (getattr(obj, "__module__", None) or "").startswith("disentax")
    if inspect.isclass(obj) and ours:
        return "exception" if issubclass(obj, BaseException) else "class"
    if callable(obj) and not inspect.isclass(obj) and ours:
        return "function"  # functions, jitted functions and objectives (callable objects)
    return "constant"  # values, and type aliases (which carry no docstring of their own)


def _summary(doc: str) -> str:
    first = doc.strip().split("\n\n")[0].removesuffix("::")
    return " ".join(first.split())


def _entry(module_name: str, name: str, warn) -> str:
    module = importlib.import_module(module_name)
    obj = getattr(module, name)
    kind = _kind(obj)
    if kind == "module":
        return f".. rubric:: {name}\n\nThe submodule :mod:`{obj.__name__}`.\n"
    if kind != "constant":
        home = _home(obj, name)
        if home is not None and home != module_name:
            return (
                f".. py:data:: {name}\n   :no-index:\n\n   Re-exported: :py:obj:`{home}.{name}`.\n"
            )
        if not inspect.getdoc(obj):
            warn(f"{module_name}.{name}: public {kind} without a docstring")
        if kind == "function":
            return f".. autofunction:: {name}\n"
        return f".. auto{kind}:: {name}\n   :members:\n"
    doc = _constant_doc(module, name)
    if not doc:
        warn(f"{module_name}.{name}: public constant or alias without a docstring")
        doc = ""
    if isinstance(obj, (dict, tuple, list, str, int, float)):
        value = f"   :value: {obj!r}\n" if isinstance(obj, (str, int, float, tuple)) else ""
        if len(value) > 200:
            value = ""
    else:
        value = f"   :type: {_alias_repr(obj)}\n"
    body = "\n".join("   " + line if line else "" for line in doc.splitlines())
    return f".. py:data:: {name}\n{value}\n{body}\n"


def _alias_repr(obj) -> str:
    text = getattr(obj, "__name__", None) if inspect.isclass(obj) else None
    if text:
        return f"{obj.__module__}.{text}"
    return repr(obj).replace("typing.", "").replace("collections.abc.", "")


def _public_names(module: types.ModuleType) -> list[str]:
    """``__all__``, or for a module without one its own public functions and classes."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module.__name__
    ]


def _module_page(module_name: str, warn) -> str:
    module = importlib.import_module(module_name)
    if not module.__doc__:
        warn(f"{module_name}: public module without a docstring")
    names = _public_names(module)
    title = f"``{module_name}``"
    lines = [
        f".. This page is written by docs/conf.py from {module_name}.__all__; do not edit.",
        "",
        title,
        "=" * len(title),
        "",
        f".. automodule:: {module_name}",
        "   :no-members:",
        "",
        f".. currentmodule:: {module_name}",
        "",
    ]
    own = [
        n
        for n in names
        if _kind(getattr(module, n)) not in ("module", "constant")
        and _home(getattr(module, n), n) in (None, module_name)
    ]
    if own:
        lines += [".. autosummary::", "   :nosignatures:", ""]
        lines += [f"   {n}" for n in own] + [""]
    constants = [n for n in names if _kind(getattr(module, n)) == "constant"]
    if constants:
        lines += [".. list-table::", "   :widths: 30 70", ""]
        for n in constants:
            summary = _summary(_constant_doc(module, n) or "")
            lines += [f"   * - :py:data:`{n}`", f"     - {summary}"]
        lines.append("")
    lines += ["Reference", "---------", ""]
    lines += [_entry(module_name, n, warn) for n in names]
    return "\n".join(lines) + "\n"


def write_api_pages(app) -> None:
    """Writes ``docs/api/<module>.rst`` for every public module and the API index."""
    from sphinx.util import logging

    logger = logging.getLogger("disentax.api")
    out = DOCS / "api"
    out.mkdir(exist_ok=True)
    index = [
        ".. This page is written by docs/conf.py; do not edit.",
        "",
        "API reference",
        "=============",
        "",
        "Every public name of disentax: the ``__all__`` of each public module, with its",
        "docstring. Import the module and use the name from it (``from disentax import",
        "metrics; metrics.mig(codes, factors)``).",
        "",
        ".. toctree::",
        "   :maxdepth: 1",
        "",
    ]
    for module_name in PUBLIC_MODULES:
        text = _module_page(module_name, logger.warning)
        path = out / f"{module_name}.rst"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        index.append(f"   {module_name}")
    text = "\n".join(index) + "\n"
    if not (out / "index.rst").exists() or (out / "index.rst").read_text() != text:
        (out / "index.rst").write_text(text)


def write_generated_pages(app) -> None:
    """Regenerates the benchmark and results pages from the JSON files they are read from.

    Both are committed too (so that they read on the repository's web page); the build
    rewrites them only when the JSON changed since.
    """
    from benchmarks import report
    from experiments.studies import readme_section

    pages = {
        DOCS / "benchmarks.md": report.page(ROOT / "benchmarks" / "results"),
        DOCS / "results.md": readme_section.page(ROOT / "results"),
    }
    for path, text in pages.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")


def _drop_namedtuple_field_docs(app, what, name, obj, options, lines) -> None:
    """A NamedTuple field's generated "Alias for field number N" says nothing: drop it."""
    if len(lines) == 1 and lines[0].startswith("Alias for field number"):
        lines.clear()


def setup(app):
    app.connect("autodoc-process-docstring", _drop_namedtuple_field_docs)
    app.connect("builder-inited", write_api_pages)
    app.connect("builder-inited", write_generated_pages)
