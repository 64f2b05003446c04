"""Evaluation of a damaged run folder, and of one whose job is killed (issue #21).

* A truncated newest checkpoint: both evaluation processes fall back to the previous
  checkpoint; an explicit ``step`` that cannot be read is one line of error.
* An evaluation that scores nothing is an error, and writes no record.
* ``disentax evaluate`` ended by SIGTERM or kill -9 while its second process scores:
  that process ends too, and no temporary file or folder is left.
"""

import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest

from disentax import evaluation, runs

# What differs from the shared tiny config (tests/conftest.py).
SMALL = ("--config.num_latents=3", "--config.num_steps=4", "--config.checkpoint_every=2")
METRICS = ["mig", "mig_sampled"]
ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.multiprocess]


@pytest.fixture(scope="module")
def run_dir(tiny_config, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run") / "run"
    runs.train(tiny_config(*SMALL), workdir)
    return workdir


@pytest.fixture
def truncated(run_dir, tmp_path):
    """A copy of the run whose newest checkpoint (4) has a data file cut in half."""
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    files = [p for p in (copy / "checkpoints" / "4").rglob("*") if p.is_file()]
    data = max(files, key=lambda p: p.stat().st_size)
    os.truncate(data, data.stat().st_size // 2)
    return copy


@pytest.mark.slow
def test_two_processes_fall_back_past_a_truncated_checkpoint(truncated, capsys):
    record = runs.evaluate(truncated, metrics=METRICS, num_train=1000, num_test=100, workers=2)
    assert record["step"] == 2
    assert set(record["metrics"]) >= {"mig", "mig_sampled"}
    assert record["workers"]["processes"] == 2
    assert not record["workers"]["second_process"]["failed"]
    err = capsys.readouterr().err
    assert "checkpoint 4" in err and "Traceback" not in err
    assert (truncated / "checkpoints" / "4").exists()  # evaluation moves nothing


@pytest.mark.parametrize("job", ["evaluate", "traverse"])
def test_an_unreadable_explicit_step_is_one_clear_error(truncated, job):
    with pytest.raises(FileNotFoundError, match="checkpoint 4 .* cannot be read") as err:
        if job == "evaluate":
            runs.evaluate(truncated, metrics=METRICS, step=4, workers=2)
        else:
            runs.traverse(truncated, step=4)
    assert "\n" not in str(err.value)
    assert not (truncated / "evaluation.json").exists()


def test_an_evaluation_that_scores_nothing_is_an_error(run_dir, tmp_path, monkeypatch):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)

    def nothing(*args, metrics, **kwargs):
        skipped = {name: "codes are not finite" for name in metrics}
        return {"metrics": {}, "matrices": {}, "seconds": {}, "sizes": {}, "skipped": skipped}

    monkeypatch.setattr(evaluation, "evaluate", nothing)
    with pytest.raises(ValueError, match="scored nothing.*mig: codes are not finite"):
        runs.evaluate(copy, metrics=["mig", "sap"], workers=1)
    assert not (copy / "evaluation.json").exists()


def children(pid):
    """The process ids whose parent is ``pid``."""
    found = []
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid):
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["term", "kill9"])
def test_a_killed_evaluation_leaves_no_process_and_no_file(run_dir, tmp_path, signum):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {
        **os.environ,
        "TMPDIR": str(temporary),
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=1",
        "JAX_COMPILATION_CACHE_DIR": str(ROOT / ".jax_cache" / "tests"),
    }
    command = [sys.executable, "-m", "disentax.cli", "evaluate", "--workdir", str(run_dir)]
    # reference sizes: the second process scores for minutes unless it is ended
    command += ["--metrics", "mig,beta_vae_score", "--workers", "2", "--sizes", "reference"]
    parent = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 180
    while not children(parent.pid):
        assert parent.poll() is None, "evaluate ended before its second process started"
        assert time.monotonic() < deadline, "no second process"
        time.sleep(0.1)
    (worker,) = children(parent.pid)
    try:
        time.sleep(5)  # let it import and start scoring (it asks to die with its parent first)
        parent.send_signal(signum)
        assert parent.wait(timeout=60) == -signum
        deadline = time.monotonic() + 30
        while alive(worker):
            assert time.monotonic() < deadline, "the second process outlived its parent"
            time.sleep(0.1)
    finally:
        if alive(worker):  # a failed test leaves no orphan either
            os.kill(worker, signal.SIGKILL)
    assert list(temporary.iterdir()) == []
