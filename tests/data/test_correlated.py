"""The correlated sampler (Träuble et al. 2021) against its target distribution.

Oracle: the joint of a pair, written here in NumPy from the paper's formula
``p(c1, c2) ∝ exp(−(c1 − α c2)² / 2σ²)`` on factor values normalised to [0, 1]; the
empirical joint of a fixed-seed draw is compared with it by a χ² test.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from disentax import data
from disentax.data import Correlated, DSprites, Identity, correlate, parse_correlations

SIZES = (4, 5, 3)


def target_joint(k1, k2, alpha, sigma):
    c1 = np.arange(k1) / (k1 - 1)
    c2 = np.arange(k2) / (k2 - 1)
    p = np.exp(-((c1[:, None] - alpha * c2[None, :]) ** 2) / (2 * sigma**2))
    return p / p.sum()


@pytest.mark.parametrize("alpha, sigma", [(1.0, 0.3), (-0.5, 0.4), (2.0, 1.0)])
def test_empirical_joint_matches_target_chi2(alpha, sigma):
    dataset = correlate(Identity(SIZES), [("factor_0", "factor_1", alpha, sigma)])
    n = 20000
    factors = np.asarray(jax.jit(dataset.sample_factors, static_argnums=1)(jax.random.key(3), n))
    counts = np.zeros((4, 5))
    np.add.at(counts, (factors[:, 0], factors[:, 1]), 1)
    expected = target_joint(4, 5, alpha, sigma) * n
    keep = expected > 5  # the χ² approximation needs expected counts above ~5
    observed = counts[keep]
    _, p_value = stats.chisquare(observed, expected[keep] * observed.sum() / expected[keep].sum())
    assert p_value > 1e-3, p_value
    assert counts[~keep].sum() <= max(10, 2 * expected[~keep].sum())
    np.testing.assert_allclose(dataset.joint(), target_joint(4, 5, alpha, sigma), atol=1e-6)
    # the third factor stays uniform and independent of the pair
    third = np.bincount(factors[:, 2], minlength=3)
    assert stats.chisquare(third).pvalue > 1e-3
    table = np.zeros((4, 3))
    np.add.at(table, (factors[:, 0], factors[:, 2]), 1)
    assert stats.chi2_contingency(table).pvalue > 1e-3


def test_two_pairs_each_follow_their_joint():
    dataset = correlate(Identity((3, 3, 4, 4)), [(0, 1, 1.0, 0.2), (3, 2, -1.0, 0.5)])
    factors = np.asarray(dataset.sample_factors(jax.random.key(0), 20000))
    for (a, b), alpha, sigma, (ka, kb) in (((0, 1), 1.0, 0.2, (3, 3)), ((3, 2), -1.0, 0.5, (4, 4))):
        counts = np.zeros((ka, kb))
        np.add.at(counts, (factors[:, a], factors[:, b]), 1)
        expected = target_joint(ka, kb, alpha, sigma) * len(factors)
        keep = expected > 5
        assert (
            stats.chisquare(
                counts[keep], expected[keep] * counts[keep].sum() / expected[keep].sum()
            ).pvalue
            > 1e-3
        )
    table = np.zeros((9, 16))  # the pairs are independent of each other
    np.add.at(table, (factors[:, 0] * 3 + factors[:, 1], factors[:, 2] * 4 + factors[:, 3]), 1)
    table = table[table.sum(1) > 0][:, table.sum(0) > 0]
    assert stats.chi2_contingency(table).pvalue > 1e-3


def test_sigma_inf_is_the_original_sampler_draw_for_draw():
    base = DSprites()
    dataset = correlate(base, [("posX", "posY", 1.0, float("inf"))])
    key = jax.random.key(11)
    np.testing.assert_array_equal(dataset.sample_factors(key, 64), base.sample_factors(key, 64))
    assert dataset.describe() == {"distribution": "independent", "pairs": []}


def test_jittable_pytree_and_no_retrace():
    dataset = correlate(DSprites(), [("posX", "posY", 1.0, 0.2)])
    assert jax.tree_util.tree_leaves(dataset) == []  # procedural: still no leaves

    @jax.jit
    @chex.assert_max_traces(n=1)
    def batch(ds, key):
        factors = ds.sample_factors(key, 8)
        return ds.observations(factors), factors

    images, factors = batch(dataset, jax.random.key(0))
    assert images.shape == (8, 64, 64, 1) and factors.dtype == jnp.int32
    batch(dataset, jax.random.key(1))
    rebuilt = jax.tree_util.tree_unflatten(*reversed(jax.tree_util.tree_flatten(dataset)))
    assert isinstance(rebuilt, Correlated) and rebuilt.pairs == dataset.pairs
    # the attributes of the wrapped dataset pass through
    assert dataset.factor_names == base_names() and dataset.name == "dsprites"
    assert dataset.factor_values is DSprites().factor_values


def base_names():
    return DSprites().factor_names


def test_array_backed_dataset_keeps_its_leaf():
    grid = data.FactorSpace((2, 3), ("a", "b"))
    images = jnp.arange(6, dtype=jnp.uint8).reshape(6, 1, 1, 1)
    dataset = correlate(data.ArrayData("toy", images, grid, (1, 1, 1)), [("a", "b", 1.0, 0.3)])
    assert len(jax.tree_util.tree_leaves(dataset)) == 1
    factors = jax.jit(lambda ds, k: ds.sample_factors(k, 5))(dataset, jax.random.key(0))
    assert factors.shape == (5, 2)


@pytest.mark.parametrize(
    "pair, message",
    [
        (("posX", "size", 1.0, 0.2), "lacks"),
        (("posX", 7, 1.0, 0.2), "index in"),
        (("posX", "posX", 1.0, 0.2), "twice"),
        (("posX", 3, 1.0, 0.2), "twice"),
        (("posX", "posY", 1.0, 0.0), "sigma must be > 0"),
        (("posX", "posY", 1.0, -1.0), "sigma must be > 0"),
        (("posX", "posY", 1.0, float("nan")), "sigma must be > 0"),
        (("posX", "posY", float("inf"), 0.2), "alpha must be a finite"),
        (("posX", "posY", float("nan"), 0.2), "alpha must be a finite"),
        (("posX", "posY", 1.0), "must be \\(factor, factor, alpha, sigma\\)"),
    ],
)
def test_bad_pairs_are_refused(pair, message):
    with pytest.raises(ValueError, match=message):
        correlate(DSprites(), [pair])


def test_overlapping_pairs_and_bad_types_are_refused():
    with pytest.raises(ValueError, match="disjoint"):
        correlate(DSprites(), [("posX", "posY", 1.0, 0.2), ("scale", "posY", 1.0, 0.2)])
    with pytest.raises(TypeError, match="alpha must be a number"):
        correlate(DSprites(), [("posX", "posY", "steep", 0.2)])
    with pytest.raises(TypeError, match="GroundTruthData"):
        correlate(object(), [])


def test_parse_correlations():
    assert parse_correlations("") == []
    assert parse_correlations("posX,posY,1,0.2") == [("posX", "posY", 1.0, 0.2)]
    with pytest.raises(ValueError, match="factorA,factorB,alpha,sigma"):
        parse_correlations("posX,posY,1")
    with pytest.raises(ValueError, match="must be numbers"):
        parse_correlations("posX,posY,one,0.2")
