"""The run report: one self-contained HTML page summarising a run.

The page opens with a headline card (the main score of each metric, the evaluation sizes
and vote counts, and the published scores of the same objective and dataset), then the
run's facts (commit, wall time, device) and links to its files, the pictures, and the
detail tables folded per metric. Every picture is embedded as a base64 data URI, so the
file can be mailed or opened offline; it loads nothing from the network. The links are
relative: they open the run's files when the report sits in its run folder.
Each embedded picture carries ``data-artefact="<file name>"`` so tools (and the tests)
can tell which artefact it is.

The page is drawn from plain data (mappings, strings, paths): the job layer
(:func:`disentax.runs.write_report`) gathers it from the run folder and the metric table.
"""

from __future__ import annotations

import html
import pathlib
from collections.abc import Mapping, Sequence

from disentax.viz import report_html as H

__all__ = ["ARTEFACTS", "flatten", "render_report"]

# (picture file name, section heading, caption), in page order.
ARTEFACTS: tuple[tuple[str, str, str], ...] = (
    ("curves.png", "Training", "Training curves from the run's scalar log (window means)."),
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
        "seed image's posterior mean. Grey rows are inactive latents. Scaled to the page: "
        "click it for full size.",
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

# The interventional sizes a reader compares (the vote counts and the batch per vote),
# and the scores that vote.
_VOTES = ("num_train", "num_eval", "batch_size")
_VOTING = ("beta_vae_score", "factor_vae_score")


def flatten(tree: Mapping, prefix: str = "") -> dict[str, object]:
    """Flattens nested mappings with ``/``-joined keys.

    Example:
      >>> flatten({"a": {"b": 1}, "c": 2})
      {'a/b': 1, 'c': 2}
    """
    flat: dict[str, object] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "/"))
        else:
            flat[name] = value
    return flat


def _scores(evaluation: Mapping) -> dict[str, float]:
    return {
        k: v
        for k, v in flatten(evaluation.get("metrics", {})).items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _group_of(key: str, names: Sequence[str]) -> str:
    """The metric a score key belongs to: the name it equals or extends with ``/``."""
    for name in names:
        if key == name or key.startswith(name + "/"):
            return name
    return key.split("/", 1)[0]


def _label(key: str, protocols: Mapping[str, str]) -> str:
    text = f"<code>{html.escape(key)}</code>"
    if key in protocols:
        text += f'<br><span class="protocol">{html.escape(protocols[key])}</span>'
    return text


def _anchor_cell(found: Sequence[Mapping]) -> str:
    if not found:
        return '<span class="source">—</span>'
    return "<br>".join(
        f"{html.escape(H.format_value(a['value']))} "
        f'<span class="source">{html.escape(str(a["label"]))}: '
        f"{html.escape(str(a['source']))}; {html.escape(str(a['protocol']))}</span>"
        for a in found
    )


def _headline_rows(evaluation, headline, protocols, anchors) -> list[tuple[str, str, str]]:
    """``(metric, score, anchors)`` cells of each headline metric scored, skipped or anchored."""
    scores = _scores(evaluation)
    skipped = evaluation.get("skipped") or {}
    rows = []
    for name, key in headline.items():
        found = [a for a in anchors if a["metric"] == key]
        if key in scores:
            score = html.escape(H.format_value(scores[key]))
        elif name in skipped:
            score = f'<span class="missing">skipped: {html.escape(str(skipped[name]))}</span>'
        elif found:
            score = '<span class="missing">not scored in this evaluation</span>'
        else:
            continue
        rows.append((_label(key, protocols), score, _anchor_cell(found)))
    return rows


def _preset(votes: Mapping[str, int], presets: Mapping[str, Mapping[str, int]]) -> str | None:
    """The name of the preset whose vote counts ``votes`` are, or None."""
    for name, sizes in presets.items():
        if all(votes.get(k) == sizes.get(k) for k in _VOTES):
            return name
    return None


def _sizes_lines(evaluation: Mapping, presets: Mapping[str, Mapping[str, int]]) -> list[str]:
    """The evaluation sizes (escaped), and a warning when the votes are not the reference's."""
    sizes = evaluation.get("sizes") or {}
    lines = []
    if "num_train" in sizes:
        text = f"{sizes['num_train']:,} training and {sizes.get('num_test', 0):,} test points"
        lines.append(html.escape(f"Array metrics: {text}."))
    votes = sizes.get("interventional") or {}
    voted = any(k in _scores(evaluation) for k in _VOTING)
    if not voted or not all(isinstance(votes.get(k), int) for k in _VOTES):
        return lines
    preset = _preset(votes, presets)
    lines.append(
        html.escape(
            f"BetaVAE and FactorVAE scores: {votes['num_train']:,} training and "
            f"{votes['num_eval']:,} evaluation votes of {votes['batch_size']} points each"
            + (f" (the {preset} vote counts)." if preset else ".")
        )
    )
    reference = presets.get("reference")
    if reference and preset != "reference":
        warning = (
            f"These are not the reference vote counts ({reference['num_train']:,} / "
            f"{reference['num_eval']:,} of {reference['batch_size']}): fewer votes give "
            "noisier scores; compare with published ones at the reference counts "
            "(`disentax evaluate --sizes reference`)."
        )
        lines.append(f'<span class="warn">{html.escape(warning)}</span>')
    return lines


def _headline_card(evaluation, headline, protocols, anchors, presets, context) -> str:
    parts = ['<div class="card" id="headline"><h2>Headline</h2>']
    step, seconds = evaluation.get("step"), (evaluation.get("seconds") or {}).get("total")
    line = f"Scores of checkpoint step {step}"
    if evaluation.get("representation"):
        line += f" (representation: posterior {evaluation['representation']})"
    if isinstance(seconds, int | float):
        line += f", evaluated in {H.duration(seconds)}"
    if evaluation.get("device"):
        line += f" on {evaluation['device']}"
    parts.append(f"<p>{html.escape(line)}.</p>")
    rows = _headline_rows(evaluation, headline, protocols, anchors)
    if anchors:
        parts.append(H.table(rows, ("metric", "score", "published"), numeric=(1,)))
    else:  # no published column of "none" on every row
        parts.append(H.table([row[:2] for row in rows], ("metric", "score"), numeric=(1,)))
    parts += [f"<p>{line}</p>" for line in _sizes_lines(evaluation, presets)]
    if anchors:
        parts.append(
            "<p>Published scores are those of the same objective on the same dataset "
            f"({html.escape(context)}), each beside the key of the protocol that produced it; "
            "a published number is one model's (often the best of a grid), a single run "
            "varies around it.</p>"
        )
    else:
        parts.append(f"<p>No published scores recorded for {html.escape(context)}.</p>")
    parts.append("</div>")
    return "".join(parts)


def _detail_tables(evaluation: Mapping, names: Sequence[str]) -> str:
    """Every score, folded per metric, then the rest of the evaluation record."""
    groups: dict[str, dict[str, float]] = {}
    for key, value in _scores(evaluation).items():
        groups.setdefault(_group_of(key, names), {})[key] = value
    seconds = evaluation.get("seconds") or {}
    order = [n for n in names if n in groups] + sorted(set(groups) - set(names))
    parts = []
    for name in order:
        summary = f"{name}: {len(groups[name])} value" + ("s" if len(groups[name]) > 1 else "")
        if isinstance(seconds.get(name), int | float):
            summary += f", {seconds[name]:.1f} s"
        parts.append(H.details(summary, H.key_values(groups[name], ("key", "score"))))
    rest = {k: v for k, v in evaluation.items() if k not in ("metrics", "matrices")}
    if rest:
        parts.append(H.details("evaluation record", H.key_values(flatten(rest), ("key", "value"))))
    return "".join(parts)


def _figures(artefacts, captions: Mapping[str, Sequence[str]], links_to: str | None) -> str:
    parts, section = [], None
    for path, heading, caption in artefacts:  # pictures of one heading flow side by side
        if heading != section:
            parts.append("</section>" if section is not None else "")
            parts.append(f'<h2>{html.escape(heading)}</h2><section class="figures">')
            section = heading
        href = None if links_to is None else f"{links_to}/{path.name}"
        parts.append(H.figure(path, caption, href=href, notes=captions.get(path.name, ())))
    if section is not None:
        parts.append("</section>")
    return "".join(parts)


def render_report(
    *,
    title: str,
    config: Mapping | None,
    evaluation: Mapping | None,
    artefacts: Sequence[tuple[pathlib.Path, str, str]],
    notes: Sequence[str] = (),
    headline: Mapping[str, str] | None = None,
    protocols: Mapping[str, str] | None = None,
    anchors: Sequence[Mapping[str, object]] = (),
    size_presets: Mapping[str, Mapping[str, int]] | None = None,
    anchor_context: str = "this run",
    facts: Sequence[tuple[str, str]] = (),
    files: Sequence[tuple[str, str]] = (),
    captions: Mapping[str, Sequence[str]] | None = None,
    pictures_href: str | None = None,
) -> str:
    """Renders the page.

    Args:
      title: page heading.
      config: the stored config record (``{"config": ..., ...}``), or ``None``.
      evaluation: the evaluation record (``metrics``, ``step``, ``sizes``, ``seconds``,
        ...), or ``None``.
      artefacts: ``(path, section, caption)`` for each picture, in page order.
      notes: lines shown under the heading (e.g. what is missing and how to make it).
      headline: metric name -> the key of its main score, in the card's order (default:
        every score key without a ``/``).
      protocols: score key -> the protocol it follows, shown under keys that share a name
        (the MIGs).
      anchors: published scores, each a mapping with ``metric`` (the score key it compares
        with), ``value``, ``label`` (the method), ``source`` and ``protocol``.
      size_presets: named BetaVAE/FactorVAE sizes (``num_train``, ``num_eval``,
        ``batch_size``), e.g. ``"reference"`` and ``"quick"``: the card names the preset
        the recorded vote counts match and flags counts other than ``"reference"``.
      anchor_context: the objective and dataset the anchors were chosen for, in words.
      facts: ``(label, text)`` lines about the run (commit, wall time, device...).
      files: ``(relative href, description)`` of the run's files.
      captions: picture file name -> further caption sentences.
      pictures_href: relative folder of the picture files: each picture links to its file.

    Returns:
      The HTML text.

    Example:
      >>> page = render_report(title="demo", config=None, evaluation={"metrics": {"mig": 0.5}},
      ...                      artefacts=[])
      >>> "<details" in page and "0.5" in page
      True
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{H.STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    parts += [f'<p class="missing">{html.escape(note)}</p>' for note in notes]
    if evaluation:
        if headline is None:
            headline = {k: k for k in _scores(evaluation) if "/" not in k}
        parts.append(
            _headline_card(
                evaluation, headline, protocols or {}, anchors, size_presets or {}, anchor_context
            )
        )
    else:
        parts.append('<p class="missing">No scores in this run (run `disentax evaluate`).</p>')
    if facts:
        parts.append("<h2>Run</h2>" + H.definitions((t, html.escape(d)) for t, d in facts))
    if files:
        parts.append("<h2>Files</h2>" + H.links(files))
    parts.append(_figures(artefacts, captions or {}, pictures_href))
    if evaluation:
        parts.append("<h2>All scores</h2>" + _detail_tables(evaluation, list(headline)))
    parts.append("<h2>Config</h2>")
    if config:
        parts.append(H.details("config record", H.key_values(flatten(config), ("key", "value"))))
    else:
        parts.append('<p class="missing">No stored config in this run.</p>')
    parts.append("</body></html>")
    return "\n".join(parts)
