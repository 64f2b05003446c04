"""Default run of ``disentax train``: beta-TCVAE (beta = 6) on procedural dSprites.

Sized to finish in about 5 minutes on 2 CPU cores, including compilation and the final
evaluation and traversals. It departs from the reference study (``beta_tcvae.py``: Adam
1e-4 for 300,000 steps) in its learning rate, 1e-3, and its length, so that a short run
already learns the position and scale factors and its traversals show structure.

Command:
  disentax train                       # = --config default --workdir runs/default
  disentax train --config.num_steps=200 --config.evaluate=False   # a quick smoke run

Expected time: not yet measured.
Expected scores: not yet measured.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.model = "conv"
    config.objective = ml_collections.ConfigDict({"name": "beta_tcvae", "beta": 6.0})
    config.dataset = "dsprites"
    config.num_latents = 10
    config.batch_size = 64
    config.num_steps = 1500
    config.learning_rate = 1e-3
    config.seed = 0
    config.log_every = 100
    config.checkpoint_every = 500
    config.evaluate = True
    config.parallel = "jit"
    config.reconstruction = "bernoulli"
    config.keep_checkpoints = 3
    return config
