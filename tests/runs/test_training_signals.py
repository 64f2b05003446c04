"""SIGINT/SIGTERM/SIGHUP in the training loop: noticed at the next step, checkpointed, re-raised.

In-process: the train step is wrapped so that the process signals itself right after a
chosen step is dispatched; the loop must stop at exactly that step, save its checkpoint,
and then let the signal take its usual effect (SIGINT: KeyboardInterrupt). The wrapper
also checks the bounded run-ahead: when step ``k`` is dispatched, step ``k - 3`` is done.
"""

import dataclasses
import os
import pathlib
import signal

import jax
import pytest

from disentax import runs
from disentax.runs import training

# What differs from the shared tiny config (tests/conftest.py).
SMALL = ("--config.num_steps=40", "--config.log_every=20", "--config.checkpoint_every=20")


def checkpoint_steps(workdir):
    folder = pathlib.Path(workdir) / "checkpoints"
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())


@pytest.fixture
def signal_at(monkeypatch):
    """Makes the loop's train step send ``signum`` to this process after call ``k``.

    SIGINT gets Python's default handler for the test (pytest-xdist workers ignore SIGINT,
    so the re-raised signal would otherwise have no effect there); the previous handler
    is put back afterwards.
    """
    calls = {"outputs": [], "late": []}
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)

    def install(k, signum):
        real = training.make_train_step

        def make(*args, **kwargs):
            step = real(*args, **kwargs)
            inner = step.fn

            def fn(state, images, data):
                done = len(calls["outputs"])
                if done >= 3 and not all(
                    leaf.is_ready() for leaf in jax.tree.leaves(calls["outputs"][done - 3])
                ):
                    calls["late"].append(done + 1)
                out = inner(state, images, data)
                calls["outputs"].append(out[1])
                if len(calls["outputs"]) == k:
                    os.kill(os.getpid(), signum)
                return out

            return dataclasses.replace(step, fn=fn)

        monkeypatch.setattr(training, "make_train_step", make)
        return calls

    yield install
    signal.signal(signal.SIGINT, previous)


def test_sigint_stops_at_the_next_step_with_a_checkpoint(tiny_config, tmp_path, signal_at, capsys):
    calls = signal_at(7, signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        runs.run(tiny_config(*SMALL), tmp_path)
    assert len(calls["outputs"]) == 7  # no step dispatched after the signal
    assert calls["late"] == []  # never more than two steps ahead of the device
    assert "stopped by signal 2 at step 7; checkpoint saved" in capsys.readouterr().err
    assert checkpoint_steps(tmp_path) == [7]
    assert runs.load(tmp_path).step == 7
    # the handlers are restored: SIGINT is Python's default again
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_stopped_run_resumes_from_its_signal_checkpoint(tiny_config, tmp_path, signal_at):
    signal_at(23, signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        runs.run(tiny_config(*SMALL), tmp_path)
    assert checkpoint_steps(tmp_path) == [20, 23]
    last = runs.run(tiny_config(*SMALL), tmp_path)
    assert last["step"] == 40
    assert checkpoint_steps(tmp_path)[-1] == 40


def test_sighup_stops_with_a_checkpoint_like_sigterm(tiny_config, tmp_path, signal_at, capsys):
    # a closed terminal or ssh session sends SIGHUP; a handler of the test stands in for
    # the default action (ending the process) when the loop delivers it again
    received = []
    previous = signal.signal(signal.SIGHUP, lambda signum, frame: received.append(signum))
    try:
        signal_at(7, signal.SIGHUP)
        runs.train(tiny_config(*SMALL), tmp_path)
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert received == [signal.SIGHUP]  # delivered again after the checkpoint
    assert "stopped by signal 1 at step 7; checkpoint saved" in capsys.readouterr().err
    assert checkpoint_steps(tmp_path) == [7]
