"""train.fit, the one training loop, on a counting step: windows, checkpoints, stop_fn, NaN.

The step is a plain function (no model), so what is checked is the loop's own contract:
which steps are logged and saved, what the window means are, when it stops and what it
says when the loss is not finite.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from disentax.train import NonFiniteLossError, fit


class Sink:
    """Records checkpoints and scalars."""

    directory = "ckpts"

    def __init__(self):
        self.saved, self.scalars, self.messages = [], [], []

    def save(self, step, state):
        self.saved.append((step, state))
        return True

    def wait(self):
        pass

    def latest_step(self):
        return self.saved[-1][0] if self.saved else None

    def write_scalars(self, step, scalars):
        self.scalars.append((step, dict(scalars)))

    def progress(self, step, scalars):
        pass

    def message(self, text):
        self.messages.append(text)


def counting_step(losses=None):
    """``state -> state + 1`` with loss = the new state (or ``losses[state]``)."""

    def step(state, batch):
        loss = float(state + 1) if losses is None else losses[state]
        extra = 0.0 if batch is None else float(batch)
        return state + 1, {"loss": jnp.float32(loss + extra), "kl": jnp.float32(2.0)}

    return step


def run(step, sink, **kwargs):
    defaults = dict(num_steps=6, log_every=2, checkpoint_every=3, checkpoints=sink, writer=sink)
    return fit(step, kwargs.pop("state", 0), **{**defaults, **kwargs})


def test_windows_and_checkpoints():
    sink = Sink()
    last = run(counting_step(), sink, images_per_step=8)
    assert [s for s, _ in sink.saved] == [3, 6] and sink.saved[-1][1] == 6
    assert [s for s, _ in sink.scalars] == [2, 4, 6]
    # window means of loss = step: (1+2)/2, (3+4)/2, (5+6)/2
    np.testing.assert_allclose([x["loss"] for _, x in sink.scalars], [1.5, 3.5, 5.5])
    assert "time_to_first_step_s" in sink.scalars[0][1]
    assert "time_to_first_step_s" not in sink.scalars[1][1]
    assert last["step"] == 6 and last["stopped"] is None and last["loss"] == 5.5
    assert last["images_per_s"] == pytest.approx(8 * last["steps_per_s"])


def test_resume_from_a_start_step_and_host_batches():
    sink = Sink()
    batches = []

    def batch_fn(step):
        batches.append(step)
        return 100

    last = run(counting_step(), sink, state=3, start_step=3, batch_fn=batch_fn)
    assert batches == [3, 4, 5]
    assert [s for s, _ in sink.saved] == [6]
    assert last["step"] == 6 and last["loss"] == pytest.approx((105 + 106) / 2)  # window 5..6


def test_stop_fn_checkpoints_the_step_reached_and_returns():
    sink = Sink()
    asked = []

    def stop_fn(step):
        asked.append(step)
        return step == 4

    last = run(counting_step(), sink, stop_fn=stop_fn)
    assert asked == [1, 2, 3, 4]
    assert [s for s, _ in sink.saved] == [3, 4]
    assert last["step"] == 4 and last["stopped"] == "stop_fn"
    assert any("stopped by stop_fn at step 4" in m for m in sink.messages)


def test_non_finite_loss_names_the_step_and_the_last_good_checkpoint():
    sink = Sink()
    losses = [1.0, 1.0, 1.0, 1.0, float("nan"), 1.0]
    with pytest.raises(NonFiniteLossError) as info:
        run(counting_step(losses), sink)
    assert info.value.step == 5 and info.value.last_good_checkpoint == 3
    assert [s for s, _ in sink.saved] == [3]  # nothing saved after the bad step


@pytest.mark.parametrize("name", ["num_steps", "log_every", "checkpoint_every"])
@pytest.mark.parametrize("value", [0, 2.5, True])
def test_bad_step_counts_are_refused_before_any_step(name, value):
    calls = []

    def step(state, batch):
        calls.append(state)
        return state, {"loss": jnp.float32(0.0)}

    with pytest.raises(ValueError, match=name):
        run(step, Sink(), **{name: value})
    assert calls == []
