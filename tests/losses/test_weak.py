"""GroupVAE / ML-VAE (weak supervision) against NumPy oracles written from the reference.

The oracles transcribe disentanglement_lib's ``methods/weak/weak_vae.py`` semantics in
float64 NumPy: ``compute_kl`` (twice the per-dimension KL), the two-bin equal-width
histogram of ``tf.histogram_fixed_width_bins`` (bins ``[min, mid)`` and ``[mid, max]``),
the one-hot label mask, GroupVAE's ``0.5 m1 + 0.5 m2`` / ``log(0.5 v1 + 0.5 v2)``, ML-VAE's
``new_var = 2 v1 v2 / (v1 + v2)``, ``new_mean = (m1/v1 + m2/v2) new_var / 2``, and the
loss ``0.5 (recon_1 + recon_2) + β 0.5 (kl_1 + kl_2)``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from disentax import losses
from disentax.losses import weak

RNG = np.random.default_rng(0)


def reference_kl(m1, lv1, m2, lv2):
    """The reference's ``compute_kl``: 2 KL(q1 || q2) per dimension."""
    v1, v2 = np.exp(lv1), np.exp(lv2)
    return v1 / v2 + np.square(m2 - m1) / v2 - 1 + lv2 - lv1


def reference_upper_bin(x):
    """Row-wise two-bin histogram of equal width over [min, max]: 1 for the upper bin."""
    out = np.zeros(x.shape, bool)
    for i, row in enumerate(x):
        lo, hi = row.min(), row.max()
        if hi > lo:
            edges = np.linspace(lo, hi, 3)  # [min, mid, max]
            out[i] = np.digitize(row, edges[1:2]) == 1  # row >= mid
    return out


def reference_group(m1, lv1, m2, lv2):
    return 0.5 * m1 + 0.5 * m2, np.log(0.5 * np.exp(lv1) + 0.5 * np.exp(lv2))


def reference_ml(m1, lv1, m2, lv2):
    v1, v2 = np.exp(lv1), np.exp(lv2)
    new_var = 2 * v1 * v2 / (v1 + v2)
    return (m1 / v1 + m2 / v2) * new_var * 0.5, np.log(new_var)


def posteriors(n=6, latents=5):
    m1, m2 = RNG.normal(size=(2, n, latents))
    lv1, lv2 = 0.7 * RNG.normal(size=(2, n, latents))
    return m1, lv1, m2, lv2


def test_pair_kl_is_half_the_references_compute_kl():
    p = posteriors()
    got = jax.jit(weak.pair_kl)(*map(jnp.asarray, p))
    np.testing.assert_allclose(got, 0.5 * reference_kl(*p), rtol=2e-5, atol=1e-6)
    assert bool((got >= -1e-6).all())


def test_adaptive_mask_on_hand_made_posteriors():
    # pair 0 differs only in dims 1 and 3 (same variances): those two stay apart;
    # pair 1 differs a lot in dim 0 and slightly in dim 2: only dim 0 is in the upper bin;
    # pair 2 is identical (all KL 0): one bin, everything aggregated.
    m1 = np.zeros((3, 4))
    m2 = np.array([[0.0, 2.0, 0.0, -2.0], [5.0, 0.0, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0]])
    lv = np.zeros((3, 4))
    kl = weak.pair_kl(m1, lv, m2, lv)
    mask = jax.jit(weak.adaptive_mask)(kl)
    expected = [[False, True, False, True], [True, False, False, False], [False] * 4]
    assert mask.tolist() == expected


def test_adaptive_mask_matches_the_two_bin_histogram_oracle():
    p = posteriors(n=64, latents=10)
    kl = reference_kl(*p)
    np.testing.assert_array_equal(weak.adaptive_mask(jnp.asarray(kl)), reference_upper_bin(kl))
    # the midpoint itself is in the upper bin; min in the lower, max in the upper
    row = np.array([[1.0, 2.0, 3.0]])
    assert weak.adaptive_mask(jnp.asarray(row)).tolist() == [[False, True, True]]
    # the 1/2 of the KL does not move the threshold
    np.testing.assert_array_equal(
        weak.adaptive_mask(jnp.asarray(kl)), weak.adaptive_mask(jnp.asarray(0.5 * kl))
    )


def test_label_mask_is_the_references_one_hot_rule():
    changed = np.array([0, 3, 2, 7])  # 7 >= L: the reference's one-hot row is all zeros
    one_hot = np.eye(8)[changed][:, :5]
    expected = one_hot == one_hot.max(axis=1, keepdims=True)
    np.testing.assert_array_equal(jax.jit(weak.label_mask, static_argnums=1)(changed, 5), expected)


@pytest.mark.parametrize(
    ("ours", "oracle"), [(weak.group_posterior, reference_group), (weak.ml_posterior, reference_ml)]
)
def test_aggregate_posteriors_match_the_reference_formulas(ours, oracle):
    p = posteriors()
    mean, logvar = jax.jit(ours)(*map(jnp.asarray, p))
    want_mean, want_logvar = oracle(*p)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logvar, want_logvar, rtol=1e-5, atol=1e-6)
    # equal posteriors aggregate to themselves
    m, lv = p[0], p[1]
    same_mean, same_logvar = ours(jnp.asarray(m), jnp.asarray(lv), jnp.asarray(m), jnp.asarray(lv))
    np.testing.assert_allclose(same_mean, m, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(same_logvar, lv, rtol=1e-5, atol=1e-5)


def test_aggregates_stay_finite_at_extreme_variances():
    m = jnp.array([[1.0, -1.0]])
    lv1, lv2 = jnp.array([[80.0, -80.0]]), jnp.array([[-80.0, 80.0]])
    for fn in (weak.group_posterior, weak.ml_posterior):
        mean, logvar = fn(m, lv1, -m, lv2)
        assert bool(jnp.isfinite(mean).all() and jnp.isfinite(logvar).all()), fn.__name__


# ---------------------------------------------------------------- the whole objective


L, PIXELS = 4, 6
W_ENC = RNG.normal(size=(PIXELS, 2 * L)) * 0.5
W_DEC = RNG.normal(size=(L, PIXELS)) * 0.5


def fake_model(noise):
    """Linear encoder/decoder and fixed noise per stream: a ModelFns the oracle can mirror."""

    def encode(images):
        h = images.reshape(images.shape[0], -1) @ W_ENC
        return h[:, :L], h[:, L:]

    def decode(z):
        return (z @ W_DEC).reshape(z.shape[0], 1, 1, PIXELS)

    return losses.ModelFns(encode, decode, lambda stream, n: noise[stream][:n])


def reference_loss(x1, x2, changed, noise, *, posterior, aggregation, beta):
    """The reference model_fn's loss in float64 NumPy, for the linear model above."""
    n = x1.shape[0]
    h1, h2 = x1.reshape(n, -1) @ W_ENC, x2.reshape(n, -1) @ W_ENC
    m1, lv1, m2, lv2 = h1[:, :L], h1[:, L:], h2[:, :L], h2[:, L:]
    new_mean, new_lv = {"group": reference_group, "ml": reference_ml}[posterior](m1, lv1, m2, lv2)
    if aggregation == "argmax":
        apart = reference_upper_bin(reference_kl(m1, lv1, m2, lv2))
    else:
        one_hot = np.eye(L)[changed]
        apart = one_hot == one_hot.max(axis=1, keepdims=True)
    recon = kl = 0.0
    for x, m, lv, eps in ((x1, m1, lv1, noise[0]), (x2, m2, lv2, noise[1])):
        m, lv = np.where(apart, m, new_mean), np.where(apart, lv, new_lv)
        logits = (m + np.exp(lv / 2) * eps) @ W_DEC
        x = x.reshape(n, -1)
        # Bernoulli NLL from logits, summed over pixels
        nll = np.sum(np.logaddexp(0, logits) - x * logits, axis=1)
        recon += 0.5 * nll.mean()
        kl += 0.5 * np.mean(0.5 * np.sum(m**2 + np.exp(lv) - lv - 1, axis=1))
    return recon + beta * kl, recon, kl, apart.sum(axis=1).mean()


@pytest.mark.parametrize("name", ["group_vae", "ml_vae"])
@pytest.mark.parametrize("aggregation", ["argmax", "labels"])
def test_objective_through_its_forward_matches_the_reference_model_fn(name, aggregation):
    n = 8
    x1, x2 = RNG.uniform(size=(2, n, 1, 1, PIXELS))
    changed = RNG.integers(0, L, size=n)
    noise = RNG.normal(size=(2, n, L))
    entry = losses.OBJECTIVES[name]
    batch = {"images": x1, "images_2": x2, "changed": changed}
    batch = {
        k: jnp.asarray(v, jnp.float32 if k != "changed" else jnp.int32) for k, v in batch.items()
    }

    @jax.jit
    def run(batch, noise):
        out = entry.forward(fake_model(noise), batch, aggregation=aggregation)
        return entry(
            batch["images"], out, images_2=batch["images_2"], beta=3.0, aggregation=aggregation, k=1
        )

    loss, aux = run(batch, jnp.asarray(noise, jnp.float32))
    posterior = "group" if name == "group_vae" else "ml"
    want = reference_loss(
        x1, x2, changed, noise, posterior=posterior, aggregation=aggregation, beta=3.0
    )
    np.testing.assert_allclose(loss, want[0], rtol=1e-4)
    np.testing.assert_allclose(aux["recon"], want[1], rtol=1e-4)
    np.testing.assert_allclose(aux["kl"], want[2], rtol=1e-4)
    np.testing.assert_allclose(aux["apart"], want[3], rtol=1e-6)
    np.testing.assert_allclose(aux["elbo"], -(want[1] + want[2]), rtol=1e-4)


def test_k_is_a_batch_option_not_a_loss_input():
    entry = losses.OBJECTIVES["group_vae"]
    assert entry.batch == "pairs" and entry.needs_pairs and entry.inputs == ("images_2",)
    hyper = {"beta": 2.0, "k": 3}
    assert entry.batch_options(hyper) == {"k": 3}
    assert entry.loss_hyperparameters(entry.resolve(hyper)) == {
        "beta": 2.0,
        "aggregation": "argmax",
    }
    assert entry.batch_options({}) == {"k": -1}
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="k must be -1"):
            losses.validate_hyperparameters("group_vae", {"k": bad})
    with pytest.raises(ValueError, match="aggregation must be one of"):
        losses.validate_hyperparameters("ml_vae", {"aggregation": "mean"})
