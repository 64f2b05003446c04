"""The package imports, the CLI parses, and the test harness is configured."""

import os
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


def _no_get_config(tmp_path):
    path = tmp_path / "plain.py"
    path.write_text("num_steps = 10\n")
    return path


def test_an_unknown_key_is_named_with_the_known_ones():
    with pytest.raises(
        ValueError, match=r"--config.foo: the config has no key 'foo'; known keys: b"
    ):
        runs.load_config("default", ["--config.foo=1"])
    with pytest.raises(ValueError, match="config.model is a value, not a group of keys"):
        runs.load_config("default", ["--config.model.depth=1"])


def test_optional_keys_and_hyperparameters_can_be_set_on_any_config():
    config = runs.load_config(
        "default",
        [
            "--config.eval_sizes=quick",
            "--config.objective.estimator=mss",
            "--config.objective.dataset_size=737280",
        ],
    )
    spec = runs.validate(config)
    assert spec.eval_sizes == "quick"
    assert spec.hyperparameters == {"beta": 6.0, "estimator": "mss", "dataset_size": 737280}
    takes = r"objective 'beta_tcvae' takes no hyperparameter 'gamma'; it takes beta, dataset_size"
    with pytest.raises(ValueError, match=takes):
        runs.load_config("default", ["--config.objective.gamma=3"])
    # a new objective starts from its own defaults, then the given values
    other = ["--config.objective.name=factor_vae", "--config.objective.gamma=3"]
    assert runs.validate(runs.load_config("default", other)).hyperparameters == {"gamma": 3.0}
    with pytest.raises(ValueError, match="override"):
        runs.load_config("default", ["--config.eval_sizes=3", "--config.seed=x"])


def test_a_config_file_without_get_config_says_so(tmp_path):
    path = _no_get_config(tmp_path)
    with pytest.raises(ValueError, match=r"plain.py defines no get_config\(\)"):
        runs.load_config(str(path))
    (tmp_path / "broken.py").write_text("def get_config(:\n")
    with pytest.raises(ValueError, match="broken.py: the file fails to run: SyntaxError"):
        runs.load_config(str(tmp_path / "broken.py"))


def _one_line_error(capsys, argv, status, *needles):
    assert cli.main(argv) == status
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def test_command_line_mistakes_are_one_line(tmp_path, capsys, monkeypatch):
    _one_line_error(capsys, ["train", "--config.foo=1"], 2, "no key 'foo'; known keys:")
    plain = str(_no_get_config(tmp_path))
    _one_line_error(capsys, ["train", "--config", plain], 2, "defines no get_config()")
    afile = tmp_path / "afile"
    afile.write_text("")
    for workdir in (afile, afile / "sub"):
        _one_line_error(
            capsys, ["train", "--workdir", str(workdir)], 1, f"{afile} is a file, not a folder"
        )
    _one_line_error(
        capsys, ["data", "show", "--workdir", str(afile)], 1, f"{afile} is a file, not a folder"
    )
    _one_line_error(capsys, ["data", "show", "--num", "200000"], 1, "num: at most 4096")
    monkeypatch.setenv("DISENTAX_HOST_ALLOCATOR", "bogus")
    _one_line_error(capsys, ["data", "list"], 2, "DISENTAX_HOST_ALLOCATOR must be one of")


def test_a_missing_optional_extra_names_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # as if not installed
    argv = ["data", "show", "tfds_dsprites", "--workdir", str(tmp_path)]
    _one_line_error(capsys, argv, 1, "optional extra 'tfds'", "pip install 'disentax[tfds]'")


def test_a_platform_this_machine_lacks_is_one_line(tmp_path):
    # a fresh process: this one's backend has started already
    out = subprocess.run(
        [sys.executable, "-m", "disentax.cli", "traverse", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cuda"},
    )
    assert out.returncode == 1
    assert "JAX could not start the platform 'cuda'" in out.stderr
    assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1, out.stderr


def test_train_restart_flag_reaches_the_pipeline(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(runs, "run", lambda config, workdir, **kw: seen.update(kw))
    argv = ["train", "--workdir", str(tmp_path / "w"), "--config.num_steps=1"]
    assert cli.main([*argv, "--restart"]) == 0
    assert seen == {"restart": True, "config_name": "default"}
    assert cli.main(argv) == 0 and seen["restart"] is False
