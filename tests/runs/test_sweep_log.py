"""A resumed sweep trims each model's log to the restored step (no duplicate rows)."""

import json
import shutil

from disentax import runs


def _steps(folder):
    return [
        json.loads(line)["step"] for line in (folder / "metrics.jsonl").read_text().splitlines()
    ]


def test_resume_drops_rows_past_the_restored_step_and_a_partial_line(tmp_path, sweep_config):
    configs = [sweep_config(1.0, 0), sweep_config(4.0, 1)]
    folders = [tmp_path / "a", tmp_path / "b"]
    runs.train_sweep(configs, folders, log=lambda _: None)
    assert all(_steps(f) == [1, 2, 3, 4] for f in folders)
    # a kill after step 4's rows were logged but before its checkpoint, mid-write of a row
    for folder in folders:
        shutil.rmtree(folder / "checkpoints" / "4")
        with open(folder / "metrics.jsonl", "a") as f:
            f.write('{"step": 5, "lo')
    lines = []
    runs.train_sweep(configs, folders, log=lines.append)
    for folder in folders:
        assert _steps(folder) == [1, 2, 3, 4]  # rows 3 and 4 dropped, then logged again
        assert (folder / "checkpoints" / "4").is_dir()
    dropped = [line for line in lines if "dropped 2 rows after step 2" in line]
    assert len(dropped) == 2 and all("partial last line" in line for line in dropped)
