"""The six objectives: definitions, hyperparameter dependence, validation messages.

Oracles: the defining formulas of each objective (Locatello et al. 2019, Sec. 3 /
disentanglement_lib ``methods/unsupervised/vae.py``) recomputed from the tested pieces,
and closed-form derivatives with respect to each hyperparameter (every objective is
affine in its weight: d loss / d beta = kl for the β-VAE, = tc for the β-TCVAE, ...).
What every entry of ``OBJECTIVES`` must do is in ``test_registry.py``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from disentax import losses


@pytest.fixture(scope="module")
def jcall(batch):
    return jax.jit(batch.call, static_argnames=("name", "estimator", "dataset_size"))


def test_beta_one_and_zero_weights_give_the_vae_loss(batch, jcall):
    vae = batch.recon + batch.kl
    np.testing.assert_allclose(jcall("beta_vae", beta=1.0)[0], vae, rtol=1e-6)
    np.testing.assert_allclose(jcall("beta_tcvae", beta=1.0)[0], vae, rtol=1e-6)
    np.testing.assert_allclose(
        jcall("beta_tcvae", beta=1.0, estimator="mss", dataset_size=100)[0], vae, rtol=1e-6
    )
    np.testing.assert_allclose(jcall("factor_vae", gamma=0.0)[0], vae, rtol=1e-6)
    np.testing.assert_allclose(jcall("dip_vae_i", lambda_od=0.0)[0], vae, rtol=1e-6)
    np.testing.assert_allclose(jcall("dip_vae_ii", lambda_od=0.0)[0], vae, rtol=1e-6)


def test_annealed_vae_capacity_schedule(batch):
    # C = 0 (c_max = 0, or step 0): recon + gamma * kl.
    np.testing.assert_allclose(
        batch.call("annealed_vae", c_max=0.0, gamma=7.0)[0] - batch.recon, 7.0 * batch.kl, rtol=1e-5
    )
    run = jax.jit(
        lambda s: batch.call(
            "annealed_vae", step=s, c_max=10.0, gamma=3.0, iteration_threshold=1000
        )
    )
    for step, capacity in ((0, 0.0), (250, 2.5), (1000, 10.0), (5000, 10.0)):
        loss, aux = run(step)
        np.testing.assert_allclose(aux["capacity"], capacity, rtol=1e-6)
        np.testing.assert_allclose(loss, batch.recon + 3.0 * abs(batch.kl - capacity), rtol=1e-5)


def test_dip_vae_terms(batch, jcall):
    cov_i = np.cov(np.asarray(batch.out.mean), rowvar=False, bias=True)
    cov_ii = cov_i + np.diag(np.exp(np.asarray(batch.out.logvar)).mean(axis=0))
    for name, cov, factor in (("dip_vae_i", cov_i, 10.0), ("dip_vae_ii", cov_ii, 1.0)):
        off = np.sum(cov**2) - np.sum(np.diag(cov) ** 2)
        diag = np.sum((np.diag(cov) - 1) ** 2)
        loss, aux = jcall(name, lambda_od=2.0)
        np.testing.assert_allclose(aux["dip/offdiag"], off, rtol=1e-4)
        np.testing.assert_allclose(aux["dip/diag"], diag, rtol=1e-4)
        expected = batch.recon + batch.kl + 2.0 * off + factor * 2.0 * diag
        np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_factor_vae_and_discriminator_loss(batch):
    d_logits, n = batch.discriminator_logits, batch.out.z.shape[0]
    loss, aux = batch.call("factor_vae", gamma=5.0)
    tc = float(jnp.mean(d_logits[:, 0] - d_logits[:, 1]))
    np.testing.assert_allclose(aux["tc"], tc, rtol=1e-6)
    np.testing.assert_allclose(loss, batch.recon + batch.kl + 5.0 * tc, rtol=1e-5)
    # d loss / d logits = gamma / N * [1, -1] on every row.
    grad = jax.grad(lambda d: batch.call("factor_vae", gamma=5.0, discriminator_logits=d)[0])(
        d_logits
    )
    np.testing.assert_allclose(grad, np.tile([5.0 / n, -5.0 / n], (n, 1)), rtol=1e-6)
    # Discriminator: cross-entropy with class 0 for z, class 1 for permuted z (NumPy).
    other = jax.random.normal(jax.random.key(3), (n, 2))
    d_loss, d_aux = jax.jit(losses.factor_vae_discriminator_loss)(d_logits, other)

    def log_softmax(x):
        x = np.asarray(x, np.float64)
        return x - np.log(np.sum(np.exp(x), axis=1, keepdims=True))

    expected = -0.5 * (log_softmax(d_logits)[:, 0].mean() + log_softmax(other)[:, 1].mean())
    np.testing.assert_allclose(d_loss, expected, rtol=1e-5)
    assert 0.0 <= float(d_aux["discriminator/accuracy"]) <= 1.0
    with pytest.raises(ValueError, match="discriminator_logits"):
        losses.factor_vae(batch.images, batch.out, step=0)
    with pytest.raises(ValueError, match="logits_permuted must have shape"):
        losses.factor_vae_discriminator_loss(d_logits, other[:, :1])


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
def test_gradients_are_finite_and_hyperparameters_can_be_traced(batch, name):
    hyper, fixed, derivative = HYPER_DERIVATIVES[name]

    @jax.jit
    def run(value, out):
        loss_fn = lambda v, o: batch.call(name, o, step=100, **fixed, **{hyper: v})
        (loss, aux), grads = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(value, out)
        losses_sweep = jax.vmap(lambda v: loss_fn(v, out)[0])(jnp.array([1.0, 2.0, 4.0]))
        return loss, aux, grads, losses_sweep

    loss, aux, (d_hyper, d_out), sweep = run(jnp.float32(2.0), batch.out)
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
def test_bad_hyperparameters_raise_naming_them(batch, name, hyper, match):
    with pytest.raises(ValueError, match=match):
        losses.validate_hyperparameters(name, hyper)
    with pytest.raises(ValueError, match=match):
        batch.call(name, **hyper)


def test_unknown_objective_and_reconstruction_raise(batch):
    with pytest.raises(ValueError, match="objective must be one of"):
        losses.validate_hyperparameters("wae", {})
    with pytest.raises(ValueError, match="reconstruction must be one of"):
        losses.beta_vae(batch.images, batch.out, step=0, reconstruction="mse")
    losses.validate_hyperparameters("beta_tcvae", losses.DEFAULT_HYPERPARAMETERS["beta_tcvae"])


STUDY_DEFAULTS = {
    # Locatello et al. 2019, Table 2: values inside the study's grids.
    "beta_vae": {"beta": 4.0},
    "annealed_vae": {"c_max": 25.0, "gamma": 1000.0, "iteration_threshold": 100000},
    "beta_tcvae": {"beta": 6.0, "estimator": "mws", "dataset_size": None},
    "factor_vae": {"gamma": 10.0},
    "dip_vae_i": {"lambda_od": 10.0, "lambda_d_factor": 10.0},
    "dip_vae_ii": {"lambda_od": 10.0, "lambda_d_factor": 1.0},
}


@pytest.mark.parametrize("name", sorted(STUDY_DEFAULTS))
def test_defaults_are_the_study_values(name):
    assert losses.OBJECTIVES[name].defaults == STUDY_DEFAULTS[name]
    assert losses.DEFAULT_HYPERPARAMETERS[name] == STUDY_DEFAULTS[name]
    assert losses.OBJECTIVES[name].needs_discriminator == (name == "factor_vae")
