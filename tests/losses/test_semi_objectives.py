"""The semi-supervised objectives (S²-β-VAE, S²-β-TCVAE, S²-FactorVAE, S²-DIP-VAE,
supervised VAE) and their forward pass.

Oracles: the loss of disentanglement_lib's ``BaseS2VAE.model_fn`` and each model's
``unsupervised_regularizer`` written in NumPy float64 (Bernoulli NLL, Gaussian KL, the
DIP covariances), with the supervised term from the NumPy regulariser oracles of
``test_semi_supervised.py`` re-written here for ``xent`` and ``cov``; the total
correlation is the tested ``disentax.losses.total_correlation``. The forward pass is
checked on a linear stand-in model.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import expit

from disentax import losses
from disentax.data.labellers import LABELLERS
from disentax.losses import semi_hyperparameters
from disentax.losses import semi_objectives as semi

rng = np.random.default_rng(1)
N, L, F = 8, 4, 3
SIZES = np.array([3, 6, 4])
NAMES = ("s2_beta_vae", "s2_beta_tcvae", "s2_factor_vae", "s2_dip_vae", "supervised_vae")


def np_recon_kl(images, pass_):
    p = expit(pass_.logits)
    recon = -np.sum(images * np.log(p) + (1 - images) * np.log1p(-p), axis=(1, 2, 3)).mean()
    kl = 0.5 * np.sum(pass_.mean**2 + np.exp(pass_.logvar) - pass_.logvar - 1, axis=1).mean()
    return recon, kl


def np_xent(codes, labels, sizes):
    x, t = codes[:, : labels.shape[1]], labels / sizes
    return np.sum(np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x))))


def np_cov(codes, labels):
    cov = np.cov(codes.T, labels.T, bias=True)[: codes.shape[1], codes.shape[1] :]
    np.fill_diagonal(cov, 0.0)
    return np.sum(cov**2)


def np_dip(mean, logvar, dip_type, lambda_od, lambda_d):
    cov = np.cov(mean.T, bias=True)
    if dip_type == "ii":
        cov = cov + np.diag(np.exp(logvar).mean(0))
    off = np.sum((cov - np.diag(np.diag(cov))) ** 2)
    diag = np.sum((np.diag(cov) - 1) ** 2)
    return lambda_od * off + lambda_d * diag


@pytest.fixture(scope="module")
def case():
    images = rng.uniform(size=(N, 5, 5, 1))
    mean, logvar = rng.normal(size=(N, L)), 0.3 * rng.normal(size=(N, L))
    z = mean + np.exp(logvar / 2) * rng.normal(size=(N, L))
    out = semi.SemiPass(mean, logvar, z, rng.normal(size=(N, 5, 5, 1)), rng.normal(size=(N, L)))
    labels = np.stack([rng.integers(0, s, N) for s in SIZES], axis=1)
    inputs = {"labels": labels, "label_sizes": np.broadcast_to(SIZES, (N, F))}
    return images, out, inputs


def call(name, images, out, inputs, step=0, **hyper):
    fn = jax.jit(lambda i, o, inp, s: losses.OBJECTIVES[name](i, o, step=s, **inp, **hyper))
    return fn(images, out, inputs, step)


def test_registered_with_the_labelled_batch():
    for name in NAMES:
        entry = losses.OBJECTIVES[name]
        assert entry.batch == "labelled" and entry.inputs == ("labels", "label_sizes")
        assert set(entry.batch_hyperparameters) == set(semi.LABELLED_HYPER)
    assert losses.OBJECTIVES["s2_factor_vae"].needs_discriminator
    assert semi_hyperparameters.LABELLER_NAMES == tuple(
        LABELLERS
    )  # losses do not import data: kept equal


def test_s2_beta_vae_matches_the_reference_loss(case):
    images, out, inputs = case
    # anneal at step 30 of a threshold of 120: a quarter of gamma_sup
    loss, aux = call(
        "s2_beta_vae",
        images,
        out,
        inputs,
        step=30,
        beta=3.0,
        gamma_sup=8.0,
        annealer="anneal",
        iteration_threshold=120,
    )
    recon, kl = np_recon_kl(images, out)
    sup = np_xent(out.labelled_mean, inputs["labels"], SIZES)
    np.testing.assert_allclose(aux["supervised/loss"], sup, rtol=1e-5)
    np.testing.assert_allclose(aux["supervised/weight"], 2.0, rtol=1e-6)
    np.testing.assert_allclose(loss, recon + 3.0 * kl + 2.0 * sup, rtol=1e-5)
    np.testing.assert_allclose(aux["elbo"], -(recon + kl), rtol=1e-5)


def test_s2_beta_tcvae_matches_the_reference_loss(case):
    images, out, inputs = case
    loss, aux = call("s2_beta_tcvae", images, out, inputs, beta=5.0, regulariser="cov")
    recon, kl = np_recon_kl(images, out)
    tc = losses.total_correlation(out.z, out.mean, out.logvar)  # tested elsewhere
    sup = np_cov(out.labelled_mean, inputs["labels"])
    np.testing.assert_allclose(aux["tc"], tc, rtol=1e-5)
    np.testing.assert_allclose(loss, recon + kl + 4.0 * float(tc) + 4.0 * sup, rtol=1e-5)


def test_s2_factor_vae_matches_the_reference_loss(case):
    images, out, inputs = case
    logits = rng.normal(size=(N, 2))
    loss, aux = call(
        "s2_factor_vae",
        images,
        out,
        {**inputs, "discriminator_logits": logits},
        step=5,
        gamma=20.0,
        annealer="fine_tune",
        iteration_threshold=5,
    )
    recon, kl = np_recon_kl(images, out)
    tc = np.mean(logits[:, 0] - logits[:, 1])
    np.testing.assert_allclose(aux["tc"], tc, rtol=1e-5)
    assert float(aux["supervised/weight"]) == 0.0  # fine_tune: nothing up to the threshold
    np.testing.assert_allclose(loss, recon + kl + 20.0 * tc, rtol=1e-5)
    with pytest.raises(ValueError, match="needs discriminator_logits"):
        losses.OBJECTIVES["s2_factor_vae"](images, out, **inputs)


@pytest.mark.parametrize("dip_type", ["i", "ii"])
def test_s2_dip_vae_matches_the_reference_loss(case, dip_type):
    images, out, inputs = case
    loss, aux = call(
        "s2_dip_vae",
        images,
        out,
        inputs,
        dip_type=dip_type,
        lambda_od=3.0,
        lambda_d_factor=2.0,
        gamma_sup=0.5,
    )
    recon, kl = np_recon_kl(images, out)
    dip = np_dip(out.mean, out.logvar, dip_type, 3.0, 6.0)
    sup = np_xent(out.labelled_mean, inputs["labels"], SIZES)
    np.testing.assert_allclose(loss, recon + kl + dip + 0.5 * sup, rtol=1e-5)


def test_supervised_vae_is_reconstruction_plus_regulariser(case):
    images, out, inputs = case
    loss, aux = call("supervised_vae", images, out, inputs)
    recon, kl = np_recon_kl(images, out)
    sup = np_xent(out.labelled_mean, inputs["labels"], SIZES)
    np.testing.assert_allclose(loss, recon + sup, rtol=1e-5)
    np.testing.assert_allclose(aux["kl"], kl, rtol=1e-5)  # reported, not trained on


class LinearModel(NamedTuple):
    """A stand-in for ``ModelFns``: ``encode(x) = (x W, x W2)``, ``decode(z) = z V``."""

    w: jax.Array
    w2: jax.Array
    v: jax.Array

    def fns(self, noise):
        flat = lambda x: x.reshape(x.shape[0], -1)  # noqa: E731
        return losses.ModelFns(
            encode=lambda x: (flat(x) @ self.w, flat(x) @ self.w2),
            decode=lambda z: (z @ self.v).reshape(z.shape[0], 5, 5, 1),
            noise=lambda stream, n: noise[stream][:n],
        )


def test_forward_encodes_both_and_samples_the_unlabelled(case):
    images, _, inputs = case
    labelled = rng.uniform(size=images.shape)
    model = LinearModel(*(jnp.asarray(rng.normal(size=s)) for s in ((25, L), (25, L), (L, 25))))
    noise = {0: jnp.asarray(rng.normal(size=(N, L)))}
    batch = {"images": images, "labelled_images": labelled, **inputs}
    out = losses.OBJECTIVES["s2_beta_vae"].forward(model.fns(noise), batch)
    flat, flat_l = images.reshape(N, -1), labelled.reshape(N, -1)
    np.testing.assert_allclose(out.mean, flat @ model.w, rtol=1e-5)
    np.testing.assert_allclose(out.labelled_mean, flat_l @ model.w, rtol=1e-5)
    z = flat @ model.w + np.exp(flat @ model.w2 / 2) * noise[0]
    np.testing.assert_allclose(out.z, z, rtol=1e-5)
    np.testing.assert_allclose(out.logits.reshape(N, -1), z @ model.v, rtol=1e-4)


def test_supervised_vae_trains_the_encoder_on_labels_only(case):
    images, _, inputs = case
    labelled = rng.uniform(size=images.shape)
    model = LinearModel(*(jnp.asarray(rng.normal(size=s)) for s in ((25, L), (25, L), (L, 25))))
    noise = {0: jnp.asarray(rng.normal(size=(N, L)))}
    batch = {"images": images, "labelled_images": labelled, **inputs}
    entry = losses.OBJECTIVES["supervised_vae"]

    def loss(m):
        return entry(images, entry.forward(m.fns(noise), batch), **inputs)[0]

    grads = jax.grad(loss)(model)
    # Only the supervised term reaches the encoder: its gradient is that of S alone.
    sup_grad = jax.grad(
        lambda w: losses.supervised_xent(labelled.reshape(N, -1) @ w, inputs["labels"], SIZES)
    )(model.w)
    np.testing.assert_allclose(grads.w, sup_grad, rtol=1e-4, atol=1e-6)
    assert float(jnp.abs(grads.w2).sum()) == 0.0  # logvar: no KL, detached decoder input
    assert float(jnp.abs(grads.v).sum()) > 0  # the decoder learns to reconstruct


def test_objective_params_and_shapes():
    class Data:
        factor_sizes = (3, 6, 40)

    params = semi.init_objective_params(jax.random.key(0), Data(), regulariser="embed")
    assert params["embedding"].shape == (3, 40)
    params = semi.init_objective_params(
        jax.random.key(0), Data(), regulariser="embed", labeller="binned", num_bins=5
    )
    assert params["embedding"].shape == (3, 5)
    params = semi.init_objective_params(
        jax.random.key(0), Data(), regulariser="l2", labeller="partial"
    )
    assert params == {"scale": 1.0}
    assert semi.label_shape((3, 6, 40), labeller="partial", num_observed_factors=1) == (1, 40)


@pytest.mark.parametrize(
    "hyper, match",
    [
        ({"regulariser": "mse"}, "regulariser must be one of"),
        ({"annealer": "cosine"}, "annealer must be one of"),
        ({"labeller": "oracle"}, "labeller must be one of"),
        ({"num_labels": 0}, "num_labels must be a positive int"),
        ({"train_fraction": 1.5}, r"train_fraction must be in \(0, 1\]"),
        ({"prob_random": -0.1}, "prob_random must be a probability"),
        ({"sigma": "learn"}, "sigma must be a positive number"),
        ({"learn_sigma": "yes"}, "learn_sigma must be True or False"),
        ({"learn_scale": 1}, "learn_scale must be True or False"),
    ],
)
def test_bad_hyperparameters_are_value_errors(hyper, match):
    for name in ("s2_beta_vae", "supervised_vae"):
        if not set(hyper) <= set(losses.OBJECTIVES[name].hyperparameters):
            continue  # the supervised VAE has no weight, hence no annealer
        with pytest.raises(ValueError, match=match):
            losses.validate_hyperparameters(name, hyper)
