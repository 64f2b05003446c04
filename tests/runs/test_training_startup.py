"""Start-up of the training job: what happens before the first train step.

* The initial state of a fresh run (the initialisation traced once, for the step's
  layout and for the state) equals ``train_step.init(key)`` bit for bit.
* Before the first step only the initialisation and the step compile (no per-parameter
  programs, no second compile of either).
* Heavy libraries not needed for training (PyTorch via tensorboardX, orbax, matplotlib,
  scikit-learn) are not imported before the first step of a fresh run.
"""

import logging
import os
import re
import subprocess
import sys

import jax
import numpy as np
import pytest

from disentax import parallel as par
from disentax import runs
from disentax.runs import spec as run_spec
from disentax.runs import training

SMALL = [
    "--config.model=fc",
    "--config.dataset=synthetic_identity",
    "--config.batch_size=8",
    "--config.num_latents=4",
    "--config.num_steps=2",
    "--config.log_every=1",
    "--config.checkpoint_every=2",
    "--config.evaluate=False",
]


def leaves(state):
    out = []
    for leaf in jax.tree.leaves(state):
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        out.append(np.asarray(leaf))
    return out


@pytest.mark.parametrize("overrides", [SMALL, ["--config.num_steps=1"]], ids=["fc", "default"])
def test_traced_once_initial_state_equals_train_step_init(overrides):
    spec = run_spec.validate(runs.load_config("default", overrides))
    parts = run_spec.build(spec)
    mesh = par.make_mesh()
    train_step = training.build_train_step(spec, parts, mesh)  # the step run() builds
    key = jax.random.key(spec.seed)
    abstract, init = training._trace_init(train_step, key, mesh)
    expected = train_step.init(key)
    got = init()
    assert jax.tree.structure(got) == jax.tree.structure(expected)
    for a, b in zip(leaves(got), leaves(expected), strict=True):
        np.testing.assert_array_equal(a, b)
    for spec_leaf, leaf in zip(jax.tree.leaves(abstract), jax.tree.leaves(got), strict=True):
        assert spec_leaf.shape == leaf.shape and spec_leaf.dtype == leaf.dtype
        assert leaf.sharding.is_equivalent_to(spec_leaf.sharding, leaf.ndim)


def test_only_the_initialisation_and_the_step_compile(tmp_path, monkeypatch):
    compiled = []
    message = training.Writer.message

    def mark(self, text):
        if text.startswith("first train step done"):
            compiled.append("<first step>")
        message(self, text)

    monkeypatch.setattr(training.Writer, "message", mark)

    class Collect(logging.Handler):
        def emit(self, record):
            match = re.search(r"Finished XLA compilation of (\S+)", record.getMessage())
            if match:
                compiled.append(match.group(1))

    handler = Collect(level=logging.DEBUG)
    logging.getLogger("jax").addHandler(handler)
    before = jax.config.jax_log_compiles
    jax.config.update("jax_log_compiles", True)  # global: the step compiles in a thread
    try:
        runs.run(runs.load_config("default", SMALL), tmp_path)
    finally:
        jax.config.update("jax_log_compiles", before)
        logging.getLogger("jax").removeHandler(handler)
    assert "<first step>" in compiled, compiled
    compiled = compiled[: compiled.index("<first step>")]
    big = [name for name in compiled if "init" in name or "lambda" in name]
    assert sorted(big) == ["jit(<lambda>)", "jit(init_fn)"], compiled
    # besides: the PRNG key and the mesh's scalars, not one program per parameter
    assert len(compiled) <= 4, compiled


def test_no_heavy_imports_before_the_first_step(tmp_path):
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "disentax.cli", "train", *SMALL]
        + ["--workdir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    before, marker, _ = out.stderr.partition("first train step done")
    assert marker, out.stderr[-2000:]
    imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \| +(\S+)$", before, re.M))
    assert "jax" in imported and "optax" in imported  # the parse found the imports
    heavy = {"torch", "tensorboardX", "orbax.checkpoint", "matplotlib", "sklearn", "tensorflow"}
    assert not heavy & imported
