"""train.Checkpoints on a small state: verified restores, fallback, what is set aside.

Each case is one a run folder meets (issue #21): an empty or foreign step folder beside
good checkpoints, bytes overwritten inside a data file, a checkpoint of another layout,
every checkpoint unreadable. A fallback reads each step with a fresh orbax reader, moves
only the unreadable steps newer than the one restored, and never moves every checkpoint.
"""

import errno
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from disentax.train import (
    CheckpointMismatchError,
    Checkpoints,
    CheckpointSpaceError,
    NoCheckpointError,
    UnreadableCheckpointError,
)
from disentax.train.checkpoint import CHECKSUM_KEY, checksums

SHARDING = jax.sharding.SingleDeviceSharding(jax.devices()[0])


def make_state(step, shape=(64, 64)):
    values = jax.random.normal(jax.random.key(step), shape)  # incompressible bytes
    return {
        "params": {"w": values, "b": jnp.full((3,), float(step))},
        "step": jnp.int32(step),
        "key": jax.random.key(step),
    }


def abstract(state):
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=SHARDING), state)


def saved_folder(tmp_path, steps=(1, 2, 3)):
    directory = tmp_path / "checkpoints"
    checkpoints = Checkpoints(directory, asynchronous=False, max_to_keep=10)
    for step in steps:
        assert checkpoints.save(step, make_state(step))
    checkpoints.close()
    return directory


def on_disk(directory):
    return sorted(p.name for p in pathlib.Path(directory).iterdir() if p.name.isdigit())


def set_aside(directory):
    corrupt = pathlib.Path(f"{directory}_corrupt")
    return sorted(p.name.split("-")[0] for p in corrupt.iterdir()) if corrupt.exists() else []


def restore(directory, *, read_only=False, step=None, shape=(64, 64)):
    checkpoints = Checkpoints(directory, read_only=read_only)
    try:
        return checkpoints.restore(abstract(make_state(0, shape)), step=step)
    finally:
        checkpoints.close()


def host(tree):
    def values(x):
        return jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x

    return [np.asarray(values(x)) for x in jax.tree.leaves(tree)]


def same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(host(a), host(b), strict=True))


def largest_file(folder):
    return max(
        (p for p in pathlib.Path(folder).rglob("*") if p.is_file()), key=lambda p: p.stat().st_size
    )


def test_a_restore_returns_the_newest_step_with_its_recorded_checksums(tmp_path):
    directory = saved_folder(tmp_path)
    state, step = restore(directory)
    assert step == 3 and same(state, make_state(3))
    recorded = json.loads((directory / "3" / "_CHECKPOINT_METADATA").read_text())
    assert recorded["custom_metadata"][CHECKSUM_KEY] == checksums(make_state(3))
    assert set(recorded["custom_metadata"][CHECKSUM_KEY]) == {"params/w", "params/b", "step", "key"}


@pytest.mark.parametrize("junk", ["999", "4"])
def test_an_empty_or_foreign_step_folder_falls_back_to_the_good_ones(tmp_path, junk, capsys):
    directory = saved_folder(tmp_path)
    (directory / junk).mkdir()
    (directory / "5").mkdir()
    (directory / "5" / "notes.txt").write_text("not a checkpoint")
    state, step = restore(directory)
    assert step == 3 and same(state, make_state(3))
    assert on_disk(directory) == ["1", "2", "3"]  # every good checkpoint stays
    assert set_aside(directory) == sorted([junk, "5"])
    err = capsys.readouterr().err
    assert f"checkpoint {junk} in {directory} cannot be read (an empty folder)" in err
    # the writable folder can save those steps again
    checkpoints = Checkpoints(directory, asynchronous=False)
    assert checkpoints.save(5, make_state(5))
    checkpoints.close()


def test_a_read_only_fallback_moves_nothing(tmp_path):
    directory = saved_folder(tmp_path)
    (directory / "999").mkdir()
    assert restore(directory, read_only=True)[1] == 3
    assert on_disk(directory) == ["1", "2", "3", "999"] and set_aside(directory) == []


def test_overwritten_bytes_in_a_data_file_fall_back_to_the_previous_step(tmp_path, capsys):
    directory = saved_folder(tmp_path)
    data = largest_file(directory / "3")
    with open(data, "r+b") as file:
        file.seek(data.stat().st_size // 2)
        file.write(np.random.default_rng(0).bytes(64))
    state, step = restore(directory)
    assert step == 2 and same(state, make_state(2))
    assert set_aside(directory) == ["3"]
    assert "checkpoint 3" in capsys.readouterr().err


def test_a_leaf_off_its_recorded_checksum_is_unreadable(tmp_path):
    directory = saved_folder(tmp_path, steps=(1, 2))
    metadata = directory / "2" / "_CHECKPOINT_METADATA"
    record = json.loads(metadata.read_text())
    record["custom_metadata"][CHECKSUM_KEY]["params/w"] += 1
    metadata.write_text(json.dumps(record))
    with pytest.raises(UnreadableCheckpointError, match="params/w does not match the CRC-32"):
        restore(directory, read_only=True, step=2)
    assert restore(directory)[1] == 1 and set_aside(directory) == ["2"]


def test_non_finite_values_are_unreadable(tmp_path):
    directory = tmp_path / "checkpoints"
    checkpoints = Checkpoints(directory, asynchronous=False)
    state = make_state(1)
    state["params"]["b"] = state["params"]["b"].at[0].set(jnp.nan)
    checkpoints.save(1, state)
    checkpoints.close()
    with pytest.raises(UnreadableCheckpointError, match="params/b holds NaN or infinite"):
        restore(directory)
    assert on_disk(directory) == ["1"]


def test_when_no_step_can_be_read_nothing_is_moved(tmp_path):
    directory = saved_folder(tmp_path, steps=(1, 2))
    for path in directory.rglob("*"):
        if path.is_file():
            path.write_bytes(b"\0garbage")
    with pytest.raises(UnreadableCheckpointError, match="no readable checkpoint") as err:
        restore(directory)
    assert sorted(err.value.failures) == [1, 2]
    assert "nothing was moved" in str(err.value)
    assert on_disk(directory) == ["1", "2"] and set_aside(directory) == []


def test_another_layout_is_a_mismatch_error_and_moves_nothing(tmp_path):
    directory = saved_folder(tmp_path, steps=(1, 2))
    with pytest.raises(
        CheckpointMismatchError,
        match=r"params/w: saved \(64, 64\) float32, the state has \(64, 5\)",
    ):
        restore(directory, shape=(64, 5))
    wider = {**make_state(0), "extra": jnp.zeros(2)}
    checkpoints = Checkpoints(directory)
    with pytest.raises(CheckpointMismatchError, match="extra: in the state, not in the checkpoint"):
        checkpoints.restore(abstract(wider))
    checkpoints.close()
    assert on_disk(directory) == ["1", "2"] and set_aside(directory) == []


def test_an_explicit_step_is_not_saved_or_unreadable(tmp_path):
    directory = saved_folder(tmp_path, steps=(1, 2))
    with pytest.raises(
        NoCheckpointError, match=r"no checkpoint for step 7 .* saved steps: \[1, 2\]"
    ):
        restore(directory, step=7)
    (directory / "9").mkdir()
    with pytest.raises(UnreadableCheckpointError, match="checkpoint 9 .* cannot be read") as err:
        restore(directory, step=9)
    assert "\n" not in str(err.value)


def test_a_checkpoint_without_recorded_checksums_still_restores(tmp_path):
    import orbax.checkpoint as ocp

    directory = tmp_path / "checkpoints"
    manager = ocp.CheckpointManager(directory)  # as written before checksums were recorded
    manager.save(4, args=ocp.args.StandardSave(make_state(4)))
    manager.wait_until_finished()
    manager.close()
    state, step = restore(directory)
    assert step == 4 and same(state, make_state(4))


def test_a_save_the_disk_has_no_room_for_is_refused_before_writing(tmp_path, monkeypatch):
    directory = saved_folder(tmp_path, steps=(1, 2))
    checkpoints = Checkpoints(directory, asynchronous=False)
    state = make_state(3)
    needed = sum(x.nbytes for x in jax.tree.leaves(state))
    monkeypatch.setattr(Checkpoints, "_free_bytes", lambda self: needed // 2)
    with pytest.raises(CheckpointSpaceError, match="no room to save checkpoint 3") as err:
        checkpoints.save(3, state)
    assert err.value.errno == errno.ENOSPC
    assert "checkpoints 1, 2 are kept" in str(err.value) and "from step 2" in str(err.value)
    assert sorted(p.name for p in directory.iterdir()) == ["1", "2"]  # no partial folder
    monkeypatch.setattr(Checkpoints, "_free_bytes", lambda self: 100 * needed)
    assert checkpoints.save(3, state)  # with room it saves
    checkpoints.close()
    assert on_disk(directory) == ["1", "2", "3"]


def test_a_disk_that_fills_during_a_save_is_one_space_error(tmp_path, monkeypatch):
    directory = saved_folder(tmp_path, steps=(1,))
    checkpoints = Checkpoints(directory, asynchronous=False)

    def fails(*args, **kwargs):  # what orbax raises when a write hits a full disk
        raise ValueError('RESOURCE_EXHAUSTED: Error writing "step/0": No space left on device')

    monkeypatch.setattr(checkpoints._manager, "save", fails)
    with pytest.raises(CheckpointSpaceError, match="filled up while saving a checkpoint"):
        checkpoints.save(2, make_state(2))
    monkeypatch.setattr(checkpoints._manager, "wait_until_finished", fails)
    with pytest.raises(CheckpointSpaceError, match="checkpoint 1 is kept"):
        checkpoints.wait()


def test_a_save_cut_short_leaves_no_folder_once_the_run_resumes(tmp_path):
    directory = saved_folder(tmp_path, steps=(1, 2))
    partial = directory / "5.orbax-checkpoint-tmp"  # what a save cut short leaves
    (partial / "default").mkdir(parents=True)
    (partial / "default" / "data").write_bytes(b"\0" * 1024)
    restore(directory, read_only=True)  # a reader leaves it alone
    assert partial.exists()
    checkpoints = Checkpoints(directory)  # the next writer (the folder's lock holder)
    assert checkpoints.steps() == [1, 2]
    assert checkpoints.save(3, make_state(3))  # orbax's cleanup is done by its first save
    checkpoints.close()
    assert not partial.exists()
    assert on_disk(directory) == ["1", "2", "3"]


def test_orbax_reports_of_a_full_disk_are_dropped_while_saving(tmp_path, caplog):
    import logging

    directory = saved_folder(tmp_path, steps=(1,))
    checkpoints = Checkpoints(directory, asynchronous=False)
    assert checkpoints.save(2, make_state(2))  # from the first save until close()
    logger = logging.getLogger("absl")
    try:
        raise ValueError('RESOURCE_EXHAUSTED: Error writing "step/0": No space left on device')
    except ValueError:
        logger.error("Save Finalize thread (save_finalize) failed.", exc_info=True)
    logger.error("another error")
    checkpoints.close()
    logger.error("after close: No space left on device")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["another error", "after close: No space left on device"]
