"""The optional ``dtype`` config key (the layers' computation dtype) and how a run folder
written before an optional key existed is compared with a config that has it."""

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
    run_spec.check_workdir(tmp_path, resolved)  # same run: no error
    other = run_spec.validate(
        runs.load_config("default", [*SMALL, "--config.dtype=bfloat16"])
    ).resolved
    with pytest.raises(ValueError, match="dtype: workdir has 'float32', config has 'bfloat16'"):
        run_spec.check_workdir(tmp_path, other)
