"""IRS vs a NumPy float64 oracle.

Oracle: ``reference_irs`` follows disentanglement_lib ``irs.py`` (``_drop_constant_dims``,
``scalable_disentanglement_score`` with ``np.percentile``, the factors binned by its
``_histogram_discretize``) except for the documented active-dimension count.
"""

import numpy as np

from disentax.metrics import irs


def reference_irs(codes, groups, diff_quantile=0.99):
    """IRS of ``codes`` for the histogram-binned factors ``groups``."""
    active = codes.var(axis=0) > 0
    z = codes[:, active]
    max_dev = np.abs(z - z.mean(0)).max(0)
    deviation = np.zeros((z.shape[1], groups.shape[1]))
    for i in range(groups.shape[1]):
        values = np.unique(groups[:, i])
        for v in values:
            member = groups[:, i] == v
            spread = np.abs(z[member] - z[member].mean(0))
            deviation[:, i] += np.percentile(spread, diff_quantile * 100, axis=0)
        deviation[:, i] /= len(values)
    matrix = 1.0 - deviation / max_dev[:, None]
    return np.average(matrix.max(1), weights=max_dev), matrix, int(active.sum())


def test_irs_matches_reference(mixed_data, reference_bins):
    codes, factors = mixed_data
    result = irs(codes, factors)
    expected, matrix, num_active = reference_irs(codes, reference_bins(factors))
    np.testing.assert_allclose(float(result["irs"]), expected, atol=1e-5)
    np.testing.assert_allclose(np.asarray(result["irs_matrix"])[:5], matrix, atol=1e-5)
    assert int(result["num_active_dims"]) == num_active == 5
    expected_q, _, _ = reference_irs(codes, reference_bins(factors), diff_quantile=0.75)
    np.testing.assert_allclose(
        float(irs(codes, factors, diff_quantile=0.75)["irs"]), expected_q, atol=1e-5
    )


def test_irs_quantile_paths_agree_on_tied_codes(mixed_data, reference_bins):
    # Three exact-quantile paths: up to 128 bins an integer sort of fixed-point keys; more
    # bins with a high quantile a top-k, otherwise (0.8: over N/8 points above it) a
    # two-key sort. Coarse codes tie many deviations; small groups exercise the edges.
    codes, factors = mixed_data
    coarse = np.round(codes * 4.0) / 4.0
    for num_bins in (20, 200):
        for q in (0.99, 0.8):
            expected, matrix, _ = reference_irs(coarse, reference_bins(factors, num_bins), q)
            result = irs(coarse, factors, diff_quantile=q, num_bins=num_bins)
            np.testing.assert_allclose(float(result["irs"]), expected, atol=1e-5)
            np.testing.assert_allclose(np.asarray(result["irs_matrix"])[:5], matrix, atol=1e-5)
    small = irs(codes[:40], factors[:40])
    expected, _, _ = reference_irs(codes[:40], reference_bins(factors[:40]))
    np.testing.assert_allclose(float(small["irs"]), expected, atol=1e-5)


def test_irs_properties(mixed_data, identity_codes):
    codes, factors = mixed_data
    identity = identity_codes(factors, 2)
    assert 0.9 <= float(irs(identity, factors)["irs"]) <= 1.0
    rng = np.random.default_rng(1)
    noise = rng.normal(size=codes.shape).astype(np.float32)
    # Gaussian noise: 1 - q99(|z|) / max|z| ~ 1 - 2.6 / 3.7, far below an identity code.
    assert float(irs(noise, factors)["irs"]) < 0.4
    assert float(irs(np.zeros_like(codes), factors)["irs"]) == 0.0
