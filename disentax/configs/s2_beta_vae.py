"""S²-β-VAE (Locatello et al., ICLR 2020) on dSprites with 100 labels.

Semi-supervised (Locatello et al., ICLR 2020): each step pairs the ordinary batch of 64
unlabelled images with 64 rows taken in turn from a fixed labelled subset of
``num_labels`` points (the first 90% of it, ``train_fraction``), labelled by
``labeller``; the supervised regulariser ``regulariser`` of the labelled posterior means,
weighted by ``gamma_sup`` under ``annealer``, is added to β-VAE's loss. Network, optimizer,
batch and steps are those of the unsupervised study (Locatello et al. 2019); the
defaults of the supervised part are the reference's test configuration
(docs/guides/semi_supervision.md).

Command:
  disentax train --config s2_beta_vae --workdir runs/s2_beta_vae
  disentax train --config s2_beta_vae --config.objective.num_labels=1000 \\
      --config.objective.regulariser=cov --config.objective.labeller=binned

Expected time: not yet measured (300,000 steps are days on a 2-core CPU; use an
accelerator). A step encodes twice the images of an unsupervised one.
Expected scores: not yet measured.

References:
  Locatello, Tschannen, Bauer, Rätsch, Schölkopf, Bachem, "Disentangling Factors of
  Variation Using Few Labels", ICLR 2020.
"""

from disentax.configs._semi import semi_config


def get_config():
    return semi_config({"name": "s2_beta_vae", "beta": 4.0})
