"""Helpers shared by the metric tests: synthetic factors, identity codes, the binning oracle.

The identity representation is shared by every room (``tests/conftest.py``).

Most fixtures return a plain function (a factory), so module-scoped data fixtures and the
NumPy oracles of every test file can use it; ``mixed_data`` is the dataset the IRS and
unsupervised tests share.
"""

import numpy as np
import pytest


def _random_factors(rng: np.random.Generator, n: int, sizes) -> np.ndarray:
    return np.stack([rng.integers(0, s, n) for s in sizes], axis=1).astype(np.int32)


def _identity_codes(factors: np.ndarray, num_constant: int) -> np.ndarray:
    constant = np.zeros((factors.shape[0], num_constant))
    return np.hstack([factors, constant]).astype(np.float32)


def _reference_bins(codes: np.ndarray, num_bins: int = 20) -> np.ndarray:
    columns = [
        np.digitize(codes[:, i], np.histogram(codes[:, i], num_bins)[1][:-1]) - 1
        for i in range(codes.shape[1])
    ]
    return np.stack(columns, axis=1)


@pytest.fixture(scope="session")
def random_factors():
    """``(rng, n, sizes) -> [n, F]`` int32: factor ``j`` uniform on ``range(sizes[j])``."""
    return _random_factors


@pytest.fixture(scope="session")
def identity_codes():
    """``(factors, num_constant) -> [N, F + num_constant]`` float32: the identity
    representation (disentanglement_lib's ``IdentityObservationsData``) next to constant
    codes, which carry no information."""
    return _identity_codes


@pytest.fixture(scope="session")
def reference_bins():
    """``(codes, num_bins=20) -> [N, L]`` 0-based bins: disentanglement_lib's
    ``utils._histogram_discretize`` (``np.digitize`` against ``np.histogram``'s edges),
    batch-major."""
    return _reference_bins


@pytest.fixture(scope="session")
def mixed_data():
    """``(codes [2000, 6] float32, factors [2000, 4] int32)``: codes 0-3 follow the factors
    (3, 6, 40, 32 values, the last two more than 20 bins) with noise, code 1 entangled with
    code 0, code 4 noise and code 5 constant and negative."""
    rng = np.random.default_rng(0)
    n = 2000
    sizes = np.array([3, 6, 40, 32])  # more values than bins: merged by the histogram
    factors = _random_factors(rng, n, sizes)
    codes = np.hstack([factors / sizes, rng.normal(size=(n, 2))])
    codes[:, :4] += 0.1 * rng.normal(size=(n, 4))
    codes[:, 1] += 0.5 * codes[:, 0]
    codes[:, 5] = -3.0  # constant and negative: the reference would count -3 active dims
    return codes.astype(np.float32), factors
