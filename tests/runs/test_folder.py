"""RunFolder: a failed write keeps the old file and says so; unreadable files are named."""

import errno

import pytest

from disentax import cli, runs


def test_a_full_disk_keeps_the_previous_file_and_names_it(tmp_path):
    folder = runs.RunFolder(tmp_path)
    folder.write_json(folder.evaluation, {"step": 1})

    def full(path):
        path.write_text("partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    kept = "evaluation.json .No space left on device.; its previous version is unchanged"
    with pytest.raises(OSError, match=kept) as info:
        folder.write_atomic(folder.evaluation, full)
    assert info.value.errno == errno.ENOSPC
    assert folder.read_json(folder.evaluation) == {"step": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evaluation.json"]  # no temporary
    with pytest.raises(OSError, match=r"report.html .No space left on device.; nothing written"):
        folder.write_atomic(folder.report, full)


def test_a_config_json_that_is_not_utf8_is_named(tmp_path, capsys):
    (tmp_path / "checkpoints" / "1").mkdir(parents=True)
    (tmp_path / "config.json").write_bytes(b'{"config": "\xff\xfe"}')
    with pytest.raises(ValueError, match="config.json is not a readable disentax config.json"):
        runs.RunFolder(tmp_path).read_config()
    (tmp_path / "evaluation.json").write_bytes(b"\xff")
    with pytest.raises(ValueError, match="evaluation.json is not a readable JSON file"):
        runs.RunFolder(tmp_path).read_json(tmp_path / "evaluation.json")
    assert cli.main(["traverse", "--workdir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'config.json'} is not a readable" in err and err.count("\n") == 1
