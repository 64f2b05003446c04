"""``report.html``: what a run folder's report shows, gathered from its files.

:func:`write_report` reads the run folder (config record, training log, evaluation
record, pictures), picks the headline score of each metric from the metric table and the
published anchors of the run's objective and dataset, and hands plain data to
:func:`disentax.viz.report.render_report`.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import pathlib
from collections.abc import Mapping, Sequence

from disentax import evaluation
from disentax import metrics as metric_kernels
from disentax.runs.folder import RunFolder
from disentax.runs.lock import holds_workdir
from disentax.viz import report, report_html

__all__ = ["curve_notes", "training_seconds", "write_report"]


def training_seconds(rows: Sequence[Mapping]) -> float | None:
    """Wall seconds of training, summed from the training log's timing columns.

    Each row covers the steps since the previous row at its ``steps_per_s``; the row
    after a (re)start also carries ``time_to_first_step_s`` (start-up and compilation up
    to the first step, which the rate leaves out).

    Args:
      rows: the rows of ``metrics.jsonl``, oldest first.

    Returns:
      The seconds, or None when the log records no timing.

    Example:
      >>> training_seconds([{"step": 2, "steps_per_s": 1.0, "time_to_first_step_s": 5.0},
      ...                   {"step": 4, "steps_per_s": 2.0}])
      7.0
    """
    total, previous, timed = 0.0, 0, False
    for row in rows:
        step, rate = row.get("step"), row.get("steps_per_s")
        if not isinstance(step, int):
            continue
        steps = step - previous
        first = row.get("time_to_first_step_s")
        if isinstance(first, int | float) and math.isfinite(first):
            total, steps, timed = total + first, steps - 1, True
        if isinstance(rate, int | float) and math.isfinite(rate) and rate > 0 and steps > 0:
            total, timed = total + steps / rate, True
        previous = step
    return total if timed else None


def curve_notes(config: Mapping, rows: Sequence[Mapping]) -> list[str]:
    """Caption sentences for the training curves whose sign or scale surprises.

    Args:
      config: the resolved config (``objective``, ``num_latents``, ``batch_size``).
      rows: the rows of ``metrics.jsonl``.

    Returns:
      One sentence per surprising curve (none when the log lacks it).
    """
    logged = {k for row in rows for k in row}
    objective = config.get("objective") or {}
    name = objective.get("name")
    notes = []
    if "recon" in logged:
        notes.append(
            "recon and kl are nats per image: summed over pixels and latents, averaged over "
            "the batch (disentanglement_lib's reduction), so recon dwarfs kl."
        )
    mws = objective.get("estimator", "mws") == "mws" and objective.get("dataset_size") is None
    if "tc" in logged and name == "beta_tcvae" and mws:
        notes.append(_mws_note(config, objective))
    elif "tc" in logged and name == "factor_vae":
        notes.append(
            "tc is the discriminator's density-ratio estimate mean(logit_0 - logit_1): it "
            "can dip below zero while the discriminator still errs."
        )
    if "elbo" in logged:
        notes.append("elbo = -(recon + kl), a lower bound on log p(x): negative, higher is better.")
    return notes


def _mws_note(config: Mapping, objective: Mapping) -> str:
    """Why β-TCVAE's tc (minibatch-weighted sampling, no dataset size) is never positive."""
    latents, batch = config.get("num_latents"), config.get("batch_size")
    example = ""
    if isinstance(latents, int) and isinstance(batch, int) and batch > 1:
        floor = -(latents - 1) * math.log(batch)
        example = f" (here L = {latents}, B = {batch}: {floor:.3g} when all posteriors coincide)"
    note = (
        "tc is never positive: its minibatch-weighted estimate leaves out the constant "
        "(L-1)·log(N·B), as disentanglement_lib does (objective dataset_size=None), so it "
        f"lies at or below 0, down to about -(L-1)·log B{example}; its trend, not its sign, "
        "is the signal."
    )
    beta = objective.get("beta")
    if isinstance(beta, int | float) and beta > 1:
        note += " loss = recon + kl + (β-1)·tc carries the same offset and can be negative."
    return note


def _read_log(folder: RunFolder) -> list[dict]:
    """The rows of the training log (lines that are not JSON objects are passed over)."""
    if not folder.metrics.is_file():
        return []
    rows = []
    for line in folder.metrics.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _trained(config: Mapping) -> str:
    """What was trained, in one line."""
    objective = dict(config.get("objective") or {})
    name = objective.pop("name", "?")
    values = ", ".join(f"{k}={v}" for k, v in objective.items() if v is not None)
    return (
        f"{name} ({values}) on {config.get('dataset')}, model {config.get('model')}, "
        f"{config.get('num_latents')} latents, batch {config.get('batch_size')}, "
        f"{config.get('num_steps')} steps, seed {config.get('seed')}"
    )


def _commit(record: Mapping) -> str:
    """The source commit of ``config.json``, or why there is none."""
    source = record.get("source")
    if source:
        dirty = " (with uncommitted changes)" if source.get("modified") else ""
        return f"{source.get('commit')}{dirty}"
    if "source" in record:
        return "none (trained from an installed package, not a checkout)"
    return "not recorded (config.json written before disentax kept it)"


def _run_facts(record: Mapping | None, scores: Mapping | None, rows) -> list[tuple[str, str]]:
    """``(label, text)`` lines: what was trained, the commit, wall times, devices."""
    record, scores = record or {}, scores or {}
    facts = []
    if record.get("config"):
        facts.append(("trained", _trained(record["config"])))
    if record:
        facts.append(("git commit", _commit(record)))
    seconds = training_seconds(rows)
    if seconds is not None:
        last = max((r["step"] for r in rows if isinstance(r.get("step"), int)), default=0)
        facts.append(("training wall time", f"{report_html.duration(seconds)} to step {last}"))
    total = (scores.get("seconds") or {}).get("total")
    if isinstance(total, int | float):
        facts.append(("evaluation wall time", report_html.duration(total)))
    devices = record.get("devices") or {}
    if devices:
        processes = devices.get("processes")
        text = f"{devices.get('count')} × {devices.get('kind')} ({devices.get('platform')})"
        if isinstance(processes, int) and processes > 1:
            text += f", {processes} processes"
        facts.append(("device", text))
    versions = record.get("versions") or {}
    if versions:
        facts.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    if record.get("written"):
        facts.append(("config written", str(record["written"])))
    return facts


def _files(folder: RunFolder) -> list[tuple[str, str]]:
    """Relative links to the run's files that exist, with what each holds."""
    steps = folder.checkpoint_steps()
    candidates = [
        (folder.config, "the resolved config, library versions, devices, source commit"),
        (folder.metrics, "the training log: one JSON row per log step"),
        (folder.evaluation, "every score, matrix, size and timing of the evaluation"),
        (folder.checkpoints, f"orbax checkpoints, steps {steps}"),
        (folder.viz / "traversal.png", "the traversal figure at full size"),
        (folder.viz / "traversal.gif", "the traversal animation"),
        (folder.viz, "every picture of this page as a file"),
        (
            folder.tensorboard,
            "TensorBoard event files (`tensorboard --logdir tensorboard` in this folder)",
        ),
    ]
    found = []
    for path, what in candidates:
        if path.exists():
            href = path.relative_to(folder.path).as_posix() + ("/" if path.is_dir() else "")
            found.append((href, what))
    return found


def _anchors(config: Mapping) -> tuple[list[dict], str]:
    """The published anchors of the run's objective and dataset, and those in words."""
    objective = dict(config.get("objective") or {})
    name, dataset = objective.pop("name", None), config.get("dataset")
    if name is None or dataset is None:
        return [], "this run (no stored config)"
    hyper = {k: v for k, v in objective.items() if isinstance(v, int | float)}
    found = evaluation.anchors_for(name, dataset, hyperparameters=hyper)
    return [dataclasses.asdict(a) for a in found], f"objective {name} on dataset {dataset}"


def _size_presets() -> dict[str, dict[str, int]]:
    """The named BetaVAE/FactorVAE sizes in full (the reference: the kernels' defaults)."""
    parameters = inspect.signature(metric_kernels.factor_vae_score).parameters
    reference = {k: parameters[k].default for k in ("batch_size", "num_train", "num_eval")}
    return {name: {**reference, **sizes} for name, sizes in evaluation.EVAL_SIZES.items()}


@holds_workdir("traverse")
def write_report(
    workdir: str | os.PathLike, *, step: int | None = None, notes: Sequence[str] = ()
) -> pathlib.Path:
    """Writes the run's ``report.html`` from its stored config, log, scores and pictures.

    Pictures of :data:`disentax.viz.ARTEFACTS` that are absent from ``viz/`` are left out.

    Args:
      workdir: the run folder.
      step: the checkpoint step the pictures show (for the heading).
      notes: extra lines shown under the heading.

    Returns:
      The path of the report.

    Raises:
      FileNotFoundError: ``workdir`` is not a folder.
    """
    folder = RunFolder(workdir)
    if not folder.path.is_dir():
        raise FileNotFoundError(f"workdir: no such run folder: {folder.path}")
    artefacts = [
        (folder.viz / name, heading, caption)
        for name, heading, caption in report.ARTEFACTS
        if (folder.viz / name).is_file()
    ]
    title = f"disentax run {folder.path.resolve().name}"
    if step is not None:
        title += f", checkpoint step {step}"
    record = folder.read_json(folder.config)
    config = (record or {}).get("config") or {}
    scores = folder.read_json(folder.evaluation)
    rows = _read_log(folder)
    anchors, context = _anchors(config)
    page = report.render_report(
        title=title,
        config=record,
        evaluation=scores,
        artefacts=artefacts,
        notes=notes,
        headline={name: metric.headline for name, metric in evaluation.METRICS.items()},
        protocols=evaluation.PROTOCOLS,
        anchors=anchors,
        size_presets=_size_presets(),
        anchor_context=context,
        facts=_run_facts(record, scores, rows),
        files=_files(folder),
        captions={"curves.png": curve_notes(config, rows)},
        pictures_href=RunFolder.VIZ,
    )
    return folder.write_atomic(folder.report, lambda p: p.write_text(page, encoding="utf-8"))
