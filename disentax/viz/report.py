"""``workdir/report.html``: one self-contained page summarising a run.

The page holds the resolved config (``config.json``), the final scores
(``evaluation.json``), and every picture of ``workdir/viz`` embedded as a base64 data
URI, so the file can be mailed or opened offline; it loads nothing from the network.
Each embedded picture carries ``data-artefact="<file name>"`` so tools (and the tests)
can tell which artefact it is.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import pathlib
from collections.abc import Mapping, Sequence

__all__ = ["ARTEFACTS", "flatten", "render_report", "write_report"]

# (file in workdir/viz, section heading, caption), in page order.
ARTEFACTS: tuple[tuple[str, str, str], ...] = (
    ("curves.png", "Training", "Training curves from metrics.jsonl."),
    ("kl.png", "Latents", "Average KL divergence of each latent from the prior."),
    (
        "mutual_info.png",
        "Latents vs factors",
        "Mutual information between discretised codes and factors (MIG's matrix).",
    ),
    ("dci_importance.png", "Latents vs factors", "DCI importance of each code for each factor."),
    (
        "traversal.png",
        "Traversals",
        "Rows: latents by decreasing KL; columns: the latent's value; others held at a "
        "seed image's posterior mean. Grey rows are inactive latents.",
    ),
    ("traversal.gif", "Traversals", "All latents cycling through [-2, 2] together."),
    ("traversal_std_gaussian.gif", "Traversals", "Cycling through N(0, 1) quantiles."),
    (
        "traversal_fitted_gaussian.gif",
        "Traversals",
        "Cycling through the quantiles of a Gaussian fitted to the aggregate posterior.",
    ),
    ("reconstructions.png", "Reconstructions", "Inputs (odd rows) above reconstructions."),
)

_MIME = {".png": "image/png", ".gif": "image/gif"}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.9em; margin-bottom: 1em; }
td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; }
td.num { text-align: right; font-family: monospace; }
section { display: flex; flex-wrap: wrap; gap: 0 2em; align-items: flex-start; }
figure { margin: 1em 0; width: min-content; max-width: 100%; overflow-x: auto; }
/* pictures keep their pixel size (labels stay legible); a figure wider than the page scrolls */
figcaption { font-size: 0.85em; color: #555; min-width: 20em; }
img { image-rendering: pixelated; }
.missing { color: #a33; }
"""


def flatten(tree: Mapping, prefix: str = "") -> dict[str, object]:
    """Flattens nested mappings with ``/``-joined keys (``{"a": {"b": 1}} -> {"a/b": 1}``)."""
    flat: dict[str, object] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "/"))
        else:
            flat[name] = value
    return flat


def _format(value: object) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, list | tuple) and len(value) > 12:
        return f"[{len(value)} values]"
    return str(value)


def _table(rows: Mapping[str, object], header: tuple[str, str]) -> str:
    cells = "".join(
        f'<tr><td>{html.escape(k)}</td><td class="num">{html.escape(_format(v))}</td></tr>'
        for k, v in rows.items()
    )
    return (
        f"<table><thead><tr><th>{html.escape(header[0])}</th><th>{html.escape(header[1])}</th>"
        f"</tr></thead><tbody>{cells}</tbody></table>"
    )


def _image(path: pathlib.Path, caption: str) -> str:
    mime = _MIME.get(path.suffix.lower())
    if mime is None:
        raise ValueError(f"artefacts: expected .png or .gif files, got {path}")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    name = html.escape(path.name)
    return (
        f'<figure><img src="data:{mime};base64,{data}" alt="{name}" data-artefact="{name}">'
        f"<figcaption><code>{name}</code>: {html.escape(caption)}</figcaption></figure>"
    )


def render_report(
    *,
    title: str,
    config: Mapping | None,
    evaluation: Mapping | None,
    artefacts: Sequence[tuple[pathlib.Path, str, str]],
    notes: Sequence[str] = (),
) -> str:
    """Renders the page.

    Args:
      title: page heading.
      config: the contents of ``config.json`` (or ``None``).
      evaluation: the contents of ``evaluation.json`` (or ``None``).
      artefacts: ``(path, section, caption)`` for each picture, in page order.
      notes: lines shown under the heading (e.g. what is missing and how to make it).

    Returns:
      The HTML text.
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    parts += [f'<p class="missing">{html.escape(note)}</p>' for note in notes]
    parts.append("<h2>Scores</h2>")
    if evaluation:
        scores = {
            k: v
            for k, v in flatten(evaluation.get("metrics", {})).items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        step = evaluation.get("step")
        parts.append(f"<p>Evaluated at step {html.escape(str(step))}.</p>")
        parts.append(_table(scores, ("metric", "score")))
    else:
        parts.append('<p class="missing">No evaluation.json in this run.</p>')
    section = None
    for path, heading, caption in artefacts:  # pictures of one heading flow side by side
        if heading != section:
            parts.append("</section>" if section is not None else "")
            parts.append(f"<h2>{html.escape(heading)}</h2><section>")
            section = heading
        parts.append(_image(path, caption))
    if section is not None:
        parts.append("</section>")
    parts.append("<h2>Config</h2>")
    if config:
        parts.append(_table(flatten(config), ("key", "value")))
    else:
        parts.append('<p class="missing">No config.json in this run.</p>')
    parts.append("</body></html>")
    return "\n".join(parts)


def _read_json(path: pathlib.Path) -> dict | None:
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def write_report(workdir, *, step: int | None = None, notes: Sequence[str] = ()) -> pathlib.Path:
    """Writes ``workdir/report.html`` from ``config.json``, ``evaluation.json``, ``viz/``.

    Pictures of :data:`ARTEFACTS` that are absent from ``workdir/viz`` are left out.

    Args:
      workdir: the run folder.
      step: the checkpoint step the pictures show (for the heading).
      notes: extra lines shown under the heading.

    Returns:
      The path of the report.
    """
    workdir = pathlib.Path(workdir)
    if not workdir.is_dir():
        raise FileNotFoundError(f"workdir: no such run folder: {workdir}")
    evaluation = _read_json(workdir / "evaluation.json")
    artefacts = [
        (workdir / "viz" / name, heading, caption)
        for name, heading, caption in ARTEFACTS
        if (workdir / "viz" / name).is_file()
    ]
    title = f"disentax run {workdir.resolve().name}"
    if step is not None:
        title += f", checkpoint step {step}"
    page = render_report(
        title=title,
        config=_read_json(workdir / "config.json"),
        evaluation=evaluation,
        artefacts=artefacts,
        notes=notes,
    )
    path = workdir / "report.html"
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(page, encoding="utf-8")
    os.replace(temporary, path)
    return path
