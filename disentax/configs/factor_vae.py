"""FactorVAE (Kim & Mnih, ICML 2018) on dSprites, reference settings.

Reference set-up: the convolutional encoder/decoder, 10 latents, Bernoulli decoder,
batch 64, Adam (learning rate 1e-4, b1 0.9, b2 0.999, eps 1e-8), 300,000 steps, as in
Locatello et al. (2019). The study's grid for this model:
  gamma in {10, 20, 30, 40, 50, 100}; discriminator Adam(1e-4, b1 0.5, b2 0.9)
(``experiments/studies/locatello2019.py`` enumerates it).

Command:
  disentax train --config factor_vae --workdir runs/factor_vae
  disentax train --config factor_vae --config.objective.gamma=<value> --config.seed=<seed>

Expected time: not yet measured (300,000 steps are days on a 2-core CPU; use an
accelerator).
Expected scores: not yet measured.

References:
  Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning of
  Disentangled Representations", ICML 2019.
"""

from disentax.configs._base import base_config


def get_config():
    return base_config({"name": "factor_vae", "gamma": 10.0})
