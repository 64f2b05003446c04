"""Fully supervised VAE (Locatello et al., ICLR 2020) on dSprites with 100 labels.

The encoder is trained by the supervised regulariser ``regulariser`` alone on the
labelled rows (a fixed subset of ``num_labels`` points, the first 90% trained on, labelled
by ``labeller``); the decoder learns to reconstruct the unlabelled batch from the detached
sample, so that the codes can be visualised. No KL term, no annealing. The reference's
upper baseline for the semi-supervised models (docs/guides/semi_supervision.md).

Command:
  disentax train --config supervised_vae --workdir runs/supervised_vae
  disentax train --config supervised_vae --config.objective.num_labels=1000

Expected time: not yet measured (300,000 steps are days on a 2-core CPU; use an
accelerator).
Expected scores: not yet measured.

References:
  Locatello, Tschannen, Bauer, Rätsch, Schölkopf, Bachem, "Disentangling Factors of
  Variation Using Few Labels", ICLR 2020.
"""

from disentax.configs._semi import semi_config


def get_config():
    return semi_config({"name": "supervised_vae"}, supervised=False)
