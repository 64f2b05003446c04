"""What every entry of the metric table must do; a new entry gets these tests for free.

Parametrised over :data:`disentax.evaluation.METRICS` (each entry calls its ``score`` as
its ``kind`` says, on the representations built here):

* outputs: every key ``score`` returns is one it documents (``keys`` or ``matrices``),
  every documented key is returned, the headline is there, every value is finite and the
  matrices are ``[L, F]``;
* ``jax.jit(jax.vmap(score))`` over a stack of ``S`` models' representations equals the
  eager score of each model (to float32 rounding); a second call with new values of the
  same shape does not retrace (``chex.assert_max_traces``), and a second eager call
  compiles nothing (no ``/jax/core/compile/`` event from ``jax.monitoring``);
* promises: the headline score of the identity representation (codes = factors) lies in
  the entry's ``identity`` bounds, that of noise codes in its ``noise`` bounds, where the
  entry declares them.

Kernels outside the table (``sap`` on continuous factors, the histogram mutual
information of ``mig``, UDR, the probes) are enrolled by hand at the end.
"""

import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import disentax.data as dd
from disentax import metrics
from disentax.evaluation import KINDS, METRICS
from disentax.metrics import estimators

N, N_TEST, N_POSTERIOR, L, S = 300, 200, 1000, 3, 2
SIZES = (3, 4, 5)  # F = L: the identity representation has the models' shapes
KEY = jax.random.key(0)
DATASET = dd.Identity(factor_sizes=SIZES)
# Small interventional sizes; the identity still scores ~1 with them.
INTERVENTIONAL = {"batch_size": 16, "num_train": 300, "num_eval": 100, "num_variance_estimate": 300}


def _factors(rng, n):
    return np.stack([rng.integers(0, s, n) for s in SIZES], axis=1).astype(np.int32)


_RNG = np.random.default_rng(0)
FACTORS, FACTORS_TEST, FACTORS_POSTERIOR = (_factors(_RNG, n) for n in (N, N_TEST, N_POSTERIOR))


def _linear(weights, images):
    """A representation of the synthetic dataset: ``flat images @ weights [F, L]``."""
    return images.reshape(images.shape[0], -1) @ weights


def _hashed_noise(weights, images):
    """Codes that vary with the image but carry no usable information on any factor."""
    return jnp.sin(1e3 * _linear(weights, images))


def _mixed(rng, factors, mixing):
    codes = np.einsum("nf,...fl->...nl", factors / np.asarray(SIZES), mixing)
    return (codes + 0.3 * rng.normal(size=codes.shape)).astype(np.float32)


def models(kind, seed):
    """``S`` models' representations of ``kind``, stacked on a leading axis."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(S, len(SIZES), L))
    if kind == "codes":
        return _mixed(rng, FACTORS, mixing), _mixed(rng, FACTORS_TEST, mixing)
    if kind == "posterior":
        logvar = np.log(rng.uniform(0.05, 0.5, size=(S, N_POSTERIOR, L)))
        return _mixed(rng, FACTORS_POSTERIOR, mixing), logvar.astype(np.float32)
    return jax.tree_util.Partial(_linear, jnp.asarray(mixing, jnp.float32))


def identity(kind):
    """The perfectly disentangled representation of ``kind``: codes = factors."""
    if kind == "codes":
        return FACTORS.astype(np.float32), FACTORS_TEST.astype(np.float32)
    if kind == "posterior":
        return FACTORS_POSTERIOR.astype(np.float32), np.full((N_POSTERIOR, L), -9.0, np.float32)
    return jax.tree_util.Partial(_linear, jnp.eye(len(SIZES)))


def noise(kind):
    """A representation of ``kind`` independent of the factors."""
    rng = np.random.default_rng(7)
    if kind == "codes":
        return tuple(rng.normal(size=(n, L)).astype(np.float32) for n in (N, N_TEST))
    if kind == "posterior":
        mean = rng.normal(size=(N_POSTERIOR, L)).astype(np.float32)
        return mean, np.zeros_like(mean)
    weights = rng.normal(size=(len(SIZES), L)).astype(np.float32)
    return jax.tree_util.Partial(_hashed_noise, jnp.asarray(weights))


def score(name, representation):
    """The outputs of entry ``name`` for one model's representation (as its kind says)."""
    entry = METRICS[name]
    if entry.kind == "codes":
        codes, codes_test = representation
        return entry.score(codes, FACTORS, codes_test, FACTORS_TEST, num_classes=SIZES)
    if entry.kind == "posterior":
        mean, logvar = representation
        return entry.score(KEY, mean, logvar, FACTORS_POSTERIOR)
    return entry.score(KEY, DATASET, representation, **INTERVENTIONAL)


def test_every_kind_has_representations_here():
    # A new kind needs its representations in models/identity/noise/score above.
    assert set(KINDS) == {"codes", "posterior", "interventional"}


def test_own_point_keys_are_distinct():
    # The shared sets use the evaluation key folded with 1 and 2; the metrics that draw
    # their own points must not reuse a fold (their points would coincide).
    folds = [1, 2]
    for entry in METRICS.values():
        if entry.fold is not None:
            folds += [entry.fold, entry.fold + 1] if entry.kind == "posterior" else [entry.fold]
    assert len(folds) == len(set(folds)), folds


@pytest.mark.parametrize("name", list(METRICS))
def test_outputs_are_documented_and_finite(name):
    entry = METRICS[name]
    out = score(name, jax.tree.map(lambda a: a[0], models(entry.kind, 0)))
    matrices = {k for k in out if k in entry.matrices}
    scores = {k for k in out if k not in entry.matrices}
    assert matrices == set(entry.matrices)
    assert all(entry.documents(k) for k in scores), sorted(scores)
    for documented in entry.keys:
        pattern = re.escape(documented).replace(re.escape("{n}"), "[0-9]+")
        assert any(re.fullmatch(pattern, k) for k in scores), documented
    assert entry.headline in scores
    for key in scores:
        assert np.shape(out[key]) == (), key
    for key in matrices:
        assert np.shape(out[key]) == (L, len(SIZES)), key
    for key, value in out.items():
        assert np.all(np.isfinite(np.asarray(value))), key


def check_jit_vmap(per_model, stack, other_stack, compile_events):
    """``jit(vmap(per_model))`` equals the eager calls; new values: no retrace, no compile."""
    chex.clear_trace_counter()  # the counter is per code object, shared by the cases
    eager = [per_model(jax.tree.map(lambda a, s=s: a[s], stack)) for s in range(S)]
    batched = jax.jit(jax.vmap(chex.assert_max_traces(per_model, n=1)))
    result = batched(stack)
    for s in range(S):
        got = jax.tree.map(lambda x, s=s: np.asarray(x)[s], result)
        chex.assert_trees_all_close(got, jax.tree.map(np.asarray, eager[s]), atol=2e-5, rtol=2e-5)
    batched(other_stack)  # new values, same shapes: assert_max_traces refuses a retrace
    with compile_events() as events:
        jax.block_until_ready(per_model(jax.tree.map(lambda a: a[1], other_stack)))
    assert events == [], f"the eager call compiled again: {events}"


@pytest.mark.parametrize("name", list(METRICS))
def test_jit_vmap_matches_eager_and_does_not_retrace(name, compile_events):
    kind = METRICS[name].kind
    check_jit_vmap(lambda rep: score(name, rep), models(kind, 0), models(kind, 1), compile_events)


@pytest.mark.parametrize("name", [n for n, m in METRICS.items() if m.identity is not None])
def test_identity_scores_within_its_declared_bounds(name):
    entry = METRICS[name]
    low, high = entry.identity
    value = float(score(name, identity(entry.kind))[entry.headline])
    assert low - 1e-5 <= value <= high + 1e-5, value


@pytest.mark.parametrize("name", [n for n, m in METRICS.items() if m.noise is not None])
def test_noise_scores_within_its_declared_bounds(name):
    entry = METRICS[name]
    low, high = entry.noise
    value = float(score(name, noise(entry.kind))[entry.headline])
    assert low - 1e-5 <= value <= high + 1e-5, value


# Kernels outside the table, enrolled by hand: name -> per-model function of codes [N, L].
EXTRA_KERNELS = {
    "sap_continuous": lambda codes: metrics.sap(codes, FACTORS, continuous_factors=True),
    "histogram_mutual_info": lambda codes: metrics.discrete_mutual_info(
        metrics.histogram_discretize(codes), FACTORS, num_values_a=20
    ),
}


@pytest.mark.parametrize("name", sorted(EXTRA_KERNELS))
def test_extra_kernels_jit_vmap_and_do_not_retrace(name, compile_events):
    check_jit_vmap(
        EXTRA_KERNELS[name], models("codes", 0)[0], models("codes", 1)[0], compile_events
    )


def test_udr_and_probes_under_jit():
    codes = models("codes", 0)[0]
    kl = np.exp(np.random.default_rng(3).normal(size=(S, L))).astype(np.float32) + 0.1
    udr = jax.jit(chex.assert_max_traces(lambda c, k: metrics.udr(c, k), n=1))
    chex.assert_trees_all_close(udr(codes, kl), metrics.udr(codes, kl), atol=1e-5)
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
    (codes, codes_test), factors = models("codes", 0), FACTORS
    with pytest.raises(ValueError, match="num_classes must be given"):
        jax.jit(metrics.explicitness)(codes[0], factors, codes_test[0], FACTORS_TEST)
    # Factors traced too: kernels without a static class count need nothing more.
    np.testing.assert_allclose(
        float(jax.jit(metrics.mig)(codes[0], factors)),
        float(metrics.mig(codes[0], factors)),
        atol=1e-6,
    )
    # Value checks are skipped for tracers, shape checks are not.
    with pytest.raises(ValueError, match="rank 2"):
        jax.jit(metrics.mig)(jnp.zeros((2, N, L)), factors)
