"""Ada-ML-VAE (Locatello et al., ICML 2020) on dSprites pairs, reference settings.

As ``ada_gvae`` (pairs re-drawing ``k = -1`` factors, the adaptive choice of the
dimensions kept apart), with ML-VAE's aggregate of the shared dimensions: the product of
the two posteriors' experts (mean ``(m1/v1 + m2/v2) / (1/v1 + 1/v2)``, variance
``2 v1 v2 / (v1 + v2)`` as the reference; docs/guides/weak_supervision.md). The paper's
grid: beta in {1, 2, 4, 6, 8, 16}.

Command:
  disentax train --config ada_ml_vae --workdir runs/ada_ml_vae

Expected time: not yet measured (300,000 steps are days on a 2-core CPU; use an
accelerator).
Expected scores: not yet measured.

References:
  Locatello, Poole, Rätsch, Schölkopf, Bachem, Tschannen, "Weakly-Supervised
  Disentanglement Without Compromises", ICML 2020.
"""

from disentax.configs._base import base_config


def get_config():
    return base_config({"name": "ml_vae", "aggregation": "argmax", "beta": 1.0, "k": -1})
