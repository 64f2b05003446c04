"""The run writer: the JSON-lines log, the TensorBoard event file (written by tensorboardX, read
back by ``read_events``), plain progress lines, and no TensorBoard import before the first
log step."""

import json
import subprocess
import sys

import pytest

from disentax.train import writer as writer_lib
from disentax.train.writer import Writer, read_events


def events_by_step(folder):
    merged = {}
    for path in folder.glob("events.out.tfevents.*"):
        for event in read_events(path):
            merged.setdefault(event["step"], {}).update(event["scalars"])
    return {step: scalars for step, scalars in merged.items() if scalars}


def open_writer(folder, **kwargs):
    return Writer(folder / "log.jsonl", tensorboard_dir=folder / "tb", **kwargs)


def test_scalars_reach_jsonl_and_tensorboard_and_nonfinite_values_are_kept_out(tmp_path):
    w = open_writer(tmp_path, num_steps=10, interactive=False)
    w.write_scalars(5, {"loss": 2.0, "steps_per_s": float("nan"), "kl": -0.25})
    w.write_scalars(2**40, {"loss": 1.5})
    w.close()
    records = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert records == [
        {"step": 5, "loss": 2.0, "steps_per_s": "nan", "kl": -0.25},
        {"step": 2**40, "loss": 1.5},
    ]
    assert events_by_step(tmp_path / "tb") == {
        5: {"loss": 2.0, "kl": -0.25},
        2**40: {"loss": 1.5},
    }
    (path,) = (tmp_path / "tb").glob("events.out.tfevents.*")
    assert next(read_events(path))["file_version"].startswith("brain.Event")
    assert writer_lib.format_line(5, 10, {"loss": 2.0}, float("nan")).startswith("step 5/10")


def test_corrupted_event_file_is_detected(tmp_path):
    w = open_writer(tmp_path, num_steps=1, interactive=False)
    w.write_scalars(1, {"loss": 1.0})
    w.close()
    (path,) = (tmp_path / "tb").glob("events.out.tfevents.*")
    data = bytearray(path.read_bytes())
    data[-6] ^= 0xFF  # a byte of the last record's payload
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="CRC"):
        list(read_events(path))


def test_no_tensorboard_import_before_the_first_log_step(tmp_path):
    # tensorboardX imports PyTorch when it is installed (seconds of start-up): a writer that
    # has only been opened must not have imported it.
    code = (
        "import sys; from disentax.train.writer import Writer; "
        f"w = Writer({str(tmp_path / 'log.jsonl')!r}, tensorboard_dir={str(tmp_path)!r}, "
        "num_steps=3, interactive=False); "
        "assert 'tensorboardX' not in sys.modules, 'imported at open'; "
        "w.write_scalars(1, {'loss': 1.0}); w.close(); "
        "assert 'tensorboardX' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_disabled_writer_writes_nothing(tmp_path):
    w = open_writer(tmp_path / "run", num_steps=3, enabled=False)
    w.write_scalars(1, {"loss": 1.0})
    w.progress(1, {"loss": 1.0})
    w.close()
    assert not (tmp_path / "run").exists()


def test_without_a_tensorboard_folder_only_the_log_is_written(tmp_path):
    w = Writer(tmp_path / "log.jsonl", num_steps=3, interactive=False)
    w.write_scalars(1, {"loss": 1.0})
    w.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.jsonl"]
