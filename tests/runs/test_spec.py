"""The optional ``dtype`` config key (the layers' computation dtype), how a run folder
written before an optional key existed is compared with a config that has it, the seed's
range, and a folder whose config never trained."""

import json

import pytest

from disentax import runs
from disentax.runs import spec as run_spec

SMALL = ["--config.model=fc", "--config.dataset=synthetic_identity", "--config.num_latents=4"]


def test_dtype_reaches_the_model_and_is_checked():
    spec = run_spec.validate(runs.load_config("default", [*SMALL, "--config.dtype=bfloat16"]))
    assert spec.dtype == "bfloat16" and spec.resolved["dtype"] == "bfloat16"
    parts = run_spec.build(spec)
    assert str(parts.model.encoder.dtype) == "bfloat16"
    default = run_spec.validate(runs.load_config("default", SMALL))
    assert default.dtype == "float32" and run_spec.build(default).model.encoder.dtype is None
    with pytest.raises(ValueError, match="config.dtype must be one of"):
        run_spec.validate(runs.load_config("default", [*SMALL, "--config.dtype=float64"]))


def test_an_absent_optional_key_compares_as_its_default(tmp_path):
    resolved = run_spec.validate(runs.load_config("default", SMALL)).resolved
    older = {k: v for k, v in resolved.items() if k != "dtype"}  # written before dtype existed
    (tmp_path / "config.json").write_text(json.dumps({"config": older}))
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n')  # it trained
    run_spec.check_workdir(tmp_path, resolved)  # same run: no error
    other = run_spec.validate(
        runs.load_config("default", [*SMALL, "--config.dtype=bfloat16"])
    ).resolved
    with pytest.raises(ValueError, match="dtype: workdir has 'float32', config has 'bfloat16'"):
        run_spec.check_workdir(tmp_path, other)


def test_a_seed_jax_would_wrap_is_refused_before_anything_is_written(tmp_path):
    # jax.random.key keeps a seed's low 32 bits: 2**32 would silently repeat seed 0
    top = run_spec.validate(runs.load_config("default", [*SMALL, "--config.seed=4294967295"]))
    assert top.seed == run_spec.MAX_SEED == 2**32 - 1
    for seed in (2**32, 2**64):
        config = runs.load_config("default", [*SMALL, f"--config.seed={seed}"])
        with pytest.raises(ValueError, match=r"config.seed must be an int in \[0, 4294967295\]"):
            runs.run(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_folder_whose_config_never_trained_takes_another_config(tmp_path):
    # e.g. a job refused for its batch size after writing config.json: nothing trained
    big = run_spec.validate(runs.load_config("default", [*SMALL, "--config.batch_size=16384"]))
    (tmp_path / "config.json").write_text(json.dumps({"config": big.resolved}))
    small = run_spec.validate(runs.load_config("default", SMALL))
    run_spec.check_workdir(tmp_path, small.resolved)
    (tmp_path / "checkpoints" / "10").mkdir(parents=True)
    with pytest.raises(ValueError, match="batch_size: workdir has 16384, config has 64"):
        run_spec.check_workdir(tmp_path, small.resolved)
