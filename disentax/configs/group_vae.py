"""GroupVAE with labels (the changed factor is known) on dSprites pairs, reference settings.

Pairs re-draw one factor (``k = 1``); the latent dimension whose index is the changed
factor stays apart and the others take the average of the pair's posteriors, so latent
``i`` is asked to encode factor ``i`` (dSprites has 5 factors, the model 10 latents).
The ``labels`` baseline of Locatello et al. (2020); docs/guides/weak_supervision.md.

Command:
  disentax train --config group_vae --workdir runs/group_vae

Expected time: not yet measured (300,000 steps are days on a 2-core CPU).
Expected scores: not yet measured.

References:
  Locatello et al., "Weakly-Supervised Disentanglement Without Compromises", ICML 2020.
  Hosoya, "Group-based Learning of Disentangled Representations with Generalizability
  for Novel Contents", IJCAI 2019.
"""

from disentax.configs._base import base_config


def get_config():
    return base_config({"name": "group_vae", "aggregation": "labels", "beta": 1.0, "k": 1})
