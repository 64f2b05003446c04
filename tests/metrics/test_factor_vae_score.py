"""FactorVAE score: reference properties, a NumPy vote oracle, bad input.

Provenance:
* disentanglement_lib ``evaluation/metrics/factor_vae_test.py`` scores the identity
  representation of ``IdentityObservationsData`` between 0.9 and 1 and a representation
  independent of the factors near chance; the same properties are checked here on
  ``Identity`` / ``Noise`` data (4 factors: chance 1/4).
* the majority-vote classifier is checked against a NumPy transcription of the
  reference's ``_compute_variances`` / ``argmax`` / ``votes[classifier, range]`` lines.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import disentax.data as dd
from disentax.metrics import factor_vae_score
from disentax.metrics.factor_vae_score import factor_vae_votes

SIZES = (5, 6, 7, 8)
SMALL = dict(batch_size=16, num_train=300, num_eval=200, points_per_chunk=8)


def identity_with_dead_codes(images):
    # Four informative codes, two constant ones and two of tiny spread (std 0.004 <
    # prune_threshold 0.05): 4 active codes out of 8.
    x = images.reshape(images.shape[0], -1)
    return jnp.concatenate([x, jnp.zeros_like(x[:, :2]), 0.01 * x[:, :2]], axis=1)


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


def test_factor_vae_noise_is_near_chance_and_no_active_code_scores_zero(identity_representation):
    noise = dd.Noise(factor_sizes=SIZES)
    scores = factor_vae_score(
        jax.random.key(3), noise, identity_representation, num_variance_estimate=500, **SMALL
    )
    assert float(scores["eval_accuracy"]) < 0.45
    dead = factor_vae_score(
        jax.random.key(3),
        noise,
        identity_representation,
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


def test_bad_input_is_refused_before_xla(identity_representation):
    data = dd.Identity(factor_sizes=SIZES)
    with pytest.raises(TypeError, match="GroundTruthData"):
        factor_vae_score(jax.random.key(0), np.zeros((3, 4)), identity_representation)
    with pytest.raises(TypeError, match="callable"):
        factor_vae_score(jax.random.key(0), data, "encoder")
    with pytest.raises(ValueError, match="batch_size"):
        factor_vae_score(jax.random.key(0), data, identity_representation, batch_size=1)
    with pytest.raises(ValueError, match="prune_threshold"):
        factor_vae_score(jax.random.key(0), data, identity_representation, prune_threshold=-1.0)
