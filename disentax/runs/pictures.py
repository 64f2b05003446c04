"""``disentax traverse``: every picture and the report of a run folder, from a checkpoint.

Reads a checkpoint (:func:`disentax.runs.load`), samples seed and reference images from
the run's dataset, and writes the files listed in :data:`OWNED_FILES` (and only those:
each is written to a temporary name and moved into place; nothing else in the run folder
is touched).
The report itself is drawn by :func:`disentax.runs.reporting.write_report`.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable, Sequence

import jax
import numpy as np

from disentax.runs.folder import RunFolder
from disentax.runs.loading import load
from disentax.runs.lock import holds_workdir
from disentax.runs.reporting import write_report
from disentax.viz import animations, decoding, grids, plots, report, traversals
from disentax.viz.rendering import render

__all__ = ["OWNED_FILES", "traverse", "write_report"]

GIFS = {
    "fixed_interval": "traversal.gif",
    "std_gaussian": "traversal_std_gaussian.gif",
    "fitted_gaussian": "traversal_fitted_gaussian.gif",
}
# The files a traversal owns, relative to the run folder.
OWNED_FILES = tuple(f"{RunFolder.VIZ}/{name}" for name, _, _ in report.ARTEFACTS) + (
    RunFolder.REPORT,
)


def _read_matrices(
    folder: RunFolder, step: int, num_latents: int | None, factor_names
) -> tuple[dict, list[str]]:
    """The latent x factor matrices of the evaluation record that fit the run, and notes."""
    record = folder.read_json(folder.evaluation)
    if record is None:
        return {}, []
    notes = []
    if record.get("step") is not None and record["step"] != step:
        notes.append(
            f"Scores and matrices are from step {record['step']} ({folder.EVALUATION}); the "
            f"pictures are from checkpoint step {step}."
        )
    matrices = {}
    stored = record.get("matrices") or {}
    for name in ("mutual_info", "dci_importance"):  # the latent x factor matrices drawn
        if name not in stored:
            continue
        matrix = np.asarray(stored[name], dtype=np.float64)
        if (
            matrix.ndim != 2
            or (num_latents is not None and matrix.shape[0] != num_latents)
            or (factor_names and matrix.shape[1] != len(factor_names))
        ):
            notes.append(f"{folder.EVALUATION}: matrix {name!r} of shape {matrix.shape} ignored.")
            continue
        matrices[name] = matrix
    return matrices, notes


class _Pictures:
    """Writes pictures into the run's ``viz/`` folder, each atomically; remembers them."""

    def __init__(self, folder: RunFolder):
        self.folder = folder
        self.written: dict[str, pathlib.Path] = {}
        folder.viz.mkdir(parents=True, exist_ok=True)

    def save(self, name: str, write: Callable[[pathlib.Path], object]) -> None:
        self.written[name] = self.folder.write_atomic(self.folder.viz / name, write)

    def figure(self, name: str, figure) -> None:
        self.save(name, lambda p: plots.save_figure(figure, p))


@holds_workdir("traverse")
def traverse(
    workdir: str | os.PathLike,
    *,
    step: int | None = None,
    latents: Sequence[int] | None = None,
    num_seeds: int = 3,
    num_steps: int = 10,
    num_frames: int = 20,
    num_reference: int = 256,
    value_range: str = "prior",
    kl_threshold: float = traversals.KL_THRESHOLD,
    seed: int = 0,
) -> dict[str, pathlib.Path]:
    """Writes the traversal grid, GIFs, reconstructions, plots and the report of a run.

    Args:
      workdir: a run folder with checkpoints (and optionally its stored config, training
        log and evaluation).
      step: checkpoint step (default: the latest).
      latents: latent indices to show (default: all); out of range raises ValueError.
      num_seeds: seed images (columns of the GIF, blocks of the grid).
      num_steps: values per latent in the grid.
      num_frames: frames per GIF cycle.
      num_reference: images for the average KL and the fitted ranges.
      value_range: ``"prior"``, ``"interval"`` or ``"posterior"`` (see ``traversals``).
      kl_threshold: latents with average KL at or below it (nats) are marked inactive.
      seed: seed of the image sampling.

    Returns:
      ``{file name: path}`` of every file written.

    Raises:
      FileNotFoundError: the folder or its checkpoints (or the requested step) are missing.
      ValueError: a latent index is out of range (the message gives the valid range).
    """
    folder = RunFolder(workdir)
    folder.require_checkpoints(step)
    run = load(folder.path, step=step)
    model, params, dataset = run.model, run.params, run.dataset
    num_latents = getattr(model, "num_latents", None)
    if num_latents is not None:
        traversals.check_latents(latents, int(num_latents))  # fail before any compute

    images = np.asarray(
        dataset.observations(
            dataset.sample_factors(jax.random.key(seed), num_seeds + num_reference)
        ),
        dtype=np.float32,
    )
    seeds, reference = images[:num_seeds], images[num_seeds:]
    factor_names = list(getattr(dataset, "factor_names", []) or []) or None
    matrices, notes = _read_matrices(folder, run.step, num_latents, factor_names)

    rendering = render(
        model,
        params,
        seeds,
        reference_images=reference,
        num_steps=num_steps,
        value_range=value_range,
        cycles=tuple(GIFS),
        num_frames=num_frames,
        num_reconstructions=min(16, num_reference),
        latents=latents,
        kl_threshold=kl_threshold,
        output="sigmoid",  # every reconstruction loss of disentax reads sigmoid(logits)
    )
    pictures = _Pictures(folder)
    title = f"latent traversals, {value_range} range, checkpoint step {run.step}"
    _draw_traversals(pictures, rendering, seeds, matrices, factor_names, title)
    inputs = reference[: rendering.reconstructions.shape[0]]
    grid = decoding.reconstruction_grid(inputs, rendering.reconstructions, columns=8)
    tiled = grids.tile(grids.displayable(grid, min_size=16))  # e.g. a vector dataset's
    pictures.figure(
        "reconstructions.png",
        plots.image_figure(tiled, title="inputs (odd rows) and reconstructions"),
    )
    pictures.figure("kl.png", plots.kl_figure(rendering.kl, kl_threshold=kl_threshold))
    if getattr(dataset, "has_factors", True):
        notes += _draw_matrices(pictures, matrices, factor_names, folder)
    else:  # e.g. CelebA: no factors, so no latent x factor matrices to draw
        notes.append("The dataset has no ground-truth factors: no latent x factor matrices.")
    notes += _draw_curves(pictures, folder)
    written = pictures.written
    written[RunFolder.REPORT] = write_report(folder.path, step=run.step, notes=notes)
    return written


def _draw_traversals(pictures, rendering, seeds, matrices, factor_names, title) -> None:
    """The traversal figure and one GIF per cycle.

    Rows are labelled with each latent's KL and its most informative factor.
    """
    grid = rendering.traversal
    informative, score = None, "MI"
    if "mutual_info" in matrices:
        informative = matrices["mutual_info"]
    elif "dci_importance" in matrices:
        informative, score = matrices["dci_importance"], "DCI"
    labels = plots.traversal_row_labels(
        grid.latents,
        grid.kl,
        grid.active,
        informativeness=informative,
        factor_names=factor_names,
        score_name=score,
    )
    figure = plots.traversal_figure(grid, row_labels=labels, inputs=seeds, title=title)
    pictures.figure("traversal.png", figure)
    short = [
        f"z{i}" + ("" if a else " off") for i, a in zip(grid.latents, grid.active, strict=True)
    ]
    for cycle, name in GIFS.items():
        frames = animations.gif_frames(rendering.animations[cycle], row_labels=short)
        pictures.save(name, lambda p, frames=frames: animations.write_gif(p, frames, fps=10))


def _draw_matrices(pictures, matrices, factor_names, folder: RunFolder) -> list[str]:
    """Heatmaps of the latent x factor matrices; a note when there are none."""
    for key_name, name, what in (
        ("mutual_info", "mutual_info.png", "mutual information (nats)"),
        ("dci_importance", "dci_importance.png", "DCI importance"),
    ):
        if key_name in matrices:
            figure = plots.heatmap_figure(
                matrices[key_name], title=f"{what}: latent x factor", factor_names=factor_names
            )
            pictures.figure(name, figure)
    if matrices:
        return []
    return [
        f"No latent x factor matrices: run `disentax evaluate --workdir {folder.path}` "
        "to score the run, then `disentax traverse` again."
    ]


def _draw_curves(pictures, folder: RunFolder) -> list[str]:
    """Training curves from the run's scalar log; a note when there is none."""
    if not folder.metrics.is_file():
        return [f"No training log at {folder.metrics}."]
    try:
        figure = plots.curves_figure(plots.read_jsonl(folder.metrics))
    except ValueError as err:
        return [f"No training curves: {err}"]
    pictures.figure("curves.png", figure)
    return []
