"""The input checks every metric shares (``disentax.metrics.checks``).

Regression tests of issue #21: float64 input beyond float32's range (item 8).
"""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from disentax import metrics
from disentax.metrics import estimators


@pytest.fixture(scope="module")
def huge():
    """``(codes [300, 3] float64 with one entry of 1e39, factors [300, 2])``."""
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 4, (300, 2)).astype(np.int32)
    codes = np.hstack([factors, rng.normal(size=(300, 1))])
    codes[7, 2] = 1e39  # finite in float64, inf in float32
    return codes, factors


_CALLS = {
    "mig": lambda c, f: metrics.mig(c, f),
    "modularity": lambda c, f: metrics.modularity(c, f),
    "explicitness": lambda c, f: metrics.explicitness(c, f, c, f),
    "sap": lambda c, f: metrics.sap(c, f, c, f),
    "sap_continuous": lambda c, f: metrics.sap(c, f, continuous_factors=True),
    "dci": lambda c, f: metrics.dci(c, f, c, f),
    "dci_lasso": lambda c, f: metrics.dci(c, f, c, f, estimator="lasso"),
    "irs": lambda c, f: metrics.irs(c, f),
    "unsupervised": lambda c, f: metrics.unsupervised_scores(c),
    "histogram_discretize": lambda c, f: metrics.histogram_discretize(c),
    "downstream": lambda c, f: metrics.downstream_task(c, f, c, f, num_train=(10,)),
    "udr": lambda c, f: metrics.udr(np.stack([c, c]), np.ones((2, 3))),
    "gbt": lambda c, f: estimators.gradient_boosted_trees(c, f, c),
    "logistic": lambda c, f: estimators.fit_logistic_regression(c, f[:, 0], num_classes=4),
    "linear": lambda c, f: estimators.fit_linear_regression(c, f[:, 0].astype(float)),
}


@pytest.mark.parametrize("name", sorted(_CALLS))
def test_float64_beyond_float32_range_is_refused(name, huge):
    # The check ran on the float64 values, then the cast to float32 made the entry inf
    # (mig returned 0.562 instead of 0.283).
    codes, factors = huge
    where = r"\(0, 7, 2\)" if name == "udr" else r"\(7, 2\)"  # udr: [models, N, L]
    with pytest.raises(ValueError, match=r"float32's range.*first at index " + where):
        _CALLS[name](codes, factors)


def test_float64_within_float32_range_is_accepted(huge):
    codes, factors = huge
    codes = codes.copy()
    codes[7, 2] = 3e38
    metrics.mig(codes, factors)
    np.testing.assert_allclose(
        float(metrics.mig(codes[:, :2], factors)),
        float(metrics.mig(codes[:, :2].astype(np.float32), factors)),
    )


# Item 15: a factor value of 1e9 made sap try to allocate 9.2 TB and DCI-gbt 7.45 GiB.
_PER_CLASS = {
    "sap": lambda c, f: metrics.sap(c, f, c, f),
    "dci": lambda c, f: metrics.dci(c, f, c, f),
    "explicitness": lambda c, f: metrics.explicitness(c, f, c, f),
    "downstream": lambda c, f: metrics.downstream_task(c, f, c, f, num_train=(10,)),
    "downstream_gbt": lambda c, f: metrics.downstream_task(
        c, f, c, f, num_train=(10,), predictor="gbt"
    ),
    "gbt": lambda c, f: estimators.gradient_boosted_trees(c, f, c),
    "logistic": lambda c, f: estimators.fit_logistic_regression(c, f[:, 1], num_classes=10**9 + 1),
}


@pytest.fixture(scope="module")
def sparse_labels():
    """``(codes [300, 3] float32, factors [300, 2])`` whose factor 1 takes the value 1e9."""
    rng = np.random.default_rng(1)
    factors = rng.integers(0, 4, (300, 2)).astype(np.int32)
    factors[rng.random(300) < 0.5, 1] = 10**9
    codes = np.hstack([factors % 7, rng.normal(size=(300, 1))]).astype(np.float32)
    return codes, factors


@pytest.mark.parametrize("name", sorted(_PER_CLASS))
def test_per_class_kernels_refuse_a_huge_class_count_up_front(name, sparse_labels):
    # Refused before tracing (the check itself takes no time), naming the size and the fix.
    with pytest.raises(
        ValueError, match=r"(need about [\d.]+ TiB|num_classes \* N).*class indices"
    ):
        _PER_CLASS[name](*sparse_labels)


def test_sort_based_kernels_do_not_depend_on_the_label_values(sparse_labels):
    # Counts come from sorts: the values 0..3 and 1e9 behave like their dense ranks.
    codes, factors = sparse_labels
    dense = np.stack([np.unique(col, return_inverse=True)[1] for col in factors.T], 1)
    for fn in (metrics.mig, metrics.modularity):
        np.testing.assert_array_equal(fn(codes, factors), fn(codes, dense.astype(np.int32)))
    np.testing.assert_array_equal(
        metrics.discrete_mutual_info(factors, factors), metrics.discrete_mutual_info(dense, dense)
    )


def _module(name):
    return importlib.import_module(f"disentax.metrics.{name}")


def _temp_bytes(jitted, *args, **static):
    analysis = jitted.lower(*args, **static).compile().memory_analysis()
    if analysis is None:
        pytest.skip("this backend reports no memory analysis")
    return analysis.temp_size_in_bytes


_N, _L, _F = 10**6, 64, 5
_CODES = jax.ShapeDtypeStruct((_N, _L), jnp.float32)
_FACTORS = jax.ShapeDtypeStruct((_N, _F), jnp.int32)
_INPUT_BYTES = _N * _L * 4

# (kernel, its arguments, the bound on its working memory in multiples of the codes' size).
# Before chunking (N = 10**6, L = 64, F = 5, compiled on CPU): mutual_info_score 14.5 GiB
# (61x), modularity/mig 5.2 GiB (20x), pairwise discrete MI 8.0 GiB (31x), IRS 2.4 GiB
# (9x); UDR with 10 models (4x the codes each) 21.5 GiB spearman, 9.5 GiB lasso.
_BOUNDED = {
    "mutual_info_score": (
        lambda: (_module("unsupervised")._jit_mutual_info_score, (_CODES,), dict(num_bins=20)),
        2,
    ),
    "unsupervised_scores": (
        lambda: (_module("unsupervised")._unsupervised_scores, (_CODES,), dict(num_bins=20)),
        2,
    ),
    "modularity": (
        lambda: (_module("modularity")._modularity, (_CODES, _FACTORS), dict(num_bins=20)),
        6,
    ),
    "irs": (
        lambda: (_module("irs")._irs, (_CODES, _FACTORS), dict(num_bins=20, q_num=99, q_den=100)),
        3,
    ),
    "discrete_mutual_info": (
        lambda: (
            _module("information")._pairwise_mutual_info,
            (jax.ShapeDtypeStruct((_N, _L), jnp.int32), _FACTORS),
            {},
        ),
        8,
    ),
    "sap": (
        lambda: (
            _module("sap")._discrete_scores,
            (
                _CODES,
                _FACTORS,
                jax.ShapeDtypeStruct((_N // 2, _L), jnp.float32),
                jax.ShapeDtypeStruct((_N // 2, _F), jnp.int32),
            ),
            dict(num_classes=40, c=0.01, num_steps=30),
        ),
        3,
    ),
}


@pytest.mark.parametrize("name", sorted(_BOUNDED))
def test_working_memory_is_a_few_times_the_codes(name):
    make, bound = _BOUNDED[name]
    jitted, args, static = make()
    assert _temp_bytes(jitted, *args, **static) < bound * _INPUT_BYTES


@pytest.mark.parametrize("correlation", ["lasso", "spearman"])
def test_udr_memory_grows_with_the_models_not_their_pairs(correlation):
    num_models = 10
    codes = jax.ShapeDtypeStruct((num_models, _N // 10, _L), jnp.float32)
    kl = jax.ShapeDtypeStruct((num_models, _L), jnp.float32)
    scalar = jax.ShapeDtypeStruct((), jnp.float32)
    static = dict(correlation=correlation, filter_low_kl=True, num_sweeps=300)
    temp = _temp_bytes(_module("udr")._udr, codes, kl, scalar, scalar, **static)
    assert temp < 4 * num_models * (_N // 10) * _L * 4
