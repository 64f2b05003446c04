"""HTML pieces of the run report: style, tables, folded sections, figures, links.

Every function returns escaped HTML text; :mod:`disentax.viz.report` assembles the page.
Nothing here reads a file except :func:`figure` (which embeds a picture as a data URI)
and nothing loads from the network.
"""

from __future__ import annotations

import base64
import html
import math
import pathlib
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "STYLE",
    "definitions",
    "details",
    "duration",
    "figure",
    "format_value",
    "key_values",
    "links",
    "table",
]

_MIME = {".png": "image/png", ".gif": "image/gif"}

# Pictures are scaled down to the page (never wider than it). A click on one shows it at
# full size in a box that scrolls sideways (a hidden checkbox: no script), so the page
# stays as wide as the window. GIF frames keep their pixels crisp.
STYLE = """
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222;
       overflow-wrap: break-word; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; }
/* a table wider than the page scrolls sideways inside itself */
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0 1em; max-width: 100%;
        display: block; overflow-x: auto; }
td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-family: monospace; white-space: nowrap; }
.card { border: 1px solid #bbb; border-radius: 6px; padding: 0.2em 1em 0.6em;
        margin: 1em 0; background: #fafafa; }
.card td, .card th { background: #fff; }
.protocol, .source { color: #555; font-size: 0.85em; }
.warn { color: #8a5a00; } .missing { color: #a33; }
dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 0.2em 1em; }
dt { font-weight: 600; } dd { margin: 0; overflow-wrap: anywhere; }
details { margin: 0.3em 0; } summary { cursor: pointer; }
section.figures { display: flex; flex-wrap: wrap; gap: 0 2em; align-items: flex-start; }
figure { margin: 1em 0; max-width: 100%; min-width: 0; }
figure img { max-width: 100%; height: auto; display: block; }
input.zoom { display: none; }
input.zoom + label { display: block; cursor: zoom-in; max-width: 100%; }
input.zoom:checked + label { cursor: zoom-out; overflow-x: auto; }
input.zoom:checked + label img { max-width: none; }
img.pixels { image-rendering: pixelated; }
figcaption { font-size: 0.85em; color: #555; max-width: 60em; }
"""


def format_value(value: object) -> str:
    """A score or config value as short text (4 significant digits; long lists counted)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, list | tuple) and len(value) > 12:
        return f"[{len(value)} values]"
    return str(value)


def duration(seconds: float) -> str:
    """Seconds as ``"12.3 s"``, ``"4 min 05 s"`` or ``"2 h 03 min"``.

    Example:
      >>> duration(12.34), duration(245), duration(7380)
      ('12.3 s', '4 min 05 s', '2 h 03 min')
    """
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {rest:02d} s" if minutes else f"{seconds:.1f} s"


def table(rows: Iterable[Sequence[str]], header: Sequence[str], numeric: Sequence[int] = ()) -> str:
    """A table of already escaped cells; the columns in ``numeric`` are right-aligned."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def key_values(values: Mapping[str, object], header: tuple[str, str]) -> str:
    """A two-column table of names and values."""
    rows = ((html.escape(k), html.escape(format_value(v))) for k, v in values.items())
    return table(rows, header, numeric=(1,))


def details(summary: str, inner: str, *, open_: bool = False) -> str:
    """A folded section: ``summary`` (plain text) shown, ``inner`` (HTML) on a click."""
    attribute = " open" if open_ else ""
    return f"<details{attribute}><summary>{html.escape(summary)}</summary>{inner}</details>"


def definitions(items: Iterable[tuple[str, str]]) -> str:
    """A list of ``(term, already escaped description)`` pairs."""
    return "<dl>" + "".join(f"<dt>{html.escape(t)}</dt><dd>{d}</dd>" for t, d in items) + "</dl>"


def links(items: Iterable[tuple[str, str]]) -> str:
    """A list of relative links ``(href, description)``."""
    entries = "".join(
        f'<li><a href="{html.escape(href)}"><code>{html.escape(href)}</code></a>: '
        f"{html.escape(what)}</li>"
        for href, what in items
    )
    return f"<ul>{entries}</ul>"


def figure(path: pathlib.Path, caption: str, *, href: str | None = None, notes=()) -> str:
    """A picture embedded as a data URI, its caption and extra caption ``notes``.

    The picture fits the page; a click toggles its full size (scrolling sideways).

    Args:
      path: a ``.png`` or ``.gif`` file.
      caption: what the picture shows.
      href: a relative link to the file, added to the caption.
      notes: further sentences of the caption (e.g. why a curve is negative).

    Raises:
      ValueError: ``path`` is neither ``.png`` nor ``.gif``.
    """
    mime = _MIME.get(path.suffix.lower())
    if mime is None:
        raise ValueError(f"artefacts: expected .png or .gif files, got {path}")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    name = html.escape(path.name)
    pixels = ' class="pixels"' if mime == "image/gif" else ""
    image = f'<img src="data:{mime};base64,{data}" alt="{name}" data-artefact="{name}"{pixels}>'
    toggle = f"zoom-{name}"
    image = (
        f'<input type="checkbox" class="zoom" id="{toggle}">'
        f'<label for="{toggle}" title="click: full size / fit the page">{image}</label>'
    )
    text = html.escape(caption) + "".join(f"<br>{html.escape(n)}" for n in notes)
    if href is not None:
        text += f' (file: <a href="{html.escape(href)}">{html.escape(href)}</a>)'
    return f"<figure>{image}<figcaption><code>{name}</code>: {text}</figcaption></figure>"
