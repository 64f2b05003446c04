"""The run report: one self-contained HTML page summarising a run.

The page holds the resolved config, the final scores, and every picture embedded as a
base64 data URI, so the file can be mailed or opened offline; it loads nothing from the
network.
Each embedded picture carries ``data-artefact="<file name>"`` so tools (and the tests)
can tell which artefact it is.
"""

from __future__ import annotations

import base64
import html
import math
import pathlib
from collections.abc import Mapping, Sequence

__all__ = ["ARTEFACTS", "flatten", "render_report"]

# (picture file name, section heading, caption), in page order.
ARTEFACTS: tuple[tuple[str, str, str], ...] = (
    ("curves.png", "Training", "Training curves from the run's scalar log."),
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
      config: the stored config record (``{"config": ..., ...}``), or ``None``.
      evaluation: the evaluation record (``metrics``, ``step``, ...), or ``None``.
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
        parts.append('<p class="missing">No scores in this run (run `disentax evaluate`).</p>')
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
        parts.append('<p class="missing">No stored config in this run.</p>')
    parts.append("</body></html>")
    return "\n".join(parts)
