"""BetaVAE and FactorVAE scores on a user's own dataset class (issue #21, item 21).

Another JAX project implements the ``GroundTruthData`` protocol with a plain Python
class, not a pytree; ``jax.jit`` used to read it as an array ("Error interpreting
argument to <function _score> as an abstract array"). The identity dataset below is
``dd.Identity`` written that way, so the scores' reference properties (identity
representation scores >= 0.9, disentanglement_lib ``beta_vae_test.py`` /
``factor_vae_test.py``) must hold for it too.
"""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from disentax.metrics import beta_vae_score, factor_vae_score

SIZES = (5, 6, 7, 8)


class PlainIdentity:
    """Observation = the factor vector scaled to [0, 1]; no pytree registration."""

    def __init__(self, factor_sizes):
        self.factor_sizes = tuple(factor_sizes)
        self.factor_names = tuple(f"f{i}" for i in range(len(factor_sizes)))
        self.observation_shape = (1, 1, len(factor_sizes))
        self.scale = np.asarray(factor_sizes, np.float32) - 1  # an array attribute

    def sample_factors(self, key, num):
        maxval = jnp.asarray(self.factor_sizes)
        return jax.random.randint(key, (num, len(self.factor_sizes)), 0, maxval)

    def observations(self, factors):
        images = jnp.asarray(factors, jnp.float32) / self.scale
        return images.reshape(-1, *self.observation_shape)


@dataclasses.dataclass  # eq=True without frozen: unhashable, so not a valid static argument
class DataclassIdentity:
    factor_sizes: tuple
    factor_names: tuple = ("a", "b", "c", "d")
    observation_shape: tuple = (1, 1, 4)

    def sample_factors(self, key, num):
        maxval = jnp.asarray(self.factor_sizes)
        return jax.random.randint(key, (num, len(self.factor_sizes)), 0, maxval)

    def observations(self, factors):
        sizes = jnp.asarray(self.factor_sizes, jnp.float32) - 1
        return (factors / sizes).reshape(-1, *self.observation_shape)


SMALL = dict(batch_size=16, num_train=300, num_eval=200, points_per_chunk=8)


@pytest.mark.parametrize("make", [PlainIdentity, DataclassIdentity])
def test_scores_accept_a_plain_dataset_class(make, identity_representation):
    data = make(SIZES)
    beta = beta_vae_score(jax.random.key(0), data, identity_representation, **SMALL)
    factor = factor_vae_score(
        jax.random.key(0), data, identity_representation, num_variance_estimate=500, **SMALL
    )
    for scores in (beta, factor):
        assert float(scores["train_accuracy"]) >= 0.9
        assert float(scores["eval_accuracy"]) >= 0.9
    assert int(factor["num_active_dims"]) == 4


def test_a_plain_dataset_compiles_once_per_object(identity_representation):
    data = PlainIdentity(SIZES)
    traced = chex.assert_max_traces(identity_representation, n=2)  # train + eval features
    sizes = dict(batch_size=4, num_train=16, num_eval=8, points_per_chunk=4)
    beta_vae_score(jax.random.key(1), data, traced, **sizes)
    beta_vae_score(jax.random.key(2), data, traced, **sizes)  # same object: no retrace


def test_an_object_without_the_protocol_is_refused_in_one_line(identity_representation):
    class NoObservations:
        factor_sizes = SIZES
        factor_names = ("a", "b", "c", "d")
        observation_shape = (1, 1, 4)

        def sample_factors(self, key, num):
            return jnp.zeros((num, 4), jnp.int32)

    for score in (beta_vae_score, factor_vae_score):
        with pytest.raises(TypeError, match="observations") as info:
            score(jax.random.key(0), NoObservations(), identity_representation, **SMALL)
        assert "\n" not in str(info.value)
