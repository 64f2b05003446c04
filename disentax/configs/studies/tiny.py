"""A tiny study for tests and a first look: 2 objectives × 2 values × 2 seeds, seconds.

Command:
  disentax study run --config tiny --workdir runs/tiny_study
"""

from disentax.configs.studies.locatello2019 import study_config


def get_config():
    grid = {"beta_vae": ("beta", (1.0, 4.0), {}), "beta_tcvae": ("beta", (1.0, 6.0), {})}
    config = study_config(
        grid,
        datasets="synthetic_identity",
        num_seeds=2,
        model="fc",
        num_latents=4,
        batch_size=16,
        num_steps=20,
        learning_rate=1e-3,
        log_every=10,
        checkpoint_every=10,
    )
    config.name = "tiny"
    config.eval_sizes = "quick"
    config.metrics = "mig,dci,unsupervised"
    return config
