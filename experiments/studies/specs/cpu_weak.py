"""Weak and few-label supervision against the unsupervised models of ``cpu_seeds``.

Ada-GVAE (k = -1, β = 1, the shipped ``ada_gvae`` config) and S²-β-VAE (β = 4, the
cross-entropy regulariser, perfect labels) with 100 and with 1,000 labels, three seeds
each, at the steps, network, batch and learning rate of ``cpu_seeds`` (procedural
dSprites), so that they compare with its β-VAE and β-TCVAE at equal steps.

Command:
  disentax study run --config experiments/studies/specs/cpu_weak.py \\
      --workdir runs/cpu_weak
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from cpu_seeds import cpu_study  # noqa: E402

from disentax.configs._semi import LABELLED, SUPERVISED  # noqa: E402


def get_config():
    grid = {
        "group_vae": ("beta", (1.0,), {"aggregation": "argmax", "k": -1}),
        "s2_beta_vae": ("num_labels", (100, 1000), {"beta": 4.0, **SUPERVISED, **LABELLED}),
    }
    return cpu_study(grid, name="cpu_weak", num_seeds=3)
