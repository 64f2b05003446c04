"""ML-VAE with labels (the changed factor is known) on dSprites pairs, reference settings.

As ``group_vae`` (pairs re-drawing one factor, the changed factor's latent kept apart)
with the product-of-experts aggregate of the shared dimensions;
docs/guides/weak_supervision.md.

Command:
  disentax train --config ml_vae --workdir runs/ml_vae

Expected time: not yet measured (300,000 steps are days on a 2-core CPU).
Expected scores: not yet measured.

References:
  Locatello et al., "Weakly-Supervised Disentanglement Without Compromises", ICML 2020.
  Bouchacourt, Tomioka, Nowozin, "Multi-Level Variational Autoencoder", AAAI 2018.
"""

from disentax.configs._base import base_config


def get_config():
    return base_config({"name": "ml_vae", "aggregation": "labels", "beta": 1.0, "k": 1})
