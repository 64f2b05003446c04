"""The six objectives: definitions, hyperparameter dependence, gradients, validation.

Oracles: the defining formulas of each objective (Locatello et al. 2019, Sec. 3 /
disentanglement_lib ``methods/unsupervised/vae.py``) recomputed from the tested pieces,
and closed-form derivatives with respect to each hyperparameter (every objective is
affine in its weight: d loss / d beta = kl for the β-VAE, = tc for the β-TCVAE, ...).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from disentax import losses

N, L = 8, 4


class Out(NamedTuple):
    mean: jax.Array
    logvar: jax.Array
    z: jax.Array
    logits: jax.Array


def _batch(seed=0):
    keys = jax.random.split(jax.random.key(seed), 5)
    images = jax.random.uniform(keys[0], (N, 6, 6, 1))
    mean = jax.random.normal(keys[1], (N, L))
    logvar = 0.5 * jax.random.normal(keys[2], (N, L))
    z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(keys[3], (N, L))
    logits = jax.random.normal(keys[4], (N, 6, 6, 1))
    return images, Out(mean, logvar, z, logits)


IMAGES, OUT = _batch()
D_LOGITS = jax.random.normal(jax.random.key(9), (N, 2))
RECON = float(jnp.mean(losses.bernoulli_nll(IMAGES, OUT.logits)))
KL = float(jnp.mean(jnp.sum(losses.gaussian_kl(OUT.mean, OUT.logvar), axis=1)))


def _call(name, out=OUT, step=0, **hyper):
    if name == "factor_vae":
        hyper.setdefault("discriminator_logits", D_LOGITS)
    return losses.OBJECTIVES[name](IMAGES, out, step=step, **hyper)


_jcall = jax.jit(_call, static_argnames=("name", "estimator", "dataset_size"))


def test_objectives_dict_and_aux_keys():
    assert set(losses.OBJECTIVES) == {
        "beta_vae",
        "annealed_vae",
        "beta_tcvae",
        "factor_vae",
        "dip_vae_i",
        "dip_vae_ii",
    }
    assert set(losses.DEFAULT_HYPERPARAMETERS) == set(losses.OBJECTIVES)
    own = {"annealed_vae": "capacity", "beta_tcvae": "tc", "factor_vae": "tc"}
    for name in losses.OBJECTIVES:
        loss, aux = jax.jit(lambda o, n=name: _call(n, o))(OUT)
        assert {"loss", "recon", "kl", "elbo"} <= set(aux), name
        assert own.get(name, "loss") in aux
        np.testing.assert_allclose(aux["recon"], RECON, rtol=1e-5)
        np.testing.assert_allclose(aux["kl"], KL, rtol=1e-5)
        np.testing.assert_allclose(aux["elbo"], -(RECON + KL), rtol=1e-5)
        np.testing.assert_allclose(aux["loss"], loss)


def test_beta_one_and_zero_weights_give_the_vae_loss():
    vae = RECON + KL
    np.testing.assert_allclose(_jcall("beta_vae", beta=1.0)[0], vae, rtol=1e-6)
    np.testing.assert_allclose(_jcall("beta_tcvae", beta=1.0)[0], vae, rtol=1e-6)
    np.testing.assert_allclose(
        _jcall("beta_tcvae", beta=1.0, estimator="mss", dataset_size=100)[0], vae, rtol=1e-6
    )
    np.testing.assert_allclose(_jcall("factor_vae", gamma=0.0)[0], vae, rtol=1e-6)
    np.testing.assert_allclose(_jcall("dip_vae_i", lambda_od=0.0)[0], vae, rtol=1e-6)
    np.testing.assert_allclose(_jcall("dip_vae_ii", lambda_od=0.0)[0], vae, rtol=1e-6)


def test_annealed_vae_capacity_schedule():
    # C = 0 (c_max = 0, or step 0): recon + gamma * kl.
    np.testing.assert_allclose(
        _call("annealed_vae", c_max=0.0, gamma=7.0)[0] - RECON, 7.0 * KL, rtol=1e-5
    )
    for step, capacity in ((0, 0.0), (250, 2.5), (1000, 10.0), (5000, 10.0)):
        loss, aux = jax.jit(
            lambda s: _call("annealed_vae", step=s, c_max=10.0, gamma=3.0, iteration_threshold=1000)
        )(step)
        np.testing.assert_allclose(aux["capacity"], capacity, rtol=1e-6)
        np.testing.assert_allclose(loss, RECON + 3.0 * abs(KL - capacity), rtol=1e-5)


def test_dip_vae_terms():
    cov_i = np.cov(np.asarray(OUT.mean), rowvar=False, bias=True)
    cov_ii = cov_i + np.diag(np.exp(np.asarray(OUT.logvar)).mean(axis=0))
    for name, cov, factor in (("dip_vae_i", cov_i, 10.0), ("dip_vae_ii", cov_ii, 1.0)):
        off = np.sum(cov**2) - np.sum(np.diag(cov) ** 2)
        diag = np.sum((np.diag(cov) - 1) ** 2)
        loss, aux = _jcall(name, lambda_od=2.0)
        np.testing.assert_allclose(aux["dip/offdiag"], off, rtol=1e-4)
        np.testing.assert_allclose(aux["dip/diag"], diag, rtol=1e-4)
        expected = RECON + KL + 2.0 * off + factor * 2.0 * diag
        np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_factor_vae_and_discriminator_loss():
    loss, aux = _call("factor_vae", gamma=5.0)
    tc = float(jnp.mean(D_LOGITS[:, 0] - D_LOGITS[:, 1]))
    np.testing.assert_allclose(aux["tc"], tc, rtol=1e-6)
    np.testing.assert_allclose(loss, RECON + KL + 5.0 * tc, rtol=1e-5)
    # d loss / d logits = gamma / N * [1, -1] on every row.
    grad = jax.grad(lambda d: _call("factor_vae", gamma=5.0, discriminator_logits=d)[0])(D_LOGITS)
    np.testing.assert_allclose(grad, np.tile([5.0 / N, -5.0 / N], (N, 1)), rtol=1e-6)
    # Discriminator: cross-entropy with class 0 for z, class 1 for permuted z (NumPy).
    other = jax.random.normal(jax.random.key(3), (N, 2))
    d_loss, d_aux = jax.jit(losses.factor_vae_discriminator_loss)(D_LOGITS, other)

    def log_softmax(x):
        x = np.asarray(x, np.float64)
        return x - np.log(np.sum(np.exp(x), axis=1, keepdims=True))

    expected = -0.5 * (log_softmax(D_LOGITS)[:, 0].mean() + log_softmax(other)[:, 1].mean())
    np.testing.assert_allclose(d_loss, expected, rtol=1e-5)
    assert 0.0 <= float(d_aux["discriminator/accuracy"]) <= 1.0
    with pytest.raises(ValueError, match="discriminator_logits"):
        losses.factor_vae(IMAGES, OUT, step=0)
    with pytest.raises(ValueError, match="logits_permuted must have shape"):
        losses.factor_vae_discriminator_loss(D_LOGITS, other[:, :1])


HYPER_DERIVATIVES = {
    # objective: (hyperparameter, fixed others, d loss / d hyper from aux)
    "beta_vae": ("beta", {}, lambda a: a["kl"]),
    "beta_tcvae": ("beta", {}, lambda a: a["tc"]),
    "factor_vae": ("gamma", {}, lambda a: a["tc"]),
    "annealed_vae": ("gamma", {"c_max": 1.0}, lambda a: jnp.abs(a["kl"] - a["capacity"])),
    "dip_vae_i": ("lambda_od", {}, lambda a: a["dip/offdiag"] + 10.0 * a["dip/diag"]),
    "dip_vae_ii": ("lambda_od", {}, lambda a: a["dip/offdiag"] + 1.0 * a["dip/diag"]),
}


@pytest.mark.parametrize("name", sorted(HYPER_DERIVATIVES))
def test_gradients_are_finite_and_hyperparameters_can_be_traced(name):
    hyper, fixed, derivative = HYPER_DERIVATIVES[name]

    @jax.jit
    def run(value, out):
        loss_fn = lambda v, o: _call(name, o, step=100, **fixed, **{hyper: v})
        (loss, aux), grads = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(value, out)
        losses_sweep = jax.vmap(lambda v: loss_fn(v, out)[0])(jnp.array([1.0, 2.0, 4.0]))
        return loss, aux, grads, losses_sweep

    loss, aux, (d_hyper, d_out), sweep = run(jnp.float32(2.0), OUT)
    for leaf in jax.tree.leaves(d_out):
        assert bool(jnp.all(jnp.isfinite(leaf))), name
    assert float(jnp.sum(jnp.abs(d_out.logits))) > 0 and float(jnp.sum(jnp.abs(d_out.mean))) > 0
    np.testing.assert_allclose(d_hyper, derivative(aux), rtol=1e-4)
    # Affine in the hyperparameter: the vmapped sweep is a straight line with that slope.
    np.testing.assert_allclose(sweep[2] - sweep[1], 2 * (sweep[1] - sweep[0]), rtol=1e-3)
    np.testing.assert_allclose(sweep[1] - sweep[0], derivative(aux), rtol=1e-3)


@pytest.mark.parametrize(
    "name,hyper,match",
    [
        ("beta_vae", {"beta": -1.0}, "beta must be finite and >= 0"),
        ("beta_tcvae", {"beta": -0.5}, "beta must be finite and >= 0"),
        ("beta_tcvae", {"estimator": "kde"}, "estimator must be one of"),
        ("beta_tcvae", {"dataset_size": -3}, "dataset_size must be None or a positive"),
        ("annealed_vae", {"c_max": -5.0}, "c_max must be finite and >= 0"),
        ("annealed_vae", {"gamma": float("nan")}, "gamma must be finite and >= 0"),
        ("annealed_vae", {"iteration_threshold": 0}, "iteration_threshold must be > 0"),
        ("factor_vae", {"gamma": -10.0}, "gamma must be finite and >= 0"),
        ("dip_vae_i", {"lambda_od": -1.0}, "lambda_od must be finite and >= 0"),
        ("dip_vae_ii", {"lambda_d_factor": -2.0}, "lambda_d_factor must be finite and >= 0"),
        ("beta_vae", {"gamma": 1.0}, "'gamma' is not a hyperparameter of 'beta_vae'"),
        ("beta_vae", {"beta": "large"}, "beta must be a real scalar"),
    ],
)
def test_bad_hyperparameters_raise_naming_them(name, hyper, match):
    with pytest.raises(ValueError, match=match):
        losses.validate_hyperparameters(name, hyper)
    with pytest.raises(ValueError, match=match):
        _call(name, **hyper)


def test_unknown_objective_and_reconstruction_raise():
    with pytest.raises(ValueError, match="objective must be one of"):
        losses.validate_hyperparameters("wae", {})
    with pytest.raises(ValueError, match="reconstruction must be one of"):
        losses.beta_vae(IMAGES, OUT, step=0, reconstruction="mse")
    losses.validate_hyperparameters("beta_tcvae", losses.DEFAULT_HYPERPARAMETERS["beta_tcvae"])
