"""The run writer's TensorBoard event file: TFRecord framing, CRC-32C, Event protos."""

import math
import struct
import sys

import pytest

from disentax.train import writer as writer_lib
from disentax.train.writer import EventFile, Writer, crc32c, read_events


def test_crc32c_check_value():
    # the CRC-32C check value of the catalogue of parametrised CRC algorithms
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0


def test_event_file_round_trip_keeps_finite_scalars(tmp_path):
    events = EventFile(tmp_path)
    events.add_scalars(100, {"loss": 1.5, "kl": float("nan"), "tc": -2.25})
    events.add_scalars(2**40, {"big_step": 3.0})
    events.add_scalars(7, {"only_inf": math.inf})  # nothing finite: no event
    events.close()
    read = list(read_events(events.path))
    assert read[0]["file_version"] == "brain.Event:2" and read[0]["step"] == 0
    assert [(e["step"], e["scalars"]) for e in read[1:]] == [
        (100, {"loss": 1.5, "tc": -2.25}),
        (2**40, {"big_step": 3.0}),
    ]
    assert events.path.name.startswith("events.out.tfevents.")


def test_corrupted_event_file_is_detected(tmp_path):
    events = EventFile(tmp_path)
    events.add_scalars(1, {"loss": 1.0})
    events.close()
    data = bytearray(events.path.read_bytes())
    data[-6] ^= 0xFF  # a byte of the last record's payload
    events.path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="CRC"):
        list(read_events(events.path))


def test_events_parse_as_tensorflow_event_protos(tmp_path):
    """Cross-check with an independent protobuf implementation of the Event message."""
    event_pb2 = pytest.importorskip("tensorboardX.proto.event_pb2")
    tb_crc = pytest.importorskip("tensorboardX.crc32c")
    events = EventFile(tmp_path)
    events.add_scalars(42, {"loss": 0.5, "images_per_s": 123.0})
    events.close()
    data, pos, parsed = events.path.read_bytes(), 0, []
    while pos < len(data):
        (length,) = struct.unpack("<Q", data[pos : pos + 8])
        payload = data[pos + 12 : pos + 12 + length]
        assert tb_crc.crc32c(payload) == crc32c(payload)
        parsed.append(event_pb2.Event.FromString(payload))
        pos += 16 + length
    assert parsed[0].file_version == "brain.Event:2"
    assert parsed[1].step == 42
    assert {v.tag: v.simple_value for v in parsed[1].summary.value} == {
        "loss": 0.5,
        "images_per_s": 123.0,
    }


def test_writer_writes_jsonl_and_events_without_importing_torch(tmp_path):
    torch_before = "torch" in sys.modules
    w = Writer(tmp_path, num_steps=10, interactive=False)
    w.write_scalars(5, {"loss": 2.0, "steps_per_s": float("nan")})
    w.close()
    if not torch_before:
        assert "torch" not in sys.modules
    (path,) = (tmp_path / "tensorboard").glob("events.out.tfevents.*")
    assert [e["scalars"] for e in read_events(path)][1:] == [{"loss": 2.0}]
    assert (tmp_path / "metrics.jsonl").read_text().strip().startswith('{"step": 5')
    assert writer_lib.format_line(5, 10, {"loss": 2.0}, float("nan")).startswith("step 5/10")
