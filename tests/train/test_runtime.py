"""train.runtime: output nobody reads is dropped; SIGTERM/SIGHUP unwind before they end.

* ``print_line`` to a pipe whose reader is gone (``disentax train | head -2``) does not
  raise: the stream is pointed at os.devnull and later lines vanish.
* The writer's terminal output goes through it.
* ``unwind_on_termination`` runs the ``finally`` clauses of its block on SIGTERM and
  SIGHUP, then lets the signal end the process (checked in a child process).
"""

import os
import signal
import subprocess
import sys

import pytest

from disentax.train import Writer
from disentax.train.runtime import SignalCatcher, print_line


@pytest.fixture
def closed_pipe():
    """A writable file whose pipe has no reader (its first write fails with EPIPE)."""
    read, write = os.pipe()
    os.close(read)
    stream = os.fdopen(write, "w")
    yield stream
    stream.close()


def test_print_line_to_a_closed_pipe_drops_the_text(closed_pipe):
    with pytest.raises(BrokenPipeError):  # what a plain print does
        print("first", file=closed_pipe, flush=True)
    print_line("second", file=closed_pipe)
    print_line("third", file=closed_pipe)
    assert os.path.samestat(os.fstat(closed_pipe.fileno()), os.stat(os.devnull))


def test_other_write_errors_are_raised():
    class Full:
        def write(self, text):
            raise OSError(28, "No space left on device")

        def flush(self):
            pass

    with pytest.raises(OSError, match="No space"):
        print_line("x", file=Full())


def test_the_writer_keeps_going_when_its_output_pipe_closes(closed_pipe, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stderr", closed_pipe)
    writer = Writer(tmp_path / "log.jsonl", num_steps=4, interactive=False)
    writer.message("first train step done")
    for step in (2, 4):
        writer.write_scalars(step, {"loss": 1.0})
        writer.progress(step, {"loss": 1.0})
    writer.close()
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 2


def test_sighup_is_caught_like_sigterm():
    assert {signal.SIGTERM, signal.SIGINT, signal.SIGHUP} <= set(SignalCatcher.SIGNALS)


UNWIND = """
import os, signal, sys
from disentax.train.runtime import unwind_on_termination
# the signal's default action, as a terminal's job has it (under nohup SIGHUP is ignored,
# and an ignored signal is left ignored: the block would never be unwound)
signal.signal(getattr(signal, sys.argv[1]), signal.SIG_DFL)
with unwind_on_termination():
    try:
        os.kill(os.getpid(), getattr(signal, sys.argv[1]))
        while True:
            pass
    finally:
        open(sys.argv[2], "w").write("cleaned up")
print("not reached")
"""


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_termination_unwinds_the_block_then_ends_the_process(tmp_path, name):
    marker = tmp_path / "marker"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-c", UNWIND, name, str(marker)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -getattr(signal, name), done.stderr[-2000:]
    assert marker.read_text() == "cleaned up"
    assert "not reached" not in done.stdout
