"""Where the numbers of a run go: ``metrics.jsonl``, TensorBoard, and the terminal.

Only process 0 writes files. Each log step appends one JSON object to
``workdir/metrics.jsonl`` (``step``, ``loss``, ``recon``, ``kl``, ``tc``, ``elbo``, ...,
``steps_per_s``, ``images_per_s``) and the same scalars to a TensorBoard event file in
``workdir/tensorboard`` (:class:`EventFile`). On an interactive terminal a progress bar
(``tqdm``) shows steps/s, images/s, loss and the ETA; otherwise one plain line is printed
per log step, so log files of batch jobs stay readable.

The event file is written here directly (TFRecord framing of ``tensorflow.Event``
protocol buffers holding ``simple_value`` scalars, the format TensorBoard reads): a
library writer (``tensorboardX``) imports PyTorch when it is installed, which cost 2.5 s
of the job's start-up on the 2-core development machine.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import socket
import struct
import sys
import time
from collections.abc import Iterator, Mapping

__all__ = ["EventFile", "Writer", "format_line", "read_events"]


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, as used by TFRecord files."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1  # int64 fields: two's complement, as protobuf encodes them
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int, *, file_version=None, scalars=None) -> bytes:
    """A serialized ``tensorflow.Event`` (wall_time=1, step=2, file_version=3, summary=5)."""
    out = _varint(1 << 3 | 1) + struct.pack("<d", wall_time) + _varint(2 << 3) + _varint(step)
    if file_version is not None:
        out += _field_bytes(3, file_version.encode())
    if scalars:
        summary = b""
        for tag, value in scalars.items():  # Summary.Value: tag=1, simple_value=2
            one = _field_bytes(1, tag.encode()) + _varint(2 << 3 | 5) + struct.pack("<f", value)
            summary += _field_bytes(1, one)
        out += _field_bytes(5, summary)
    return out


def _record(data: bytes) -> bytes:
    header = struct.pack("<Q", len(data))
    return (
        header
        + struct.pack("<I", _masked_crc(header))
        + data
        + struct.pack("<I", _masked_crc(data))
    )


class EventFile:
    """A TensorBoard event file of scalars (``events.out.tfevents.<time>.<host>.<pid>``).

    Args:
      directory: the folder (created if missing); TensorBoard reads every event file in it.
    """

    def __init__(self, directory: str | pathlib.Path):
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        now = time.time()
        name = f"events.out.tfevents.{int(now):010d}.{socket.gethostname()}.{os.getpid()}"
        self.path = directory / name
        self._file = open(self.path, "ab")  # noqa: SIM115 -- closed by close()
        self._file.write(_record(_event(now, 0, file_version="brain.Event:2")))
        self._file.flush()

    def add_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        """Appends one event holding the finite ``scalars`` of ``step``."""
        finite = {k: float(v) for k, v in scalars.items() if math.isfinite(float(v))}
        if finite:
            self._file.write(_record(_event(time.time(), int(step), scalars=finite)))

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def read_events(path: str | pathlib.Path) -> Iterator[dict]:
    """Reads an event file of :class:`EventFile` back (checking every CRC).

    Yields:
      ``{"wall_time", "step", "file_version" (first event), "scalars": {tag: value}}``.

    Raises:
      ValueError: a truncated record or a CRC mismatch.
    """
    data = pathlib.Path(path).read_bytes()
    pos = 0
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError(f"{path}: truncated record header at byte {pos}")
        header = data[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", data[pos + 8 : pos + 12])
        if header_crc != _masked_crc(header):
            raise ValueError(f"{path}: bad length CRC at byte {pos}")
        payload = data[pos + 12 : pos + 12 + length]
        if len(payload) != length or pos + 16 + length > len(data):
            raise ValueError(f"{path}: truncated record at byte {pos}")
        (payload_crc,) = struct.unpack("<I", data[pos + 12 + length : pos + 16 + length])
        if payload_crc != _masked_crc(payload):
            raise ValueError(f"{path}: bad data CRC at byte {pos}")
        pos += 16 + length
        yield _parse_event(payload)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _fields(data: bytes) -> Iterator[tuple[int, int, object]]:
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, kind = key >> 3, key & 7
        if kind == 0:
            value, pos = _read_varint(data, pos)
        elif kind == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif kind == 5:
            value, pos = data[pos : pos + 4], pos + 4
        elif kind == 2:
            size, pos = _read_varint(data, pos)
            value, pos = data[pos : pos + size], pos + size
        else:
            raise ValueError(f"unsupported protobuf wire type {kind}")
        yield number, kind, value


def _parse_event(payload: bytes) -> dict:
    event: dict = {"scalars": {}}
    for number, _, value in _fields(payload):
        if number == 1:
            event["wall_time"] = struct.unpack("<d", value)[0]
        elif number == 2:
            event["step"] = value
        elif number == 3:
            event["file_version"] = value.decode()
        elif number == 5:
            for _, _, one in _fields(value):
                fields = {n: v for n, _, v in _fields(one)}
                event["scalars"][fields[1].decode()] = struct.unpack("<f", fields[2])[0]
    return event


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
      workdir: the run folder.
      num_steps: the run's last step (for progress and ETA).
      start_step: the step training starts (or resumes) from.
      enabled: write files and print (process 0); False makes every method a no-op.
      interactive: progress bar (True) or plain lines (False); default: whether stderr
        is a terminal.
    """

    def __init__(
        self,
        workdir: str | pathlib.Path,
        *,
        num_steps: int,
        start_step: int = 0,
        enabled: bool = True,
        interactive: bool | None = None,
    ):
        self.enabled = enabled
        self.num_steps = num_steps
        self.workdir = pathlib.Path(workdir)
        self._jsonl = None
        self._tensorboard = None
        self._bar = None
        self._start_time = time.perf_counter()
        self._start_step = start_step
        if not enabled:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._jsonl = open(self.workdir / "metrics.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self._tensorboard = EventFile(self.workdir / "tensorboard")
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
        """Appends ``{"step": step, **scalars}`` to metrics.jsonl and TensorBoard."""
        if not self.enabled:
            return
        record = {"step": int(step), **{k: _clean(v) for k, v in scalars.items()}}
        self._jsonl.write(json.dumps(record) + "\n")
        self._jsonl.flush()
        self._tensorboard.add_scalars(int(step), scalars)
        self._tensorboard.flush()

    def progress(self, step: int, scalars: Mapping[str, float]) -> None:
        """Updates the progress bar, or prints one plain line."""
        if not self.enabled:
            return
        done = step - self._start_step
        elapsed = time.perf_counter() - self._start_time
        eta = (self.num_steps - step) * elapsed / done if done > 0 else float("nan")
        if self._bar is not None:
            self._bar.update(step - self._bar.n)
            shown = {k: f"{float(scalars[k]):.4g}" for k in ("loss", "kl", "tc") if k in scalars}
            if "images_per_s" in scalars:
                shown["img/s"] = f"{float(scalars['images_per_s']):.4g}"
            self._bar.set_postfix(shown, refresh=False)
        else:
            print(format_line(step, self.num_steps, scalars, eta), file=sys.stderr, flush=True)

    def message(self, text: str) -> None:
        """Prints a line on the writing process (through the bar if there is one)."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None
