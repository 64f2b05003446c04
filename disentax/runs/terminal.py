"""What the jobs say on the terminal: the start line, a line per metric, the score table.

The jobs (:func:`~disentax.runs.train`, :func:`~disentax.runs.evaluate`,
:func:`~disentax.runs.run`) print these lines on process 0 through
:func:`disentax.train.runtime.print_line` (a closed pipe never ends a job). This module only
formats them: plain text, no colour, no carriage return, so a log file reads as the
terminal did. The progress bar of training is :class:`disentax.train.Writer`'s.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

import jax

__all__ = [
    "describe_devices",
    "describe_votes",
    "duration",
    "evaluation_line",
    "metric_line",
    "score_table",
    "start_line",
]


def describe_devices(devices=None) -> str:
    """``"8 cpu devices"``, ``"1 gpu device (NVIDIA H200)"``, with the process count if > 1.

    Args:
      devices: the devices a job runs on (default: ``jax.devices()``).

    Examples:
      >>> import types
      >>> cpu = types.SimpleNamespace(platform="cpu", device_kind="cpu")
      >>> describe_devices([cpu, cpu])
      '2 cpu devices'
    """
    devices = list(jax.devices() if devices is None else devices)
    platform = devices[0].platform
    text = f"{len(devices)} {platform} device{'s' if len(devices) != 1 else ''}"
    kind = devices[0].device_kind
    if kind and kind.lower() != platform:
        text += f" ({kind})"
    processes = len({getattr(d, "process_index", 0) for d in devices})
    if processes > 1:
        text += f" in {processes} processes"
    return text


def duration(seconds: float) -> str:
    """``"42.1 s"``, ``"3 min 05 s"`` or ``"2 h 01 min"``.

    Examples:
      >>> duration(4.25), duration(185), duration(7300)
      ('4.2 s', '3 min 05 s', '2 h 01 min')
    """
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def start_line(
    config_name: str | None,
    spec,
    workdir: str | os.PathLike,
    devices,
    latest_step: int | None,
) -> str:
    """The first line of ``disentax train``: what runs, where, on what, fresh or resumed.

    Args:
      config_name: the config's name (``default``, a file's stem) or None.
      spec: the validated :class:`~disentax.runs.spec.RunSpec`.
      workdir: the run folder.
      devices: the devices training runs on.
      latest_step: the newest checkpoint of the folder, or None for a fresh start.
    """
    name = f"{config_name}: " if config_name else ""
    what = (
        f"train {name}{spec.objective} ({spec.model}, {spec.num_latents} latents) on "
        f"{spec.dataset}, {spec.num_steps} steps of {spec.batch_size} images"
    )
    if latest_step is None:
        how = "fresh start"
    elif latest_step >= spec.num_steps:
        how = f"already trained (checkpoint {latest_step})"
    else:
        how = f"resuming from its newest checkpoint (step {latest_step})"
    return f"{what} | workdir {workdir} | {describe_devices(devices)} | {how}"


def describe_votes(interventional: Mapping[str, int] | None) -> str:
    """The BetaVAE/FactorVAE vote counts of a record's ``sizes["interventional"]``."""
    if not interventional:
        return "BetaVAE/FactorVAE at the reference sizes"
    from disentax.evaluation import EVAL_SIZES

    train, test = interventional.get("num_train"), interventional.get("num_eval")
    preset = next(
        (name for name, sizes in EVAL_SIZES.items() if sizes and _within(sizes, interventional)),
        None,
    )
    label = f", the {preset} sizes" if preset else ""
    return f"BetaVAE/FactorVAE {train} train / {test} eval votes{label}"


def _within(sizes: Mapping, interventional: Mapping) -> bool:
    return all(interventional.get(k) == v for k, v in sizes.items())


def evaluation_line(workdir, step: int, names, *, votes: str, processes: int) -> str:
    """The line that opens an evaluation: what is scored, how, by how many processes."""
    where = "1 process" if processes == 1 else f"{processes} processes"
    metrics = "1 metric" if len(names) == 1 else f"{len(names)} metrics"
    return (
        f"evaluating {workdir} at checkpoint {step}: {metrics} ({votes}) "
        f"in {where}; a line per metric as it ends"
    )


def _headline(name: str, scores: Mapping) -> tuple[str, float | None]:
    from disentax.evaluation import METRICS

    key = METRICS[name].headline if name in METRICS else name
    value = scores.get(key)
    return key, (float(value) if isinstance(value, int | float) else None)


def _key_width() -> int:
    """The width of the widest headline key: the columns of the metric lines align."""
    from disentax.evaluation import METRICS

    return max(len(metric.headline) for metric in METRICS.values())


def _number(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return str(value)
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.4g}"


def metric_line(name: str, outcome: Mapping | str, seconds: float, *, note: str = "") -> str:
    """``"  mig                         0.232   2.1 s"``: a metric's headline score and time.

    Args:
      name: the metric's name (a key of :data:`disentax.evaluation.METRICS`).
      outcome: its scores (output key -> value), or why it was skipped.
      seconds: its wall time.
      note: said after the time (e.g. which process scored it).
    """
    tail = f"  ({note})" if note else ""
    width = _key_width()
    if isinstance(outcome, str):
        return f"  {name:<{width}} skipped: {outcome}"
    key, value = _headline(name, outcome)
    return f"  {key:<{width}} {_number(value):>8}  {duration(seconds):>9}{tail}"


def score_table(record: Mapping) -> list[str]:
    """The headline score of every metric of an evaluation record, one line each.

    The first line says the checkpoint and the BetaVAE/FactorVAE vote counts used; each
    metric's line names its headline key (e.g. ``dci/disentanglement``); skipped metrics
    come last with their reason.
    """
    from disentax.evaluation import METRICS

    sizes = record.get("sizes", {})
    lines = [
        f"scores at checkpoint {record.get('step')} "
        f"({describe_votes(sizes.get('interventional'))}):"
    ]
    scores = record.get("metrics", {})
    width = _key_width()
    for name, metric in METRICS.items():
        if metric.headline in scores:
            key, value = _headline(name, scores)
            lines.append(f"  {key:<{width}} {_number(value):>8}")
    for name, why in record.get("skipped", {}).items():
        lines.append(f"  {name:<{width}} skipped: {why}")
    return lines
