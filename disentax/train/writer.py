"""Where the numbers of a run go: a JSON-lines log, TensorBoard, and the terminal.

Only process 0 writes files. Each log step appends one JSON object to the log file
(``step``, ``loss``, ``recon``, ``kl``, ``tc``, ``elbo``, ..., ``steps_per_s``,
``images_per_s``) and the same scalars to a TensorBoard event file
(``tensorboardX.SummaryWriter``). On an interactive terminal a progress bar (``tqdm``)
shows steps/s, images/s, loss and the ETA; otherwise one plain line is printed per log
step, so log files of batch jobs stay readable. Terminal output that nobody reads any
more (a closed pipe, a closed terminal) is dropped: it never stops a run.

The TensorBoard writer is made at the first log step, not when the job starts:
``tensorboardX`` imports PyTorch when it is installed, which would delay the first step.
"""

from __future__ import annotations

import json
import math
import pathlib
import struct
import sys
import time
from collections.abc import Iterator, Mapping

from disentax.train.runtime import drop_closed_output, print_line

__all__ = ["Writer", "format_line", "read_events"]


def read_events(path: str | pathlib.Path) -> Iterator[dict]:
    """Reads a TensorBoard event file back, checking every record's CRC.

    The file is a sequence of TFRecord records (length, masked CRC-32C of the length,
    payload, masked CRC-32C of the payload); each payload is a ``tensorflow.Event``
    protocol buffer, parsed and checked with ``tensorboardX``'s own message classes and
    CRC function.

    Yields:
      ``{"wall_time", "step", "file_version" (first event), "scalars": {tag: value}}``.

    Raises:
      ValueError: a truncated record or a CRC mismatch.
    """
    from tensorboardX.crc32c import crc32c
    from tensorboardX.proto import event_pb2

    def masked(data: bytes) -> int:
        crc = crc32c(data)
        return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF

    data = pathlib.Path(path).read_bytes()
    pos = 0
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError(f"{path}: truncated record header at byte {pos}")
        header = data[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", data[pos + 8 : pos + 12])
        if header_crc != masked(header):
            raise ValueError(f"{path}: bad length CRC at byte {pos}")
        payload = data[pos + 12 : pos + 12 + length]
        if len(payload) != length or pos + 16 + length > len(data):
            raise ValueError(f"{path}: truncated record at byte {pos}")
        (payload_crc,) = struct.unpack("<I", data[pos + 12 + length : pos + 16 + length])
        if payload_crc != masked(payload):
            raise ValueError(f"{path}: bad data CRC at byte {pos}")
        pos += 16 + length
        event = event_pb2.Event.FromString(payload)
        record = {
            "wall_time": event.wall_time,
            "step": event.step,
            "scalars": {v.tag: v.simple_value for v in event.summary.value},
        }
        if event.file_version:
            record["file_version"] = event.file_version
        yield record


# The figures the progress bar shows, in order: (scalar key, label).
_BAR_FIGURES = (("loss", "loss"), ("kl", "kl"), ("tc", "tc"), ("images_per_s", "img/s"))


def _clean(value):
    value = float(value)
    return value if math.isfinite(value) else str(value)


def format_line(step: int, num_steps: int, scalars: Mapping[str, float], eta_s: float) -> str:
    """A plain progress line: ``step 500/5000 (10%) loss 71.2 ... 41.3 steps/s ETA 1:49``."""
    keys = ("loss", "recon", "kl", "tc", "elbo")
    parts = [f"step {step}/{num_steps} ({100.0 * step / max(num_steps, 1):.0f}%)"]
    parts += [f"{k} {scalars[k]:.4g}" for k in keys if k in scalars]
    if "steps_per_s" in scalars:
        parts.append(f"{scalars['steps_per_s']:.3g} steps/s")
        parts.append(f"{scalars['images_per_s']:.4g} images/s")
    if math.isfinite(eta_s):
        minutes, seconds = divmod(int(eta_s), 60)
        parts.append(f"ETA {minutes}:{seconds:02d}")
    return " ".join(parts)


class Writer:
    """Writes a run's scalars; a no-op except on the writing process.

    Args:
      log_path: the JSON-lines file scalars are appended to.
      tensorboard_dir: the folder of TensorBoard event files (None: no TensorBoard).
      num_steps: the run's last step (for progress and ETA).
      start_step: the step training starts (or resumes) from.
      enabled: write files and print (process 0); False makes every method a no-op.
      interactive: progress bar (True) or plain lines (False); default: whether stderr
        is a terminal.
    """

    def __init__(
        self,
        log_path: str | pathlib.Path,
        *,
        tensorboard_dir: str | pathlib.Path | None = None,
        num_steps: int,
        start_step: int = 0,
        enabled: bool = True,
        interactive: bool | None = None,
    ):
        self.enabled = enabled
        self.num_steps = num_steps
        self.log_path = pathlib.Path(log_path)
        self.tensorboard_dir = None if tensorboard_dir is None else pathlib.Path(tensorboard_dir)
        self._jsonl = None
        self._tensorboard = None
        self._bar = None
        self._figures: dict[str, str] = {}  # the bar's figures, by label
        self._start_time = time.perf_counter()
        self._start_step = start_step
        if not enabled:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._jsonl = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115
        interactive = sys.stderr.isatty() if interactive is None else interactive
        if interactive:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=num_steps,
                initial=start_step,
                unit="step",
                dynamic_ncols=True,
                file=sys.stderr,
            )

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        """Appends ``{"step": step, **scalars}`` to the log file and TensorBoard."""
        if not self.enabled:
            return
        record = {"step": int(step), **{k: _clean(v) for k, v in scalars.items()}}
        self._jsonl.write(json.dumps(record) + "\n")
        self._jsonl.flush()
        if self.tensorboard_dir is None:
            return
        if self._tensorboard is None:
            from tensorboardX import SummaryWriter

            self._tensorboard = SummaryWriter(str(self.tensorboard_dir))
        for tag, value in scalars.items():
            value = float(value)
            if math.isfinite(value):  # TensorBoard's plots cannot show NaN/inf
                self._tensorboard.add_scalar(tag, value, int(step))
        self._tensorboard.flush()

    def progress(self, step: int, scalars: Mapping[str, float]) -> None:
        """Updates the progress bar, or prints one plain line."""
        if not self.enabled:
            return
        done = step - self._start_step
        elapsed = time.perf_counter() - self._start_time
        eta = (self.num_steps - step) * elapsed / done if done > 0 else float("nan")
        if self._bar is not None:
            self._show(step, scalars)
        else:
            print_line(format_line(step, self.num_steps, scalars, eta))

    def advance(self, step: int, figures: Mapping[str, float] | None = None) -> None:
        """Moves the progress bar to ``step``; ``figures`` (``loss``, ``images_per_s``) if given.

        Called after every step; plain output (no bar) prints on log steps only.
        """
        if self.enabled and self._bar is not None:
            self._show(step, figures or {})

    def _show(self, step: int, scalars: Mapping[str, float]) -> None:
        """The bar at ``step``, its figures updated with those of ``scalars``."""
        for key, label in _BAR_FIGURES:
            value = scalars.get(key)
            if value is not None and getattr(value, "ndim", 0) == 0:
                self._figures[label] = f"{float(value):.4g}"
        shown = {label: self._figures[label] for _, label in _BAR_FIGURES if label in self._figures}
        self._on_bar(lambda bar: bar.set_postfix(shown, refresh=False))
        self._on_bar(lambda bar: bar.update(step - bar.n))

    def message(self, text: str) -> None:
        """Prints a line on the writing process (through the bar if there is one)."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._on_bar(lambda bar: bar.write(text, file=sys.stderr))
        else:
            print_line(text)

    def _on_bar(self, action) -> None:
        """``action(bar)``; a terminal that went away drops the bar (later lines: devnull)."""
        if self._bar is None:
            return
        try:
            action(self._bar)
        except OSError as err:
            drop_closed_output(err, sys.stderr)
            self._bar.disable = True  # its close() must not write either
            self._bar = None

    def close(self) -> None:
        """Closes the progress bar, the TensorBoard writer and the log file."""
        if self._bar is not None:
            self._on_bar(lambda bar: bar.close())
            self._bar = None
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None
