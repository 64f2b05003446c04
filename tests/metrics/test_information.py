"""Histogram discretisation, discrete entropy and mutual information vs NumPy/scikit-learn.

Oracles: ``np.digitize(x, np.histogram(x, bins)[1][:-1])`` (disentanglement_lib
``_histogram_discretize``; the ``reference_bins`` fixture) and
``sklearn.metrics.mutual_info_score`` (its ``discrete_mutual_info`` /
``discrete_entropy``), evaluated column by column.
"""

import jax
import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from disentax.metrics import discrete_entropy, discrete_mutual_info, histogram_discretize


def reference_mutual_info(a, b):
    return np.array(
        [
            [mutual_info_score(b[:, j], a[:, i]) for j in range(b.shape[1])]
            for i in range(a.shape[1])
        ]
    )


@pytest.fixture(scope="module")
def arrays(random_factors):
    rng = np.random.default_rng(0)
    n = 3000
    factors = random_factors(rng, n, (3, 6, 40, 2))
    codes = rng.normal(size=(n, 5)).astype(np.float32)
    codes[:, :4] += factors / np.array([3, 6, 40, 2])
    return codes, factors


def test_histogram_discretize_matches_numpy_on_continuous_and_grid_data(arrays, reference_bins):
    codes, factors = arrays
    rng = np.random.default_rng(1)
    grids = [
        codes,
        factors.astype(np.float32),  # integer values sit exactly on some edges
        np.round(rng.uniform(-1, 1, size=(500, 4)), 1).astype(np.float32),
        (rng.integers(0, 7, size=(500, 3)) * 0.25 - 3.0).astype(np.float32),
    ]
    for data in grids:
        for num_bins in (20, 7):
            ours = np.asarray(histogram_discretize(data, num_bins=num_bins))
            np.testing.assert_array_equal(ours, reference_bins(data, num_bins))
            assert ours.dtype == np.int32


def test_histogram_discretize_constant_column_and_extremes(reference_bins):
    data = np.stack([np.full(30, 2.5), np.linspace(-1, 1, 30)], axis=1).astype(np.float32)
    ours = np.asarray(histogram_discretize(data, num_bins=20))
    np.testing.assert_array_equal(ours, reference_bins(data, 20))
    assert (ours[:, 0] == 10).all()  # np.histogram widens a constant range by +-0.5
    assert ours[:, 1].min() == 0 and ours[:, 1].max() == 19  # the max is in the last bin


def test_discrete_entropy_and_mutual_info_match_sklearn(arrays, reference_bins):
    codes, factors = arrays
    bins = reference_bins(codes).astype(np.int32)
    expected = reference_mutual_info(bins, factors)
    fast = np.asarray(discrete_mutual_info(bins, factors, num_values_a=20))
    generic = np.asarray(discrete_mutual_info(bins, factors))
    np.testing.assert_allclose(fast, expected, atol=2e-5)
    np.testing.assert_allclose(generic, expected, atol=2e-5)
    entropy = [mutual_info_score(factors[:, j], factors[:, j]) for j in range(factors.shape[1])]
    np.testing.assert_allclose(np.asarray(discrete_entropy(factors)), entropy, atol=2e-5)
    # Uniform on k values: entropy close to log k (closed form), in nats.
    np.testing.assert_allclose(
        np.asarray(discrete_entropy(factors))[[0, 3]], np.log([3, 2]), atol=2e-3
    )


def test_mutual_info_of_a_variable_with_itself_is_its_entropy(arrays):
    _, factors = arrays
    mi = np.asarray(discrete_mutual_info(factors, factors))
    np.testing.assert_allclose(np.diag(mi), np.asarray(discrete_entropy(factors)), atol=1e-5)


def test_large_sparse_label_values_need_no_static_bound():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 4, size=(400, 2)).astype(np.int32)
    b = (a * 1_000_003 + rng.integers(0, 2, size=(400, 2))).astype(np.int32)
    np.testing.assert_allclose(
        np.asarray(discrete_mutual_info(a, b)), reference_mutual_info(a, b), atol=2e-5
    )


def test_jit_matches_eager(arrays, reference_bins):
    codes, factors = arrays
    bins = reference_bins(codes).astype(np.int32)
    jitted = jax.jit(lambda a, b: discrete_mutual_info(a, b, num_values_a=20))
    np.testing.assert_allclose(
        np.asarray(jitted(bins, factors)),
        np.asarray(discrete_mutual_info(bins, factors, num_values_a=20)),
        atol=1e-6,
    )
    np.testing.assert_array_equal(
        np.asarray(jax.jit(histogram_discretize)(codes)), reference_bins(codes)
    )


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: histogram_discretize(np.zeros((5, 2, 2), np.float32)), ValueError, "rank 2"),
        (lambda: histogram_discretize(np.zeros((2, 3, 4), np.float32)), ValueError, "vmap"),
        (lambda: histogram_discretize(np.array([[np.nan, 1.0]] * 30)), ValueError, "finite"),
        (lambda: histogram_discretize(np.zeros((10, 2)), num_bins=20), ValueError, "num_bins"),
        (lambda: histogram_discretize(np.zeros((30, 2)), num_bins=0), ValueError, "num_bins"),
        (lambda: discrete_entropy(np.zeros((10, 2), np.float32)), TypeError, "integer"),
        (lambda: discrete_entropy(-np.ones((10, 2), np.int32)), ValueError, "non-negative"),
        (
            lambda: discrete_mutual_info(np.zeros((10, 2), np.int32), np.zeros((9, 2), np.int32)),
            ValueError,
            "same number of points",
        ),
        (
            lambda: discrete_mutual_info(
                np.full((30, 1), 25, np.int32), np.zeros((30, 1), np.int32), num_values_a=20
            ),
            ValueError,
            "num_values_a",
        ),
    ],
)
def test_bad_input_is_refused_before_xla(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_sort_and_segment_forms_of_binned_mutual_info_agree():
    # The int32-key sort form (default) and the segment-sum form (used when the pair keys
    # would overflow int32) compute the same mutual information, on sparse large labels too.
    from disentax.metrics import information

    rng = np.random.default_rng(7)
    bins = rng.integers(0, 12, (500, 4)).astype(np.int32)
    labels = np.stack(
        [rng.integers(0, 5, 500), rng.choice([3, 10**6, 2**30], 500), bins[:, 0] // 2], axis=1
    ).astype(np.int32)
    fast = information.binned_mutual_info(bins, labels, num_bins=12)
    slow = information.binned_mutual_info_segments(bins, labels, num_bins=12)
    np.testing.assert_allclose(fast, slow, atol=2e-6)
    expected = [[mutual_info_score(b, lab) for lab in labels.T] for b in bins.T]
    np.testing.assert_allclose(fast, expected, atol=2e-5)
