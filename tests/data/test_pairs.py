"""The pair sampler against the reference's ``simple_dynamics`` distribution.

Known answers from the reference (disentanglement_lib ``methods/weak/train_weak_lib.py``):
the number of re-drawn factors is 1 or ``k_observed`` with probability 1/2 each, where
``k_observed = k`` or, for ``k = -1``, uniform over ``[1, F - 1]``; the re-drawn factors are
distinct and uniform; each is re-drawn uniformly over its values (so it keeps its value
with probability ``1 / size``); the label is one of the re-drawn factors, uniformly.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from disentax import data
from disentax.data import pairs, sampling

SIZES = (2, 3, 4, 5, 6)
F = len(SIZES)
N = 20_000
DATASET = data.Identity(SIZES)


@pytest.fixture(scope="module")
def drawn():
    """Pairs of every k (one jitted program per k), as NumPy."""
    out = {}
    for k in (-1, 1, 3, F):
        p = pairs.sample_pairs(DATASET, jax.random.key(k + 10), N, k=k)
        out[k] = jax.tree.map(np.asarray, p)
    return out


def count_distribution(k):
    """P(number of re-drawn factors = c), c = 0..F, of the reference."""
    ks = {k: 1.0} if k != -1 else {j: 1 / (F - 1) for j in range(1, F)}
    p = np.zeros(F + 1)
    for j, pj in ks.items():
        p[1] += 0.5 * pj
        p[j] += 0.5 * pj
    return p


def within(freq, p, n=N):
    """Frequencies within 5 binomial standard errors of ``p`` (plus a hair)."""
    return np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-9)


@pytest.mark.parametrize("k", [-1, 1, 3, F])
def test_number_of_redrawn_factors_follows_the_reference(drawn, k):
    p = drawn[k]
    counts = p.redrawn.sum(axis=1)
    freq = np.bincount(counts, minlength=F + 1) / N
    assert within(freq, count_distribution(k)), (freq, count_distribution(k))
    if k != -1:
        assert set(np.unique(counts)) <= {1, k}  # k fixed: exactly 1 or k re-drawn


@pytest.mark.parametrize("k", [-1, 1, 3, F])
def test_only_redrawn_factors_differ_and_they_keep_their_value_one_time_in_size(drawn, k):
    p = drawn[k]
    differ = p.factors != p.factors_2
    assert not (differ & ~p.redrawn).any()  # unchanged factors are copied
    assert (differ.sum(axis=1) <= p.redrawn.sum(axis=1)).all()  # fewer when a value repeats
    for f, size in enumerate(SIZES):
        redrawn = p.redrawn[:, f]
        kept = 1 - differ[redrawn, f].mean()
        assert abs(kept - 1 / size) < 5 * np.sqrt(1 / size / redrawn.sum()) + 0.01, (f, kept)
    assert ((p.factors_2 >= 0) & (p.factors_2 < np.array(SIZES))).all()


@pytest.mark.parametrize("k", [-1, 3])
def test_label_is_one_of_the_redrawn_factors_uniformly(drawn, k):
    p = drawn[k]
    rows = np.arange(N)
    assert p.redrawn[rows, p.changed].all()
    # each factor is re-drawn and labelled with the same frequency (symmetry)
    freq = np.bincount(p.changed, minlength=F) / N
    assert within(freq, np.full(F, 1 / F))
    # among pairs that re-drew c factors, the label is each of them with probability 1/c
    many = p.redrawn.sum(axis=1) == 3
    first_redrawn = np.argmax(p.redrawn[many], axis=1)
    share = (p.changed[many] == first_redrawn).mean()
    assert abs(share - 1 / 3) < 5 * np.sqrt(2 / 9 / many.sum())


def test_redrawn_factors_are_uniform_over_factors(drawn):
    freq = drawn[3].redrawn.mean(axis=0)  # each factor is among the re-drawn with equal odds
    p = (0.5 * 1 + 0.5 * 3) / F
    assert within(freq, np.full(F, p))


def test_pair_batch_first_members_are_the_unsupervised_batch_and_shards_agree():
    dataset = data.get("dsprites")
    key = jax.random.key(3)
    batch = jax.jit(lambda s: pairs.pair_batch_for_step(dataset, key, s, 8, k=-1))(5)
    images, _ = sampling.batch_for_step(dataset, key, 5, 8)
    np.testing.assert_array_equal(batch["images"], images)
    for index in range(4):
        shard = pairs.pair_batch_for_step(dataset, key, 5, 8, (index, 4), k=-1)
        for name, value in shard.items():
            np.testing.assert_array_equal(value, batch[name][2 * index : 2 * index + 2])
    # images_2 are the observations of the re-drawn factors
    factors = sampling.sample_factors_for_step(dataset, key, 5, 8)
    step_key = jax.random.fold_in(key, 5)
    p = pairs.redraw_factors(jax.random.fold_in(step_key, 2), factors, dataset.factor_sizes, k=-1)
    np.testing.assert_array_equal(batch["images_2"], dataset.observations(p.factors_2))
    np.testing.assert_array_equal(batch["changed"], p.changed)


def test_takes_key_datasets_give_each_member_its_own_randomness():
    dataset = data.get("synthetic_noise")
    batch = pairs.pair_batch_for_step(dataset, jax.random.key(0), 1, 4, k=1)
    assert not np.array_equal(batch["images"], batch["images_2"])
    half = pairs.pair_batch_for_step(dataset, jax.random.key(0), 1, 4, (1, 2), k=1)
    np.testing.assert_array_equal(half["images_2"], batch["images_2"][2:])


@pytest.mark.parametrize(
    ("k", "error", "match"),
    [
        (0, ValueError, r"k must be -1 .* or in \[1, 5\]"),
        (6, ValueError, r"in \[1, 5\] \(the number of factors\), got 6"),
        (-2, ValueError, "got -2"),
        (2.0, TypeError, "k must be an int"),
        (True, TypeError, "k must be an int"),
    ],
)
def test_bad_k_is_refused(k, error, match):
    with pytest.raises(error, match=match):
        pairs.sample_pairs(DATASET, jax.random.key(0), 4, k=k)
    with pytest.raises(error, match=match):
        pairs.redraw_factors(jax.random.key(0), jnp.zeros((4, F), jnp.int32), SIZES, k=k)


def test_random_k_needs_two_factors_and_a_dataset_needs_factors():
    with pytest.raises(ValueError, match="needs at least 2 factors"):
        pairs.sample_pairs(data.Identity((4,)), jax.random.key(0), 4, k=-1)
    pairs.sample_pairs(data.Identity((4,)), jax.random.key(0), 4, k=1)  # k = 1 = F is fine

    class Images:  # an image collection without ground-truth factors
        observation_shape = (1, 1, 1)

    with pytest.raises(ValueError, match="ground-truth factors"):
        pairs.pair_batch_for_step(Images(), jax.random.key(0), 0, 4, k=1)
