"""Fixtures of the run-folder tests."""

import ml_collections
import pytest


@pytest.fixture
def sweep_config():
    """``(beta, seed, **overrides) -> ConfigDict``: a tiny β-VAE run a sweep can group."""

    def make(beta: float, seed: int, **overrides):
        config = {
            "model": "fc",
            "objective": {"name": "beta_vae", "beta": beta},
            "dataset": "synthetic_identity",
            "num_latents": 3,
            "batch_size": 8,
            "num_steps": 4,
            "learning_rate": 1e-3,
            "seed": seed,
            "log_every": 1,
            "checkpoint_every": 2,
            "keep_checkpoints": 3,
            "evaluate": False,
            "parallel": "jit",
            "reconstruction": "bernoulli",
        }
        return ml_collections.ConfigDict({**config, **overrides})

    return make
