"""AnnealedVAE (Burgess et al., 2018) on dSprites, reference settings.

Reference set-up: the convolutional encoder/decoder, 10 latents, Bernoulli decoder,
batch 64, Adam (learning rate 1e-4, b1 0.9, b2 0.999, eps 1e-8), 300,000 steps, as in
Locatello et al. (2019). The study's grid for this model:
  c_max in {5, 10, 25, 50, 75, 100} (gamma 1000, iteration_threshold 100,000)
(``experiments/studies/locatello2019.py`` enumerates it).

Command:
  disentax train --config annealed_vae --workdir runs/annealed_vae
  disentax train --config annealed_vae --config.objective.c_max=<value> --config.seed=<seed>

Expected time: not yet measured (300,000 steps are days on a 2-core CPU; use an
accelerator).
Expected scores: not yet measured.

References:
  Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning of
  Disentangled Representations", ICML 2019.
"""

from disentax.configs._base import base_config


def get_config():
    return base_config(
        {"name": "annealed_vae", "c_max": 25.0, "gamma": 1000.0, "iteration_threshold": 100000}
    )
