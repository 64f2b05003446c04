"""The settings every shipped config starts from: the reference study's set-up.

Locatello et al. (2019): the convolutional encoder/decoder, 10 latents, Bernoulli decoder,
batch 64, Adam (learning rate 1e-4, b1 0.9, b2 0.999, eps 1e-8), 300,000 steps, on
dSprites. Not a config itself (``disentax train --config`` lists names without a leading
underscore); a config imports it from the package, which also works for a copy of a
config kept anywhere else:

  from disentax.configs._base import base_config
"""

import ml_collections


def base_config(objective: dict, **overrides) -> ml_collections.ConfigDict:
    """The reference settings training ``objective`` (a ``name`` and its hyperparameters).

    Args:
        objective: ``{"name": <key of disentax.losses.OBJECTIVES>, <hyperparameter>: ...}``.
        **overrides: fields to replace (each must exist), e.g. ``num_steps=1500``.

    Returns:
        The ``ConfigDict``, fields in the order ``disentax train`` prints them.
    """
    config = ml_collections.ConfigDict()
    config.model = "conv"
    config.objective = ml_collections.ConfigDict(objective)
    config.dataset = "dsprites"
    config.num_latents = 10
    config.batch_size = 64
    config.num_steps = 300_000
    config.learning_rate = 1e-4
    config.seed = 0
    config.log_every = 1000
    config.checkpoint_every = 10_000
    config.evaluate = True
    config.parallel = "jit"
    config.dtype = "float32"  # computation dtype of the layers; parameters stay float32
    config.reconstruction = "bernoulli"
    config.keep_checkpoints = 3
    unknown = sorted(set(overrides) - set(config))
    if unknown:
        raise ValueError(f"unknown config fields {unknown}; known: {sorted(config)}")
    config.update(overrides)
    return config
