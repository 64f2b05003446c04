"""``disentax traverse``: regenerate every picture and the report of a run folder.

Reads a checkpoint through ``disentax.train.load_run``, samples seed and reference images
from the run's dataset, and writes the files listed in :data:`OWNED_FILES` (and only
those: each is written to a temporary name and moved into place, nothing else in the
run folder is touched).
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Sequence

import jax
import numpy as np

from disentax.viz import animations, decoding, grids, plots, report, traversals
from disentax.viz.rendering import render

__all__ = ["OWNED_FILES", "traverse_workdir"]

GIFS = {
    "fixed_interval": "traversal.gif",
    "std_gaussian": "traversal_std_gaussian.gif",
    "fitted_gaussian": "traversal_fitted_gaussian.gif",
}
OWNED_FILES = tuple(f"viz/{name}" for name, _, _ in report.ARTEFACTS) + ("report.html",)


def _checkpoint_steps(workdir: pathlib.Path) -> list[int]:
    folder = workdir / "checkpoints"
    if not workdir.is_dir():
        raise FileNotFoundError(f"workdir: no such run folder: {workdir}")
    steps = (
        sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())
        if folder.is_dir()
        else []
    )
    if not steps:
        raise FileNotFoundError(
            f"no checkpoints in {folder}: expected numbered step folders written by "
            f"`disentax train --workdir {workdir}` (train first, then traverse)"
        )
    return steps


def _replace(path: pathlib.Path, write) -> None:
    """Calls ``write(temporary_path)`` and moves the result to ``path``."""
    temporary = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def _read_matrices(
    path: pathlib.Path, step: int, num_latents: int | None, factor_names
) -> tuple[dict, list[str]]:
    """The latent x factor matrices of ``evaluation.json`` that fit the run, and notes."""
    if not path.is_file():
        return {}, []
    with open(path, encoding="utf-8") as file:
        record = json.load(file)
    notes = []
    if record.get("step") is not None and record["step"] != step:
        notes.append(
            f"Scores and matrices are from step {record['step']} (evaluation.json); the "
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
            notes.append(f"evaluation.json: matrix {name!r} of shape {matrix.shape} ignored.")
            continue
        matrices[name] = matrix
    return matrices, notes


def traverse_workdir(
    workdir,
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
    """Writes the traversal grid, GIFs, reconstructions, plots and ``report.html``.

    Args:
      workdir: a run folder with ``checkpoints/`` (and optionally ``config.json``,
        ``metrics.jsonl``, ``evaluation.json``).
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
    workdir = pathlib.Path(workdir)
    steps = _checkpoint_steps(workdir)
    if step is not None and step not in steps:
        raise FileNotFoundError(
            f"step: no checkpoint for step {step} in {workdir / 'checkpoints'}; "
            f"available steps: {steps}"
        )
    from disentax.train import load_run

    run = load_run(workdir, step=step)
    model, params, dataset = run.model, run.params, run.dataset
    num_latents = getattr(model, "num_latents", None)
    if num_latents is not None:
        traversals.check_latents(latents, int(num_latents))  # fail before any compute

    key = jax.random.key(seed)
    factors = dataset.sample_factors(key, num_seeds + num_reference)
    images = np.asarray(dataset.observations(factors), dtype=np.float32)
    seeds, reference = images[:num_seeds], images[num_seeds:]

    factor_names = list(getattr(dataset, "factor_names", []) or []) or None
    matrices, notes = _read_matrices(
        workdir / "evaluation.json", run.step, num_latents, factor_names
    )

    viz = workdir / "viz"
    viz.mkdir(exist_ok=True)
    written: dict[str, pathlib.Path] = {}

    def save(name: str, write) -> None:
        _replace(viz / name, write)
        written[name] = viz / name

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
    title = f"latent traversals, {value_range} range, checkpoint step {run.step}"
    figure = plots.traversal_figure(grid, row_labels=labels, inputs=seeds, title=title)
    save("traversal.png", lambda p: plots.save_figure(figure, p))

    short = [
        f"z{i}" + ("" if a else " off") for i, a in zip(grid.latents, grid.active, strict=True)
    ]
    for cycle, name in GIFS.items():
        frames = animations.gif_frames(rendering.animations[cycle], row_labels=short)
        save(name, lambda p, frames=frames: animations.write_gif(p, frames, fps=10))

    inputs = reference[: rendering.reconstructions.shape[0]]
    tiled = grids.tile(decoding.reconstruction_grid(inputs, rendering.reconstructions, columns=8))
    figure = plots.image_figure(tiled, title="inputs (odd rows) and reconstructions")
    save("reconstructions.png", lambda p: plots.save_figure(figure, p))

    figure = plots.kl_figure(rendering.kl, kl_threshold=kl_threshold)
    save("kl.png", lambda p: plots.save_figure(figure, p))

    for key_name, name, what in (
        ("mutual_info", "mutual_info.png", "mutual information (nats)"),
        ("dci_importance", "dci_importance.png", "DCI importance"),
    ):
        if key_name in matrices:
            figure = plots.heatmap_figure(
                matrices[key_name], title=f"{what}: latent x factor", factor_names=factor_names
            )
            save(name, lambda p, figure=figure: plots.save_figure(figure, p))
    if not matrices:
        notes.append(
            f"No latent x factor matrices: run `disentax evaluate --workdir {workdir}` "
            "to score the run, then `disentax traverse` again."
        )
    metrics_path = workdir / "metrics.jsonl"
    if metrics_path.is_file():
        try:
            figure = plots.curves_figure(plots.read_metrics_jsonl(metrics_path))
        except ValueError as err:
            notes.append(f"No training curves: {err}")
        else:
            save("curves.png", lambda p: plots.save_figure(figure, p))
    else:
        notes.append(f"No training log at {metrics_path}.")
    written["report.html"] = report.write_report(workdir, step=run.step, notes=notes)
    return written
