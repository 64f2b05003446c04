"""The run folder's lock: one writing job at a time, a clear refusal, no stale locks.

flock locks belong to an open file description, so a second ``open`` of the lock file in
this process conflicts like another process would: most tests hold the lock that way.
One test holds it from a second Python process, as a second `disentax train` would.
"""

import errno
import fcntl
import json
import os
import socket
import subprocess
import sys

import pytest

from disentax import cli, runs
from disentax.runs import lock as lock_module
from disentax.runs.lock import WorkdirBusyError, WorkdirNotWritableError, lock_workdirs


def _hold(folder, record=None):
    """Takes the folder's lock through a second open file description; returns its fd."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / runs.RunFolder.LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    if record is not None:
        os.write(fd, json.dumps(record).encode())
    return fd


def test_a_held_folder_refuses_every_writing_job_naming_the_holder(tmp_path, tiny_config):
    record = {"job": "train", "pid": 4242, "host": "node7", "since": "2026-01-01T00:00:00Z"}
    fd = _hold(tmp_path, record)
    try:
        holder = r"in use by `disentax train` \(pid 4242 on host node7"
        with pytest.raises(WorkdirBusyError, match=holder):
            runs.train(tiny_config(), tmp_path)
        with pytest.raises(WorkdirBusyError, match=holder):
            runs.evaluate(tmp_path)
        with pytest.raises(WorkdirBusyError, match=holder):
            runs.traverse(tmp_path)
        with pytest.raises(WorkdirBusyError, match=holder):
            runs.train_sweep([tiny_config()], [tmp_path])
    finally:
        os.close(fd)
    assert sorted(p.name for p in tmp_path.iterdir()) == [runs.RunFolder.LOCK]  # untouched


def test_a_lock_left_by_a_dead_process_is_taken_over_and_removed(tmp_path):
    record = {"job": "train", "pid": 1, "host": "gone", "since": "then"}
    os.close(_hold(tmp_path, record))  # the kernel releases a flock with its last fd
    with lock_workdirs([tmp_path], job="evaluate"):
        held = json.loads((tmp_path / runs.RunFolder.LOCK).read_text())
        assert (held["job"], held["pid"], held["host"]) == (
            "evaluate",
            os.getpid(),
            socket.gethostname(),
        )
        with lock_workdirs([tmp_path], job="traverse"):  # re-entrant in one process
            pass
        assert (tmp_path / runs.RunFolder.LOCK).exists()
    assert not (tmp_path / runs.RunFolder.LOCK).exists()


def test_a_folder_created_for_a_job_that_fails_early_is_removed(tmp_path):
    workdir = tmp_path / "a" / "run"
    with pytest.raises(RuntimeError), lock_workdirs([workdir], job="train", create=True):
        assert (workdir / runs.RunFolder.LOCK).is_file()
        raise RuntimeError("bad config")
    assert not (tmp_path / "a").exists()


def test_a_folder_that_cannot_be_written_stops_the_job_before_any_work(tmp_path, monkeypatch):
    (tmp_path / "checkpoints" / "3").mkdir(parents=True)

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    def no_scoring(*args, **kwargs):
        raise AssertionError("evaluate loaded the run before checking the folder")

    monkeypatch.setattr(lock_module.os, "open", read_only)
    monkeypatch.setattr("disentax.runs.scoring.load", no_scoring)
    with pytest.raises(WorkdirNotWritableError, match=r"cannot be written \(Read-only"):
        runs.evaluate(tmp_path)
    assert cli.main(["evaluate", "--workdir", str(tmp_path), "--workers", "1"]) == 1


def test_a_full_disk_is_one_line_and_leaves_no_lock(tmp_path, monkeypatch, capsys):
    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(lock_module.os, "pwrite", full)
    (tmp_path / "checkpoints" / "3").mkdir(parents=True)
    assert cli.main(["traverse", "--workdir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no space left on device" in err
    assert not (tmp_path / runs.RunFolder.LOCK).exists()


@pytest.mark.multiprocess
def test_a_second_process_holding_the_folder_refuses_train(tmp_path, capsys):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from disentax.runs.lock import lock_workdirs\n"
            "with lock_workdirs([sys.argv[1]], job='train', create=True):\n"
            "    print('held', flush=True); sys.stdin.read()",
            str(tmp_path / "run"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    try:
        assert holder.stdout.readline() == "held\n"
        args = ["train", "--workdir", str(tmp_path / "run"), "--config.evaluate=False"]
        assert cli.main(args) == 1
        err = capsys.readouterr().err
        assert f"in use by `disentax train` (pid {holder.pid} on host" in err
        assert err.count("\n") == 1
    finally:
        holder.communicate("")  # its stdin closes: it releases the lock and exits
    assert holder.returncode == 0
    assert not (tmp_path / "run").exists()  # the holder created it and left it empty
