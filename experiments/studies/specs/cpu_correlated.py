"""β-VAE (β=4) and β-TCVAE (β=6) trained on dSprites with posX and posY correlated.

Träuble et al. (ICML 2021)'s setting: p(posX, posY) ∝ exp(-(posX - posY)² / 2σ²) on
normalised factor values with σ = 0.2 (α = 1); three seeds each, at the steps, network,
batch and learning rate of ``cpu_seeds``, whose models trained on independent factors
are the comparison. Evaluated on the independent distribution, with fairness and the
latent correlation measure added to the ``cpu_seeds`` metrics.

Command:
  disentax study run --config experiments/studies/specs/cpu_correlated.py \\
      --workdir runs/cpu_correlated
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from cpu_seeds import METRICS, cpu_study  # noqa: E402


def get_config():
    grid = {"beta_vae": ("beta", (4.0,), {}), "beta_tcvae": ("beta", (6.0,), {})}
    metrics = f"{METRICS},fairness,latent_correlation"
    config = cpu_study(grid, name="cpu_correlated", num_seeds=3, metrics=metrics)
    config.correlations = "posX,posY,1,0.2"  # alpha = 1, sigma = 0.2
    return config
