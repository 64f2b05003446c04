"""BetaVAE and FactorVAE scores: reference properties, a NumPy vote oracle, bad input.

Provenance:
* disentanglement_lib ``evaluation/metrics/beta_vae_test.py`` and ``factor_vae_test.py``
  score the identity representation of ``IdentityObservationsData`` between 0.9 and 1
  and a representation independent of the factors near chance; the same properties are
  checked here on ``synthetic_identity`` / ``synthetic_noise`` (4 factors: chance 1/4).
* the majority-vote classifier is checked against a NumPy transcription of the
  reference's ``_compute_variances`` / ``argmax`` / ``votes[classifier, range]`` lines.
* BetaVAE features: with the identity representation the fixed factor's coordinate of
  ``mean |rep(x1) - rep(x2)|`` is exactly 0 (the pairs share that factor).
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import disentax.data as dd
from disentax.metrics import beta_vae_score, factor_vae_score
from disentax.metrics.beta_vae_score import beta_vae_features
from disentax.metrics.factor_vae_score import factor_vae_votes

SIZES = (5, 6, 7, 8)
SMALL = dict(batch_size=16, num_train=300, num_eval=200, points_per_chunk=8)


def identity(images):
    return images.reshape(images.shape[0], -1)


def identity_with_dead_codes(images):
    # Four informative codes, two constant ones and two of tiny spread (std 0.004 <
    # prune_threshold 0.05): 4 active codes out of 8.
    x = images.reshape(images.shape[0], -1)
    return jnp.concatenate([x, jnp.zeros_like(x[:, :2]), 0.01 * x[:, :2]], axis=1)


def test_beta_vae_identity_scores_one_and_features_vanish_on_fixed_factor():
    key = jax.random.key(0)
    data = dd.Identity(factor_sizes=SIZES)
    scores = beta_vae_score(key, data, identity, **SMALL)
    assert float(scores["train_accuracy"]) >= 0.95
    assert float(scores["eval_accuracy"]) >= 0.95
    features, labels = beta_vae_features(
        key, data, identity, batch_size=16, num_points=64, points_per_chunk=8
    )
    assert features.shape == (64, 4) and labels.shape == (64,)
    fixed = np.take_along_axis(np.asarray(features), np.asarray(labels)[:, None], axis=1)
    np.testing.assert_allclose(fixed, 0.0, atol=1e-6)  # float rounding of equal images
    others = np.asarray(features)[np.arange(4)[None] != np.asarray(labels)[:, None]]
    assert np.all(others > 0.05)  # mean |difference| of two uniform draws ~ 1/3
    assert len(np.unique(labels)) == 4  # the fixed factor is drawn uniformly


def test_beta_vae_noise_is_near_chance():
    scores = beta_vae_score(jax.random.key(1), dd.Noise(factor_sizes=SIZES), identity, **SMALL)
    assert float(scores["eval_accuracy"]) < 0.45  # chance is 0.25


def test_factor_vae_identity_and_true_active_count():
    scores = factor_vae_score(
        jax.random.key(2),
        dd.Identity(factor_sizes=SIZES),
        identity_with_dead_codes,
        num_variance_estimate=500,
        **SMALL,
    )
    assert float(scores["train_accuracy"]) == 1.0
    assert float(scores["eval_accuracy"]) == 1.0
    # The reference would report len(mask) = 8 here; the true count is 4.
    assert int(scores["num_active_dims"]) == 4


def test_factor_vae_noise_is_near_chance_and_no_active_code_scores_zero():
    noise = dd.Noise(factor_sizes=SIZES)
    scores = factor_vae_score(
        jax.random.key(3), noise, identity, num_variance_estimate=500, **SMALL
    )
    assert float(scores["eval_accuracy"]) < 0.45
    dead = factor_vae_score(
        jax.random.key(3),
        noise,
        identity,
        num_variance_estimate=500,
        prune_threshold=10.0,
        **SMALL,
    )
    assert int(dead["num_active_dims"]) == 0
    assert float(dead["train_accuracy"]) == 0.0 and float(dead["eval_accuracy"]) == 0.0


def test_majority_vote_matches_numpy_transcription():
    rng = np.random.default_rng(0)
    for _ in range(5):
        votes_train = rng.integers(0, 20, (5, 7))
        votes_eval = rng.integers(0, 20, (5, 7))
        # disentanglement_lib factor_vae.py: classifier = np.argmax(training_votes, axis=0);
        # accuracy = np.sum(votes[classifier, other_index]) / np.sum(votes).
        classifier = np.argmax(votes_train, axis=0)
        other = np.arange(votes_train.shape[1])
        expected_train = np.sum(votes_train[classifier, other]) / np.sum(votes_train)
        expected_eval = np.sum(votes_eval[classifier, other]) / np.sum(votes_eval)
        train, evals = factor_vae_votes(votes_train, votes_eval)
        np.testing.assert_allclose(train, expected_train, rtol=1e-6)
        np.testing.assert_allclose(evals, expected_eval, rtol=1e-6)


def test_same_function_compiles_once():
    data = dd.Identity(factor_sizes=SIZES)
    # Traced twice per compile (the train and the eval features); a second call adds none.
    traced = chex.assert_max_traces(identity, n=2)
    sizes = dict(batch_size=4, num_train=16, num_eval=8, points_per_chunk=4)
    first = beta_vae_score(jax.random.key(4), data, traced, **sizes)
    second = beta_vae_score(jax.random.key(5), data, traced, **sizes)  # no retrace
    assert set(first) == set(second) == {"train_accuracy", "eval_accuracy"}


def test_bad_input_is_refused_before_xla():
    data = dd.Identity(factor_sizes=SIZES)
    with pytest.raises(TypeError, match="typed PRNG key"):
        beta_vae_score(jax.random.PRNGKey(0), data, identity)
    with pytest.raises(TypeError, match="GroundTruthData"):
        factor_vae_score(jax.random.key(0), np.zeros((3, 4)), identity)
    with pytest.raises(ValueError, match="num_train"):
        beta_vae_score(jax.random.key(0), data, identity, num_train=0)
    with pytest.raises(TypeError, match="callable"):
        factor_vae_score(jax.random.key(0), data, "encoder")
    with pytest.raises(ValueError, match="batch_size"):
        factor_vae_score(jax.random.key(0), data, identity, batch_size=1)
    with pytest.raises(ValueError, match="prune_threshold"):
        factor_vae_score(jax.random.key(0), data, identity, prune_threshold=-1.0)
