"""Default run of ``disentax train``: beta-TCVAE (beta = 6) on procedural dSprites.

Sized to finish in about 5 minutes on 2 CPU cores, including compilation and the final
evaluation and traversals. It departs from the reference study (``beta_tcvae.py``: Adam
1e-4 for 300,000 steps) in its learning rate, 1e-3, and its length, so that a short run
learns the position and scale factors and its traversals show structure.

Command:
  disentax train                       # = --config default --workdir runs/default
  disentax train --config.num_steps=200 --config.evaluate=False   # a quick smoke run

Expected time (measured, 2026-11-28): on 2 cores (``taskset -c 0,1``) of an idle Xeon
server with JAX 0.11.2, the first step comes 12.5-13.7 s after process start (cold, no
compilation cache) and training runs at 8.3-9.4 steps/s, so the 1,500 steps take about 3
minutes before evaluation. On one H200 GPU: about 390 steps/s. The 2-core development
machine itself was too loaded to time (not yet measured there); the evaluation and
traversal time on CPU is not yet measured.
Expected scores: not yet measured. (A 5,000-step run of this config on the H200 put posX,
posY and scale into separate latents in its traversals; its reconstruction loss was 127 at
step 1,000 and 123.5 at step 1,500 against 93 at step 5,000. The 1,500-step traversals
themselves were not yet inspected.)
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
    config.dtype = "float32"  # computation dtype of the layers; parameters stay float32
    config.reconstruction = "bernoulli"
    config.keep_checkpoints = 3
    return config
