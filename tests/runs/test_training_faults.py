"""The training job over a damaged run folder: nothing lost, nothing silently wrong.

The cases of issue #21, each on a copy of one tiny 6-step run (checkpoints 3 and 6, log
rows 2, 4, 6): a junk or empty step folder, bytes overwritten in a checkpoint, every
checkpoint unreadable, a checkpoint of another layout, a log cut mid-line or holding rows
past the step resumed from. A resumed run must end with the parameters of an
uninterrupted one.
"""

import json
import pathlib
import shutil

import chex
import pytest

from disentax import runs, viz
from disentax.train import (
    CheckpointMismatchError,
    Checkpoints,
    CheckpointSpaceError,
    UnreadableCheckpointError,
)

NINE = ("--config.num_steps=9",)


@pytest.fixture(scope="module")
def six(tiny_config, tmp_path_factory):
    """A finished 6-step run folder (copied by each test)."""
    workdir = tmp_path_factory.mktemp("six") / "run"
    runs.train(tiny_config(), workdir)
    return workdir


@pytest.fixture(scope="module")
def nine(tiny_config, tmp_path_factory):
    """The parameters of an uninterrupted 9-step run."""
    workdir = tmp_path_factory.mktemp("nine") / "run"
    runs.train(tiny_config(*NINE), workdir)
    return runs.load(workdir).params


@pytest.fixture
def workdir(six, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(six, copy)
    return copy


def steps(folder):
    return sorted(int(p.name) for p in pathlib.Path(folder).iterdir() if p.name.isdigit())


def set_aside(workdir):
    corrupt = workdir / "checkpoints_corrupt"
    return sorted(int(p.name.split("-")[0]) for p in corrupt.iterdir()) if corrupt.exists() else []


def log_steps(workdir):
    return [json.loads(line)["step"] for line in (workdir / "metrics.jsonl").open()]


def overwrite_inside(step_folder):
    """64 bytes overwritten in the middle of the checkpoint's largest data file."""
    data = max((p for p in step_folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    with open(data, "r+b") as file:
        file.seek(data.stat().st_size // 2)
        file.write(b"\x7f" * 64)


def test_junk_step_folders_are_set_aside_and_the_run_resumes(tiny_config, workdir, nine, capsys):
    (workdir / "checkpoints" / "999").mkdir()  # a stray folder
    (workdir / "checkpoints" / "9").mkdir()  # an empty folder at the last step
    assert runs.train(tiny_config(*NINE), workdir)["step"] == 9
    out = capsys.readouterr()
    assert f"resuming {workdir} from checkpoint step 6" in out.out
    assert "checkpoint 999" in out.err and "cannot be read (an empty folder)" in out.err
    assert steps(workdir / "checkpoints") == [3, 6, 9]  # no good checkpoint lost
    assert set_aside(workdir) == [9, 999]
    chex.assert_trees_all_equal(runs.load(workdir).params, nine)
    assert runs.train(tiny_config(*NINE), workdir) == {"step": 9}  # `T; T`
    assert log_steps(workdir) == [2, 4, 6, 8, 9]


def test_overwritten_bytes_in_the_newest_checkpoint_resume_from_the_previous(
    tiny_config, workdir, nine, capsys
):
    overwrite_inside(workdir / "checkpoints" / "6")
    with pytest.raises(FileNotFoundError, match="checkpoint 6 .* cannot be read"):
        runs.load(workdir, step=6)  # an explicit step: one clear error
    assert runs.load(workdir).step == 3  # read-only: falls back, moves nothing
    runs.train(tiny_config(*NINE), workdir)
    assert "resuming" in capsys.readouterr().out
    assert set_aside(workdir) == [6]
    chex.assert_trees_all_equal(runs.load(workdir).params, nine)


def test_unreadable_checkpoints_are_not_trained_over_from_scratch(tiny_config, workdir, nine):
    for path in (workdir / "checkpoints").rglob("*"):
        if path.is_file():
            path.write_bytes(b"\0garbage")
    with pytest.raises(UnreadableCheckpointError, match="restart=True") as err:
        runs.train(tiny_config(*NINE), workdir)
    assert str(workdir) in str(err.value) and sorted(err.value.failures) == [3, 6]
    assert steps(workdir / "checkpoints") == [3, 6] and set_aside(workdir) == []
    # explicitly told: the unreadable ones are set aside and training starts again
    assert runs.train(tiny_config(*NINE), workdir, restart=True)["step"] == 9
    assert set_aside(workdir) == [3, 6]
    assert log_steps(workdir) == [2, 4, 6, 8, 9]
    chex.assert_trees_all_equal(runs.load(workdir).params, nine)


def test_a_checkpoint_of_another_layout_is_an_error_not_corruption(tiny_config, workdir):
    record = json.loads((workdir / "config.json").read_text())
    record["config"]["num_latents"] = 5  # config.json edited after training
    (workdir / "config.json").write_text(json.dumps(record))
    match = r"checkpoint 6 .* does not match the model: params/vae/.*\(1200, 4\).*\(1200, 5\)"
    with pytest.raises(CheckpointMismatchError, match=match):
        runs.train(tiny_config(*NINE, "--config.num_latents=5"), workdir)
    with pytest.raises(CheckpointMismatchError, match=match):
        runs.load(workdir)
    assert steps(workdir / "checkpoints") == [3, 6] and set_aside(workdir) == []


def test_the_log_keeps_its_rows_up_to_the_step_resumed_from(tiny_config, workdir, nine):
    shutil.rmtree(workdir / "checkpoints" / "6")  # killed after logging 4 and 6 ...
    log = workdir / "metrics.jsonl"
    log.write_bytes(log.read_bytes()[:-20])  # ... in the middle of writing row 6
    with pytest.warns(UserWarning, match="partial last line"):
        assert [r["step"] for r in viz.read_jsonl(log)] == [2, 4]
    runs.train(tiny_config(*NINE), workdir)  # resumes from 3
    assert log_steps(workdir) == [2, 4, 6, 8, 9]  # no duplicate row, no glued line
    assert [r["step"] for r in viz.read_jsonl(log)] == [2, 4, 6, 8, 9]
    chex.assert_trees_all_equal(runs.load(workdir).params, nine)


def test_a_full_disk_stops_the_run_and_keeps_its_checkpoints(
    tiny_config, workdir, nine, monkeypatch
):
    # the disk has room for nothing more once training resumes from 6: the save at 9 is
    # refused before orbax writes, the run stops with one error, and resumes once freed
    monkeypatch.setattr(Checkpoints, "_free_bytes", lambda self: 1 << 10)
    with pytest.raises(CheckpointSpaceError, match=r"no room to save checkpoint 9 .*"
                       r"checkpoints 3, 6 are kept: .* resume from step 6"):  # fmt: skip
        runs.train(tiny_config(*NINE), workdir)
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["3", "6"]
    monkeypatch.undo()
    assert runs.train(tiny_config(*NINE), workdir)["step"] == 9
    assert log_steps(workdir) == [2, 4, 6, 8, 9]
    chex.assert_trees_all_equal(runs.load(workdir).params, nine)
