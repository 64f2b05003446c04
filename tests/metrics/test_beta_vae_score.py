"""BetaVAE score: reference properties, the features, bad input, one compile per function.

Provenance:
* disentanglement_lib ``evaluation/metrics/beta_vae_test.py`` scores the identity
  representation of ``IdentityObservationsData`` between 0.9 and 1 and a representation
  independent of the factors near chance; the same properties are checked here on
  ``Identity`` / ``Noise`` data (4 factors: chance 1/4).
* features: with the identity representation the fixed factor's coordinate of
  ``mean |rep(x1) - rep(x2)|`` is exactly 0 (the pairs share that factor).
"""

import chex
import jax
import numpy as np
import pytest

import disentax.data as dd
from disentax.metrics import beta_vae_score
from disentax.metrics.beta_vae_score import beta_vae_features

SIZES = (5, 6, 7, 8)
SMALL = dict(batch_size=16, num_train=300, num_eval=200, points_per_chunk=8)


def test_beta_vae_identity_scores_one_and_features_vanish_on_fixed_factor(identity_representation):
    key = jax.random.key(0)
    data = dd.Identity(factor_sizes=SIZES)
    scores = beta_vae_score(key, data, identity_representation, **SMALL)
    assert float(scores["train_accuracy"]) >= 0.95
    assert float(scores["eval_accuracy"]) >= 0.95
    features, labels = beta_vae_features(
        key, data, identity_representation, batch_size=16, num_points=64, points_per_chunk=8
    )
    assert features.shape == (64, 4) and labels.shape == (64,)
    fixed = np.take_along_axis(np.asarray(features), np.asarray(labels)[:, None], axis=1)
    np.testing.assert_allclose(fixed, 0.0, atol=1e-6)  # float rounding of equal images
    others = np.asarray(features)[np.arange(4)[None] != np.asarray(labels)[:, None]]
    assert np.all(others > 0.05)  # mean |difference| of two uniform draws ~ 1/3
    assert len(np.unique(labels)) == 4  # the fixed factor is drawn uniformly


def test_beta_vae_noise_is_near_chance(identity_representation):
    scores = beta_vae_score(
        jax.random.key(1), dd.Noise(factor_sizes=SIZES), identity_representation, **SMALL
    )
    assert float(scores["eval_accuracy"]) < 0.45  # chance is 0.25


def test_same_function_compiles_once(identity_representation):
    data = dd.Identity(factor_sizes=SIZES)
    # Traced twice per compile (the train and the eval features); a second call adds none.
    traced = chex.assert_max_traces(identity_representation, n=2)
    sizes = dict(batch_size=4, num_train=16, num_eval=8, points_per_chunk=4)
    first = beta_vae_score(jax.random.key(4), data, traced, **sizes)
    second = beta_vae_score(jax.random.key(5), data, traced, **sizes)  # no retrace
    assert set(first) == set(second) == {"train_accuracy", "eval_accuracy"}


def test_bad_input_is_refused_before_xla(identity_representation):
    data = dd.Identity(factor_sizes=SIZES)
    with pytest.raises(TypeError, match="typed PRNG key"):
        beta_vae_score(jax.random.PRNGKey(0), data, identity_representation)
    with pytest.raises(ValueError, match="num_train"):
        beta_vae_score(jax.random.key(0), data, identity_representation, num_train=0)
