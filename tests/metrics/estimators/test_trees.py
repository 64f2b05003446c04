"""The trees' quantile binning, against hand-derived edges and bins."""

import jax.numpy as jnp
import numpy as np

from disentax.metrics.estimators import trees


def test_bins_are_quantiles_with_midpoint_edges():
    # Eight evenly spaced values, four bins: edges half-way between the 2nd/3rd, 4th/5th
    # and 6th/7th sorted values; a split after bin b sends x <= edges[b] left.
    x = np.arange(8, dtype=np.float32)[:, None] * np.array([[1.0, -2.0]], np.float32)
    edges = np.asarray(trees.quantile_bin_edges(x, 4))
    np.testing.assert_allclose(edges[:, 0], [1.5, 3.5, 5.5])
    np.testing.assert_allclose(edges[:, 1], [-11.0, -7.0, -3.0])
    bins = np.asarray(trees.apply_bins(x, jnp.asarray(edges)))
    np.testing.assert_array_equal(bins[:, 0], [0, 0, 1, 1, 2, 2, 3, 3])
    np.testing.assert_array_equal(bins[:, 1], [3, 3, 2, 2, 1, 1, 0, 0])
