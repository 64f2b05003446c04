"""The package imports, the CLI parses, and the test harness is configured."""

import subprocess
import sys

import jax
import pytest

import disentax
from disentax import cli, runs


def test_version_is_a_string():
    assert isinstance(disentax.__version__, str)
    assert disentax.__version__.count(".") == 2


def test_conftest_gives_eight_cpu_devices():
    assert jax.device_count() == 8
    assert all(d.platform == "cpu" for d in jax.devices())


def test_help_lists_every_subcommand():
    out = subprocess.run(
        [sys.executable, "-m", "disentax.cli", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    for name in ("train", "evaluate", "traverse", "bench", "data"):
        assert name in out.stdout


@pytest.mark.parametrize(
    "argv",
    [["frobnicate"], ["train", "--no-such-option"], ["evaluate"], []],
)
def test_bad_command_line_exits_2_with_usage(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_config_args_are_split_from_the_rest():
    rest, config, overrides = cli._split_config_args(
        ["--workdir", "w", "--config", "c.py", "--config.num_steps=5", "--config.seed", "3"]
    )
    assert rest == ["--workdir", "w"]
    assert config == "c.py"
    assert overrides == ["--config.num_steps=5", "--config.seed=3"]


def test_load_config_applies_typed_overrides(tmp_path):
    path = tmp_path / "cfg.py"
    path.write_text(
        "import ml_collections\n"
        "def get_config():\n"
        "    c = ml_collections.ConfigDict()\n"
        "    c.num_steps = 10\n"
        "    c.objective = ml_collections.ConfigDict({'name': 'beta_vae', 'beta': 1.0})\n"
        "    return c\n"
    )
    config = runs.load_config(str(path), ["--config.num_steps=7", "--config.objective.beta=4"])
    assert config.num_steps == 7
    assert config.objective.beta == 4.0
    with pytest.raises(ValueError, match="override"):
        runs.load_config(str(path), ["--config.no_such_key=1"])
    with pytest.raises(ValueError, match="override"):
        runs.load_config(str(path), ["--config.num_steps=abc"])


def test_missing_config_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.py"):
        runs.resolve_config_path(str(tmp_path / "nope.py"))


@pytest.mark.parametrize("name", ["_base", "no_such_config"])
def test_a_name_that_is_not_a_shipped_config_lists_the_shipped_ones(name):
    with pytest.raises(FileNotFoundError, match="shipped configs in .*beta_vae") as info:
        runs.resolve_config_path(name)
    assert "_base" not in str(info.value).split("shipped configs in")[1]
