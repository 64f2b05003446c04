"""Matplotlib figures: labelled traversal grid, reconstructions, KL bars, heatmaps, curves.

Every function returns a ``matplotlib.figure.Figure`` built without pyplot (no global
state, no display needed); :func:`save_figure` writes it as PNG. Row labels of the
traversal grid give the latent index, its average KL and, where ground truth exists, the
factor it is most informative about (argmax over the factors of a code x factor matrix:
the mutual information of MIG or the DCI importance).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from disentax.typing import ArrayLike
from disentax.viz import grids
from disentax.viz.traversals import KL_THRESHOLD, Traversal

__all__ = [
    "CURVE_KEYS",
    "curves_figure",
    "heatmap_figure",
    "image_figure",
    "kl_figure",
    "read_jsonl",
    "save_figure",
    "traversal_figure",
    "traversal_row_labels",
]

CURVE_KEYS = ("loss", "recon", "kl", "tc", "elbo")
_DPI = 100
_MIN_CELL = 40  # pixels: traversal cells smaller than this are enlarged


def save_figure(figure: Figure, path) -> None:
    """Writes ``figure`` as a PNG file at ``path``."""
    FigureCanvasAgg(figure)
    figure.savefig(path, format="png", dpi=_DPI)


def _pixel_figure(picture, *, left: float, right: float, bottom: float, top: float):
    """A figure showing ``picture`` at one pixel per screen pixel, margins in inches."""
    width, height = picture.shape[1] / _DPI, picture.shape[0] / _DPI
    figure = Figure(figsize=(width + left + right, height + bottom + top))
    fig_w, fig_h = figure.get_size_inches()
    axes = figure.add_axes((left / fig_w, bottom / fig_h, width / fig_w, height / fig_h))
    axes.imshow(picture, interpolation="nearest", vmin=0.0, vmax=1.0)
    return figure, axes


def traversal_row_labels(
    latents: ArrayLike,
    kl: ArrayLike,
    active: ArrayLike,
    *,
    informativeness: ArrayLike | None = None,
    factor_names: Sequence[str] | None = None,
    score_name: str = "MI",
) -> list[str]:
    """One label per traversal row: ``"z3  KL 2.41  posX (MI 0.52)"``.

    Args:
      latents: ``[R]`` latent index of each row.
      kl: ``[R]`` average KL of each row's latent (nats).
      active: ``[R]`` bool; inactive rows are labelled ``inactive`` instead of a factor.
      informativeness: ``[L, F]`` code x factor matrix (all latents), or ``None``.
      factor_names: ``F`` names; default ``factor 0 ...``.
      score_name: the matrix's name in the label (``"MI"`` or ``"DCI"``).

    Returns:
      ``R`` strings.
    """
    latents = np.asarray(latents)
    kl = np.asarray(kl, dtype=np.float64)
    active = np.asarray(active, dtype=bool)
    matrix = None if informativeness is None else np.asarray(informativeness, dtype=np.float64)
    if matrix is not None:
        if matrix.ndim != 2 or not matrix.shape[0] > latents.max():
            raise ValueError(
                f"informativeness: expected a [L, F] matrix covering latent {latents.max()}, "
                f"got shape {matrix.shape}"
            )
        if factor_names is None:
            factor_names = [f"factor {f}" for f in range(matrix.shape[1])]
        if len(factor_names) != matrix.shape[1]:
            raise ValueError(
                f"factor_names: expected {matrix.shape[1]} names (the matrix's factors), "
                f"got {len(factor_names)}"
            )
    labels = []
    for row, latent in enumerate(latents):
        label = f"z{latent}  KL {kl[row]:.2f}"
        if not active[row]:
            label += "  inactive"
        elif matrix is not None:
            best = int(np.argmax(matrix[latent]))
            label += f"  {factor_names[best]} ({score_name} {matrix[latent, best]:.2f})"
        labels.append(label)
    return labels


def traversal_figure(
    traversal: Traversal,
    *,
    row_labels: Sequence[str] | None = None,
    inputs: ArrayLike | None = None,
    title: str | None = None,
    pad: int = 2,
) -> Figure:
    """The traversal grid: seeds side by side, rows labelled, inactive rows greyed.

    Args:
      traversal: from ``traversals.traverse``; ``images [S, R, K, H, W, C]`` (channel
        counts other than 1 and 3 as :func:`disentax.viz.grids.displayable` draws them).
      row_labels: ``R`` labels (default: :func:`traversal_row_labels` without factors).
      inputs: ``[S, H, W, C]`` seed images, shown in the top row of an extra first
        column of each seed's block.
      title: figure title.
      pad: pixels between cells.

    Returns:
      The figure (one image pixel per screen pixel at 100 dpi).
    """
    images = np.array(grids.displayable(traversal.images))  # a writable copy
    num_seeds, num_rows, num_cols = images.shape[:3]
    if row_labels is None:
        row_labels = traversal_row_labels(traversal.latents, traversal.kl, traversal.active)
    if len(row_labels) != num_rows:
        raise ValueError(f"row_labels: expected {num_rows} labels, got {len(row_labels)}")
    active = np.asarray(traversal.active, dtype=bool)
    images[:, ~active] = 0.6 * images[:, ~active] + 0.4 * 0.75  # grey wash: inactive rows
    if inputs is not None:
        inputs = grids.displayable(inputs)
        if inputs.shape != (num_seeds, *images.shape[3:]):
            raise ValueError(
                f"inputs: expected the seed images {(num_seeds, *images.shape[3:])}, "
                f"got {inputs.shape}"
            )
        column = np.ones((num_seeds, num_rows, 1, *images.shape[3:]), np.float32)
        column[:, 0, 0] = inputs
        images = np.concatenate([column, images], axis=2)
    zoom = max(1, -(-_MIN_CELL // images.shape[3]))  # small images drawn larger
    images = images.repeat(zoom, axis=3).repeat(zoom, axis=4)
    height, width = images.shape[3:5]
    gap = np.ones((num_rows * (height + pad) + pad, 4 * pad, images.shape[-1]), np.float32)
    blocks = []
    for seed in range(num_seeds):
        blocks += [gap] if seed else []
        blocks.append(grids.tile(images[seed], pad=pad))
    picture = grids.to_rgb(np.concatenate(blocks, axis=1))

    left = 0.3 + 0.07 * max(len(label) for label in row_labels)  # 8 pt monospace
    figure, axes = _pixel_figure(picture, left=left, right=0.2, bottom=0.55, top=0.45)
    centres = pad + np.arange(num_rows) * (height + pad) + height / 2
    axes.set_yticks(centres, labels=list(row_labels), fontsize=8, family="monospace")
    for tick, is_active in zip(axes.get_yticklabels(), active, strict=True):
        tick.set_color("black" if is_active else "0.55")
    values = np.asarray(traversal.values)
    shared = np.allclose(values, values[:1])
    if shared:  # (+ 0.0 turns a rounded -0.0 into 0.0)
        tick_labels = [f"{round(float(v), 1) + 0.0:+.1f}" for v in values[0]]
    else:
        tick_labels = [str(k) for k in range(num_cols)]
    if inputs is not None:
        tick_labels = ["input", *tick_labels]
    block_width = len(tick_labels) * (width + pad) + pad + 4 * pad
    col_centres = pad + np.arange(len(tick_labels)) * (width + pad) + width / 2
    ticks = np.concatenate([col_centres + s * block_width for s in range(num_seeds)])
    axes.set_xticks(ticks, labels=tick_labels * num_seeds, fontsize=7)
    axes.set_xlabel("latent value" if shared else "step through each latent's posterior range")
    for spine in axes.spines.values():
        spine.set_visible(False)
    axes.set_title(title or f"latent traversals ({num_seeds} seed images)", fontsize=10)
    return figure


def image_figure(image: ArrayLike, *, title: str) -> Figure:
    """A tiled image (e.g. reconstructions) with a title, one pixel per screen pixel."""
    picture = grids.to_rgb(np.asarray(image, dtype=np.float32))
    figure, axes = _pixel_figure(picture, left=0.1, right=0.1, bottom=0.1, top=0.4)
    axes.set_axis_off()
    axes.set_title(title, fontsize=10)
    return figure


def kl_figure(kl: ArrayLike, *, kl_threshold: float = KL_THRESHOLD) -> Figure:
    """Bar chart of the average KL of every latent (inactive latents in grey).

    Args:
      kl: ``[L]`` average KL per latent (nats), in latent-index order.
      kl_threshold: latents at or below it are drawn grey, with the threshold as a line.
    """
    kl = np.asarray(kl, dtype=np.float64)
    figure = Figure(figsize=(max(4.0, 0.45 * kl.size + 1.5), 3.0), layout="constrained")
    axes = figure.add_subplot()
    colors = ["tab:blue" if value > kl_threshold else "0.6" for value in kl]
    axes.bar(np.arange(kl.size), kl, color=colors)
    axes.axhline(kl_threshold, color="0.3", lw=0.8, ls="--", label=f"inactive ≤ {kl_threshold}")
    axes.set_xticks(np.arange(kl.size), labels=[f"z{i}" for i in range(kl.size)])
    axes.set_xlabel("latent")
    axes.set_ylabel("average KL (nats)")
    axes.set_title("KL divergence per latent", fontsize=10)
    axes.legend(fontsize=8)
    return figure


def heatmap_figure(
    matrix: ArrayLike, *, title: str, factor_names: Sequence[str] | None = None
) -> Figure:
    """A code x factor matrix (e.g. mutual information, DCI importance) as a heatmap.

    Args:
      matrix: ``[L, F]`` values (rows latents, columns factors).
      title: figure title (say what the values are).
      factor_names: ``F`` column names; default ``factor 0 ...``.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"matrix: expected a [L, F] matrix, got shape {matrix.shape}")
    num_latents, num_factors = matrix.shape
    names = list(factor_names) if factor_names is not None else None
    if names is None or len(names) != num_factors:
        names = [f"factor {f}" for f in range(num_factors)]
    figure = Figure(
        figsize=(0.8 * num_factors + 2.2, 0.32 * num_latents + 1.5), layout="constrained"
    )
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="viridis", aspect="auto")
    axes.set_xticks(np.arange(num_factors), labels=names, rotation=30, ha="right")
    axes.set_yticks(np.arange(num_latents), labels=[f"z{i}" for i in range(num_latents)])
    axes.set_xlabel("factor")
    axes.set_ylabel("latent")
    scale = np.nanmax(matrix) if np.isfinite(matrix).any() else 1.0
    for (i, j), value in np.ndenumerate(matrix):
        shade = "black" if scale and value > 0.6 * scale else "white"
        axes.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color=shade)
    figure.colorbar(image, ax=axes)
    axes.set_title(title, fontsize=10)
    return figure


def read_jsonl(path) -> list[dict]:
    """Reads a training log of JSON lines (one object per line; blank lines skipped).

    A last line without its newline that is not JSON (a run killed mid-write) is skipped
    with a warning.

    Raises:
      FileNotFoundError: naming the file.
      ValueError: a line is not a JSON object (names the file and line number).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no training log at {path} (written by `disentax train`)")
    records = []
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                if not line.endswith("\n"):  # only the last line can lack its newline
                    warnings.warn(f"{path}:{number}: skipped a partial last line", stacklevel=2)
                    continue
                raise ValueError(f"{path}:{number}: not a JSON object: {err}") from err
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object, got {record!r}")
            records.append(record)
    return records


def curves_figure(records: Sequence[Mapping], keys: Sequence[str] = CURVE_KEYS) -> Figure:
    """Training curves: one panel per logged quantity against ``step``.

    Args:
      records: rows of a training log (each with ``step`` and some of ``keys``).
      keys: quantities to plot; those absent from every record are left out.

    Raises:
      ValueError: no record has a ``step`` and one of ``keys``.
    """
    present = [k for k in keys if any(k in r and "step" in r for r in records)]
    if not present:
        raise ValueError(
            f"records: expected rows with 'step' and at least one of {list(keys)}, "
            f"got {len(records)} rows"
        )
    figure = Figure(figsize=(2.6 * len(present), 2.6), layout="constrained")
    for index, key in enumerate(present):
        axes = figure.add_subplot(1, len(present), index + 1)
        rows = [r for r in records if key in r and "step" in r and r[key] is not None]
        steps = np.array([r["step"] for r in rows], dtype=np.float64)
        values = np.array([r[key] for r in rows], dtype=np.float64)
        axes.plot(steps, values, lw=1.2)
        axes.set_title(key, fontsize=10)
        axes.set_xlabel("step")
        axes.grid(alpha=0.3)
    return figure
