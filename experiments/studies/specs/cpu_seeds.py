"""The seed study of this CPU: β-VAE (β=4), β-TCVAE (β=6), FactorVAE (γ=40), the VAE.

Five seeds per model (20 models) on procedural dSprites, with the reference network and
batch (Locatello et al. 2019) but far fewer steps (the reference trains 300,000), sized
so that training and evaluation fit about an hour of this 2-core machine. The results
page reads it with ``experiments/studies/seed_results.py``.

Command:
  disentax study run --config experiments/studies/specs/cpu_seeds.py \\
      --workdir runs/cpu_seeds
"""

from disentax.configs.studies.locatello2019 import study_config

# the metrics scored (the downstream probes and Chen's full-grid MIG cost minutes each
# on a CPU and answer no question of this study)
METRICS = "beta_vae_score,factor_vae_score,mig,mig_sampled,dci,sap,modularity,irs,unsupervised"
NUM_STEPS = 1500


def cpu_study(grid, *, name: str, num_seeds: int, metrics: str = METRICS):
    """A study of ``grid`` at the settings every CPU study shares (dSprites, steps, batch)."""
    config = study_config(
        grid,
        datasets="dsprites",
        num_seeds=num_seeds,
        num_steps=NUM_STEPS,
        learning_rate=1e-3,
        log_every=100,
        checkpoint_every=500,
    )
    config.name = name
    config.eval_sizes = "quick"
    config.metrics = metrics
    return config


def get_config():
    grid = {
        "beta_vae": ("beta", (1.0, 4.0), {}),  # beta=1 is the plain VAE
        "beta_tcvae": ("beta", (6.0,), {}),
        "factor_vae": ("gamma", (40.0,), {}),
    }
    return cpu_study(grid, name="cpu_seeds", num_seeds=5)
