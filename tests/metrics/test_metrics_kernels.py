"""Every metric kernel under ``jax.jit`` + ``jax.vmap`` over a model axis, and no retracing.

Property checked for each kernel: ``jit(vmap(metric))`` over a stack of ``S`` models'
codes equals the eager metric of each model (to float32 rounding), and a second call with
new values of the same shape reuses the trace (``chex.assert_max_traces``) and the
compiled program of the eager path (its jit cache does not grow).
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from disentax import metrics
from disentax.metrics import estimators
from disentax.metrics.information import equal_width_bins
from disentax.metrics.mig import _mig, _mig_sampled
from disentax.metrics.modularity import _explicitness, _modularity
from disentax.metrics.sap import _discrete_scores

N, N_TEST, L, S = 300, 200, 4, 3
SIZES = np.array([3, 4, 5])


def make_stack(seed):
    rng = np.random.default_rng(seed)
    factors = np.stack([rng.integers(0, s, N) for s in SIZES], axis=1).astype(np.int32)
    factors_test = np.stack([rng.integers(0, s, N_TEST) for s in SIZES], axis=1)
    mixing = rng.normal(size=(S, 3, L))
    codes = np.einsum("nf,sfl->snl", factors / SIZES, mixing) + 0.3 * rng.normal(size=(S, N, L))
    codes_test = np.einsum("nf,sfl->snl", factors_test / SIZES, mixing)
    codes_test = codes_test + 0.3 * rng.normal(size=(S, N_TEST, L))
    logvar = np.log(rng.uniform(0.05, 0.5, size=(S, N, L)))
    return (
        codes.astype(np.float32),
        factors,
        codes_test.astype(np.float32),
        factors_test.astype(np.int32),
        logvar.astype(np.float32),
    )


DATA = make_stack(0)
FACTORS, FACTORS_TEST = DATA[1], DATA[3]
KEY = jax.random.key(0)

# name -> (per-model function of (codes, codes_test, logvar), internal jitted kernel)
KERNELS = {
    "mig": (lambda c, ct, lv: metrics.mig(c, FACTORS), _mig),
    "mig_sampled": (
        lambda c, ct, lv: metrics.mig_sampled(KEY, c, lv, FACTORS, num_samples=100),
        _mig_sampled,
    ),
    "modularity": (lambda c, ct, lv: metrics.modularity(c, FACTORS), _modularity),
    "explicitness": (
        lambda c, ct, lv: metrics.explicitness(c, FACTORS, ct, FACTORS_TEST),
        _explicitness,
    ),
    "sap": (lambda c, ct, lv: metrics.sap(c, FACTORS, ct, FACTORS_TEST), _discrete_scores),
    "sap_continuous": (
        lambda c, ct, lv: metrics.sap(c, FACTORS, continuous_factors=True),
        None,
    ),
    "irs": (lambda c, ct, lv: metrics.irs(c, FACTORS), None),
    "unsupervised": (lambda c, ct, lv: metrics.unsupervised_scores(c), None),
    "histogram_mutual_info": (
        lambda c, ct, lv: metrics.discrete_mutual_info(
            metrics.histogram_discretize(c), FACTORS, num_values_a=20
        ),
        equal_width_bins,
    ),
}


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_jit_vmap_matches_eager_and_does_not_retrace(name):
    per_model, internal = KERNELS[name]
    codes, _, codes_test, _, logvar = DATA
    eager = [per_model(codes[s], codes_test[s], logvar[s]) for s in range(S)]
    cache_size = internal._cache_size() if internal is not None else None

    batched = jax.jit(jax.vmap(chex.assert_max_traces(per_model, n=1)))
    result = batched(codes, codes_test, logvar)
    for s in range(S):
        expected = jax.tree.map(np.asarray, eager[s])
        got = jax.tree.map(lambda x, s=s: np.asarray(x)[s], result)
        chex.assert_trees_all_close(got, expected, atol=2e-5, rtol=2e-5)

    # New values, same shapes: no new trace of the jitted/vmapped kernel ...
    other = make_stack(1)
    batched(other[0], other[2], other[4])
    # ... and the eager path reuses its compiled program.
    per_model(other[0][0], other[2][0], other[4][0])
    if internal is not None:
        assert internal._cache_size() == cache_size


def test_udr_and_probes_under_jit():
    codes, _, _, _, logvar = DATA
    kl = np.exp(logvar).mean(1) + 0.1
    udr = jax.jit(chex.assert_max_traces(lambda c, k: metrics.udr(c, k), n=1))
    expected = metrics.udr(codes, kl)
    chex.assert_trees_all_close(udr(codes, kl), expected, atol=1e-5)
    udr(codes + 1.0, kl)
    fit = jax.jit(
        chex.assert_max_traces(
            lambda x, y: estimators.fit_logistic_regression(x, y, num_classes=5), n=1
        )
    )
    params = fit(codes[0], FACTORS[:, 2])
    eager = estimators.fit_logistic_regression(codes[0], FACTORS[:, 2], num_classes=5)
    chex.assert_trees_all_close(
        estimators.predict_logistic_proba(params, codes[0]),
        estimators.predict_logistic_proba(eager, codes[0]),
        atol=1e-5,
    )
    fit(codes[1], FACTORS[:, 2])


def test_metrics_need_static_sizes_under_jit():
    codes, factors, codes_test, factors_test, _ = DATA
    with pytest.raises(ValueError, match="num_classes must be given"):
        jax.jit(metrics.explicitness)(codes[0], factors, codes_test[0], factors_test)
    # Factors traced too: kernels without a static class count need nothing more.
    np.testing.assert_allclose(
        float(jax.jit(metrics.mig)(codes[0], factors)),
        float(metrics.mig(codes[0], factors)),
        atol=1e-6,
    )
    # Value checks are skipped for tracers, shape checks are not.
    with pytest.raises(ValueError, match="rank 2"):
        jax.jit(metrics.mig)(jnp.zeros((2, N, L)), factors)
