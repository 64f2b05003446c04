"""runs.reporting: wall time from the log, curve captions, the source commit."""

import math
import pathlib
import shutil
import subprocess

import pytest

from disentax.runs import folder as folder_module
from disentax.runs import reporting


def test_training_seconds_sums_each_window_and_every_start_up():
    rows = [
        # first session: 3 s to step 1, steps 2..10 at 3/s, 11..20 at 5/s
        {"step": 10, "steps_per_s": 3.0, "time_to_first_step_s": 3.0},
        {"step": 20, "steps_per_s": 5.0},
        {"step": 20, "note": "not a timed row"},
        # resumed at step 20: 2 s to step 21, steps 22..30 at 9/s
        {"step": 30, "steps_per_s": 9.0, "time_to_first_step_s": 2.0},
        {"step": 40, "steps_per_s": float("nan")},  # a window of no timed step
    ]
    expected = 3.0 + 9 / 3.0 + 10 / 5.0 + 2.0 + 9 / 9.0  # hand-derived
    assert reporting.training_seconds(rows) == pytest.approx(expected)
    assert reporting.training_seconds([{"step": 2, "loss": 1.0}]) is None
    assert reporting.training_seconds([]) is None


def _config(name, **objective):
    return {"num_latents": 10, "batch_size": 64, "objective": {"name": name, **objective}}


ROWS = [{"step": 1, "loss": -1.0, "recon": 9.0, "kl": 2.0, "tc": -3.0, "elbo": -11.0}]


def test_curve_notes_explain_the_sign_of_each_tc_estimate():
    (tc,) = [
        n
        for n in reporting.curve_notes(_config("beta_tcvae", beta=6.0), ROWS)
        if n.startswith("tc ")
    ]
    assert "never positive" in tc and f"{-9 * math.log(64):.3g}" in tc  # -(L-1) log B
    assert "(β-1)·tc" in tc
    (tc,) = [
        n
        for n in reporting.curve_notes(_config("beta_tcvae", beta=1.0), ROWS)
        if n.startswith("tc ")
    ]
    assert "(β-1)·tc" not in tc  # β = 1: the loss carries no tc term
    # the estimates that include their constant, or need none, get no such note
    for config in (
        _config("beta_tcvae", beta=6.0, estimator="mws", dataset_size=737280),
        _config("beta_tcvae", beta=6.0, estimator="mss"),
    ):
        assert not any("never positive" in n for n in reporting.curve_notes(config, ROWS))
    (tc,) = [n for n in reporting.curve_notes(_config("factor_vae"), ROWS) if n.startswith("tc ")]
    assert "discriminator" in tc


def test_curve_notes_follow_the_logged_keys():
    notes = reporting.curve_notes(_config("beta_vae", beta=4.0), ROWS)
    assert len(notes) == 2 and "nats per image" in notes[0] and "elbo" in notes[1]
    assert reporting.curve_notes(_config("beta_tcvae"), [{"step": 1, "loss": 2.0}]) == []


@pytest.mark.skipif(shutil.which("git") is None, reason="no git")
def test_source_revision_is_the_checkout_head():
    root = pathlib.Path(folder_module.__file__).resolve().parents[2]
    if not (root / ".git").exists():
        pytest.skip("disentax is not imported from a git checkout")
    head = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    revision = folder_module.source_revision()
    assert revision["commit"] == head and isinstance(revision["modified"], bool)
    assert folder_module.provenance()["source"]["commit"] == head
