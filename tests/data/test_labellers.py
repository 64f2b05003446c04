"""Labellers (perfect, binned, noisy, permuted, partial) and the labelled subset/batch.

Oracles: disentanglement_lib's ``semi_supervised_utils.py`` semantics written in NumPy (the
binned labeller's ``min(v // (size / num_bins), num_bins - 1)`` and its test values),
binomial spreads for the noisy labeller, bijection and uniformity checks for the permuted
one, and plain modular arithmetic for the cycling labelled rows.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from disentax.data import Identity, Noise, sampling
from disentax.data.labelled import (
    check_labelled_options,
    labelled_batch,
    labelled_rows,
    labelled_subset,
    num_train_labels,
)
from disentax.data.labellers import check_labeller, label

SIZES = (3, 6, 40, 32, 32)  # dSprites' factor sizes


def grid_factors(sizes, num, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, s, num) for s in sizes], axis=1).astype(np.int32)


def jit_label(labeller, sizes, **options):
    return jax.jit(lambda key, f: label(key, f, sizes, labeller, **options))


def test_perfect_is_the_identity():
    factors = grid_factors(SIZES, 50)
    labels, sizes = jit_label("perfect", SIZES)(jax.random.key(0), factors)
    np.testing.assert_array_equal(labels, factors)
    assert sizes.tolist() == list(SIZES)


@pytest.mark.parametrize(
    "num_bins, expected",  # the reference's test: 10 factors of 5 values, v = 0..4
    [(10, [0, 1, 2, 3, 4]), (5, [0, 1, 2, 3, 4]), (3, [0, 0, 1, 1, 2]), (2, [0, 0, 0, 1, 1])],
)
def test_binned_reference_values(num_bins, expected):
    factors = np.tile(np.arange(5, dtype=np.int32), (10, 1)).T  # [5, 10]
    labels, sizes = jit_label("binned", (5,) * 10, num_bins=num_bins)(jax.random.key(0), factors)
    np.testing.assert_array_equal(labels[:, 0], expected)
    assert sizes.tolist() == [min(5, num_bins)] * 10


@pytest.mark.parametrize("num_bins", [2, 5, 7])
def test_binned_matches_the_reference_formula_on_every_value(num_bins):
    sizes = (3, 6, 40, 32, 10, 15, 183)
    width = max(sizes)
    factors = np.stack([np.arange(width) % s for s in sizes], axis=1).astype(np.int32)
    labels, label_sizes = jit_label("binned", sizes, num_bins=num_bins)(jax.random.key(0), factors)
    for f, size in enumerate(sizes):
        v = factors[:, f].astype(np.float32)
        expected = v if size <= num_bins else np.minimum(v // (size / num_bins), num_bins - 1)
        np.testing.assert_array_equal(labels[:, f], expected, err_msg=f"size {size}")
        assert np.bincount(labels[:, f]).size <= num_bins  # at most num_bins classes
    assert label_sizes.tolist() == [min(s, num_bins) for s in sizes]


def test_binned_is_exact_at_bin_edges():
    # 8 values in 6 bins of width 4/3: value 4 is the edge 3 * 4/3. The reference's float
    # floor-division puts it in bin 2; the integer form puts it in bin 3 (4 * 6 // 8).
    labels, _ = jit_label("binned", (8,), num_bins=6)(jax.random.key(0), np.arange(8)[:, None])
    assert labels[:, 0].tolist() == [0, 0, 1, 2, 3, 3, 4, 5]


def test_noisy_changes_entries_at_the_binomial_rate():
    num, p = 4000, 0.1
    sizes = (2, 5, 40)
    factors = grid_factors(sizes, num, seed=1)
    labels, out_sizes = jit_label("noisy", sizes, prob_random=p)(jax.random.key(5), factors)
    assert out_sizes.tolist() == list(sizes)
    for f, size in enumerate(sizes):
        changed = int(np.sum(np.asarray(labels[:, f]) != factors[:, f]))
        q = p * (1 - 1 / size)  # re-drawn and landing on another value
        spread = 5 * math.sqrt(num * q * (1 - q))
        assert abs(changed - num * q) < spread, (size, changed, num * q)
        assert 0 <= labels[:, f].min() and labels[:, f].max() < size


def test_noisy_extremes():
    factors = grid_factors((4, 7), 2000, seed=2)
    same, _ = jit_label("noisy", (4, 7), prob_random=0.0)(jax.random.key(0), factors)
    np.testing.assert_array_equal(same, factors)
    # prob_random = 1: every entry uniform, whatever the factor; 5 binomial sigmas per count.
    noise, _ = jit_label("noisy", (4, 7), prob_random=1.0)(
        jax.random.key(1), np.zeros_like(factors)
    )
    for f, size in enumerate((4, 7)):
        counts = np.bincount(noise[:, f], minlength=size)
        spread = 5 * math.sqrt(2000 / size * (1 - 1 / size))
        assert np.all(np.abs(counts - 2000 / size) < spread), counts


def test_permuted_is_a_bijection_per_factor():
    sizes = (3, 6, 40)
    values = np.stack([np.arange(40) % s for s in sizes], axis=1).astype(np.int32)
    labels, out_sizes = jit_label("permuted", sizes)(jax.random.key(2), values)
    assert out_sizes.tolist() == list(sizes)
    for f, size in enumerate(sizes):
        mapping = {}
        for v, lab in zip(values[:, f].tolist(), np.asarray(labels[:, f]).tolist(), strict=True):
            assert mapping.setdefault(v, lab) == lab  # one label per value
        assert sorted(mapping.values()) == list(range(size))  # onto 0..size-1: a bijection


def test_permuted_draws_every_permutation_uniformly():
    values = np.arange(3, dtype=np.int32)[:, None]
    keys = jax.random.split(jax.random.key(7), 1200)
    perms = jax.vmap(lambda k: label(k, values, (3,), "permuted")[0][:, 0])(keys)
    codes = np.asarray(perms) @ np.array([9, 3, 1])
    counts = np.array([np.sum(codes == c) for c in np.unique(codes)])
    assert len(counts) == 6  # all 3! permutations occur
    spread = 5 * math.sqrt(1200 / 6 * (1 - 1 / 6))
    assert np.all(np.abs(counts - 200) < spread), counts


def test_partial_keeps_distinct_random_columns():
    factors = grid_factors(SIZES, 30, seed=3)
    seen = set()
    for seed in range(6):
        labels, sizes = jit_label("partial", SIZES, num_observed_factors=3)(
            jax.random.key(seed), factors
        )
        assert labels.shape == (30, 3)
        kept = [
            next(f for f in range(5) if np.array_equal(labels[:, j], factors[:, f]))
            for j in range(3)
        ]
        assert len(set(kept)) == 3 and sizes.tolist() == [SIZES[f] for f in kept]
        seen.add(tuple(kept))
    assert len(seen) > 1  # the observed factors depend on the key


def test_bad_labeller_input():
    with pytest.raises(ValueError, match="labeller must be one of"):
        check_labeller("oracle", SIZES)
    with pytest.raises(ValueError, match=r"num_observed_factors must be in \[1, 5\]"):
        check_labeller("partial", SIZES, num_observed_factors=6)
    with pytest.raises(ValueError, match="num_observed_factors must be a positive int"):
        check_labeller("partial", SIZES, num_observed_factors=0)
    with pytest.raises(ValueError, match="prob_random must be a probability"):
        check_labeller("noisy", SIZES, prob_random=1.5)
    with pytest.raises(ValueError, match="num_bins must be a positive int"):
        check_labeller("binned", SIZES, num_bins=0)
    with pytest.raises(ValueError, match=r"factors must have shape \[n, 5\]"):
        label(jax.random.key(0), np.zeros((3, 2), np.int32), SIZES)


# --------------------------------------------------------------- the labelled subset


def test_subset_size_checks_before_compiling():
    dataset = Identity((3, 5))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="num_labels must be a positive int"):
            check_labelled_options(dataset, num_labels=bad)
    with pytest.raises(ValueError, match="at most the dataset's 15 grid points"):
        check_labelled_options(dataset, num_labels=16)
    with pytest.raises(ValueError, match=r"train_fraction must be in \(0, 1\]"):
        check_labelled_options(dataset, num_labels=3, train_fraction=0.0)
    with pytest.raises(ValueError, match="unknown labelled-batch options"):
        check_labelled_options(dataset, num_label=3)
    with pytest.raises(ValueError, match="labeller must be one of"):
        check_labelled_options(dataset, num_labels=3, labeller="human")
    with pytest.raises(ValueError, match="needs a dataset with ground-truth factors"):
        check_labelled_options(object(), num_labels=3)


def test_subset_is_distinct_fixed_by_the_key_and_labelled():
    dataset = Identity((4, 6, 5))
    subset_fn = jax.jit(lambda key: labelled_subset(dataset, key, num_labels=100, labeller="noisy"))
    a, again, other = (
        subset_fn(jax.random.key(0)),
        subset_fn(jax.random.key(0)),
        subset_fn(jax.random.key(1)),
    )
    flat = np.asarray(a.factors) @ np.array([30, 5, 1])
    assert len(set(flat.tolist())) == 100 and flat.max() < 120  # distinct grid points
    np.testing.assert_array_equal(a.factors, again.factors)
    np.testing.assert_array_equal(a.labels, again.labels)
    assert not np.array_equal(a.factors, other.factors)
    assert not np.array_equal(a.labels, a.factors)  # noisy: some entries re-drawn
    # All 120 points of the grid: every point exactly once.
    full = labelled_subset(dataset, jax.random.key(0), num_labels=120).factors
    assert sorted((np.asarray(full) @ np.array([30, 5, 1])).tolist()) == list(range(120))


def test_labelled_rows_cycle_without_overflow():
    for step, batch, num in [(0, 4, 6), (1, 4, 6), (7, 64, 90), (2**30, 4096, 999_983)]:
        expected = [(step * batch + i) % num for i in range(batch)]
        assert jax.jit(labelled_rows, static_argnums=(1, 2))(step, batch, num).tolist() == expected
    assert num_train_labels(100, 0.9) == 90 and num_train_labels(1000, 1.0) == 1000


def test_labelled_batch_entries_and_shards():
    dataset, key = Noise((3, 5, 4)), jax.random.key(3)  # takes_key: images have own noise
    options = {"num_labels": 20, "train_fraction": 0.5, "labeller": "binned", "num_bins": 2}
    rows = np.array([(3 * 8 + i) % 10 for i in range(8)])  # the first ceil(20 * 0.5) rows cycle

    @jax.jit
    def everything(step):  # one program: the batch, its four shards and what they must equal
        subset = labelled_subset(dataset, key, **options)
        expected = {
            "images": sampling.batch_for_step(dataset, key, step, 8)[0],
            "labelled_images": dataset.observations(
                subset.factors[rows], key=subset.row_keys[rows]
            ),
            "labels": subset.labels[rows],
        }
        shards = [labelled_batch(dataset, key, step, 8, shard=(i, 4), **options) for i in range(4)]
        return labelled_batch(dataset, key, step, 8, **options), expected, shards

    whole, expected, shards = everything(3)
    for name, value in expected.items():
        np.testing.assert_allclose(whole[name], value, rtol=1e-6, err_msg=name)
    np.testing.assert_array_equal(whole["label_sizes"], np.tile([2, 2, 2], (8, 1)))
    for name, value in whole.items():
        joined = jnp.concatenate([shard[name] for shard in shards])
        np.testing.assert_allclose(joined, value, rtol=1e-6, err_msg=name)


@pytest.mark.slow  # 8 simulated devices: one program per shard layout
def test_the_train_step_samples_the_same_labelled_batch_as_the_host():
    from disentax import parallel
    from disentax.train.step_sampling import host_batch, sample_batch

    dataset, key = Identity((3, 5, 4)), jax.random.key(4)
    options = {"num_labels": 12, "labeller": "permuted"}
    sharding = parallel.data_sharding(parallel.make_mesh(8))  # 8 simulated devices
    host = host_batch("labelled", dataset, key, 5, 16, sharding, **options)
    inside = jax.jit(lambda s: labelled_batch(dataset, key, s, 16, **options))(5)
    assert sorted(host) == sorted(inside)
    for name, value in inside.items():
        np.testing.assert_array_equal(np.asarray(host[name]), value, err_msg=name)
    with pytest.raises(ValueError, match="num_labels must be at most"):
        host_batch("labelled", dataset, key, 0, 16, sharding, num_labels=61)
    state_key = jax.random.key(0)
    assert sorted(sample_batch("labelled", options, dataset, state_key, 0, 8)) == sorted(host)
