"""End to end: `disentax train` writes a run, `disentax traverse` regenerates its pictures."""

import json

import pytest
from PIL import Image

from disentax import cli, runs


@pytest.mark.slow
def test_traverse_cli_on_a_trained_run(tmp_path, capsys):
    workdir = tmp_path / "run"
    config = runs.load_config(
        "default",
        [
            "--config.model=fc",
            "--config.num_steps=2",
            "--config.batch_size=8",
            "--config.log_every=1",
            "--config.checkpoint_every=1",
            "--config.evaluate=False",
        ],
    )

    runs.run(config, workdir)
    (workdir / "notes.txt").write_text("kept")

    assert cli.main(["traverse", "--workdir", str(workdir), "--step", "1"]) == 0
    heatmaps = {"viz/mutual_info.png", "viz/dci_importance.png"}  # need evaluation.json
    for name in set(runs.OWNED_FILES) - heatmaps:
        assert (workdir / name).is_file(), name
    assert (workdir / "notes.txt").read_text() == "kept"
    with Image.open(workdir / "viz" / "traversal.gif") as gif:
        assert gif.n_frames == 20  # the default cycle length (some latents move)
    report = (workdir / "report.html").read_text()
    assert "checkpoint step 1" in report
    assert json.loads((workdir / "config.json").read_text())  # left as training wrote it

    capsys.readouterr()
    assert cli.main(["traverse", "--workdir", str(workdir), "--step", "7"]) == 1
    assert "available steps: [1, 2]" in capsys.readouterr().err
    assert cli.main(["traverse", "--workdir", str(tmp_path / "empty")]) == 1
    assert str(tmp_path / "empty") in capsys.readouterr().err
