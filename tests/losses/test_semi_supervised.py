"""Supervised regularisers and annealers of the semi-supervised objectives.

Oracles: NumPy formulas in float64 written from disentanglement_lib's
``methods/semi_supervised/semi_supervised_vae.py`` (sigmoid cross-entropy in TensorFlow's
stable form ``max(x,0) - x z + log(1 + exp(-|x|))``, ``2 l2_loss(x) = sum x^2``, the
cross-covariance with ``set_diag(0)``, a per-factor softmax cross-entropy loop), and the
hand-derived values of that file's tests (``semi_supervised_vae_test.py``).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import expit, logsumexp

from disentax import losses

rng = np.random.default_rng(0)


def np_xent(codes, labels, sizes):
    x = codes[:, : labels.shape[1]]
    z = labels / np.asarray(sizes, float)
    return np.sum(np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x))))


def np_l2(codes, labels, sizes, scale=1.0, learn_scale=True):
    x = codes[:, : labels.shape[1]]
    if learn_scale:
        return np.sum((x * scale - labels) ** 2)
    return sum(
        np.sum((expit(x[n]) - labels[n] / np.asarray(sizes, float)) ** 2) for n in range(len(x))
    )


def np_cov(codes, labels):
    num_codes = codes.shape[1]
    cov = np.cov(codes.T, labels.T, bias=True)[:num_codes, num_codes:]  # [L, F], divided by M
    for i in range(min(cov.shape)):
        cov[i, i] = 0.0
    return np.sum(cov**2)


def np_embed(codes, labels, sizes, embedding, sigma):
    total = 0.0
    for f, size in enumerate(sizes):
        logits = -(((codes[:, f : f + 1] - embedding[f, :size][None]) * sigma[f]) ** 2)
        log_p = logits - logsumexp(logits, axis=1, keepdims=True)
        total += -np.mean(log_p[np.arange(len(codes)), labels[:, f]])
    return total


def draw(num=16, num_codes=5, sizes=(3, 6, 4)):
    codes = rng.normal(scale=2.0, size=(num, num_codes))
    labels = np.stack([rng.integers(0, s, num) for s in sizes], axis=1)
    return codes, labels, sizes


# ----------------------------------------------------------------- hand-made answers


@pytest.mark.parametrize(
    "codes, labels, expected",
    [
        # The reference's test values: log 2 per entry, 64 x 5 and 64 x 10 entries; with
        # codes 1 and targets 0, softplus(1) = 1.3133 per entry.
        (np.zeros((64, 10)), np.zeros((64, 5)), 64 * 5 * np.log(2)),
        (np.zeros((64, 10)), np.zeros((64, 10)), 64 * 10 * np.log(2)),
        (np.ones((64, 10)), np.zeros((64, 10)), 64 * 10 * np.log1p(np.e)),
    ],
)
def test_xent_known_values(codes, labels, expected):
    sizes = [1] * labels.shape[1]
    got = jax.jit(losses.supervised_xent)(codes, labels, jnp.asarray(sizes))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_cov_known_values():
    # The reference's test: codes e_1, e_2 against labels e_2, e_1: off-diagonal +-1/4.
    eye = np.eye(2)
    assert float(jax.jit(losses.supervised_cov)(eye, eye[::-1])) == pytest.approx(0.125)
    # Codes that are uncorrelated labels themselves (a full 2 x 2 grid): diagonal.
    labels = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    perfect = jax.jit(losses.supervised_cov)(np.c_[labels - labels.mean(0), np.zeros(4)], labels)
    assert float(perfect) == pytest.approx(0.0, abs=1e-12)


def test_l2_known_values():
    labels = np.array([[1, 3], [0, 1]])
    # scale 2, codes 1: residuals (1, -1, 2, 1) -> 7.
    got = jax.jit(lambda c, lab: losses.supervised_l2(c, lab, [4, 4], scale=2.0))(
        np.ones((2, 3)), labels
    )
    assert float(got) == pytest.approx(7.0)
    # learn_scale=False: sigmoid(0) = 1/2 against labels / 4 = (1/4, 3/4, 0, 1/4).
    got = jax.jit(lambda c, lab: losses.supervised_l2(c, lab, [4, 4], learn_scale=False))(
        np.zeros((2, 2)), labels
    )
    assert float(got) == pytest.approx(3 * 0.25**2 + 0.5**2)


def test_embed_known_values():
    embed = jax.jit(losses.supervised_embed, static_argnames="label_sizes")
    # Every embedding at the code: uniform over each factor's values -> sum_f log size_f.
    codes, labels = np.zeros((3, 2)), np.zeros((3, 2), int)
    got = embed(codes, labels, label_sizes=(3, 5), embedding=np.zeros((2, 5)))
    assert float(got) == pytest.approx(np.log(3) + np.log(5), rel=1e-6)
    # A sharp sigma and embeddings at the values: the code at its label's embedding wins.
    embedding = np.tile(np.arange(5.0), (2, 1))
    codes, labels = np.array([[0.0, 4.0], [2.0, 1.0]]), np.array([[0, 4], [2, 1]])
    got = embed(codes, labels, label_sizes=(5, 5), embedding=embedding, sigma=10.0)
    assert float(got) == pytest.approx(0.0, abs=1e-6)


# -------------------------------------------------------------- against the oracles


def test_regularisers_match_numpy_oracles():
    codes, labels, sizes = draw()
    c, lab, s = (jnp.asarray(codes, jnp.float32), jnp.asarray(labels), jnp.asarray(sizes))
    np.testing.assert_allclose(
        jax.jit(losses.supervised_xent)(c, lab, s), np_xent(codes, labels, sizes), rtol=1e-5
    )
    l2 = jax.jit(lambda *a: losses.supervised_l2(*a, scale=0.7))(c, lab, s)
    np.testing.assert_allclose(l2, np_l2(codes, labels, sizes, 0.7), rtol=1e-5)
    l2_sigmoid = jax.jit(lambda *a: losses.supervised_l2(*a, learn_scale=False))(c, lab, s)
    np.testing.assert_allclose(l2_sigmoid, np_l2(codes, labels, sizes, learn_scale=False), 1e-5)
    np.testing.assert_allclose(jax.jit(losses.supervised_cov)(c, lab), np_cov(codes, labels), 1e-5)
    embedding = rng.normal(size=(3, 6))
    sigma = rng.uniform(0.5, 2.0, size=3)
    got = jax.jit(losses.supervised_embed)(c, lab, s, embedding=embedding, sigma=sigma)
    np.testing.assert_allclose(got, np_embed(codes, labels, sizes, embedding, sigma), rtol=1e-5)


def test_cov_with_more_factors_than_codes():
    codes, labels, _ = draw(num_codes=2, sizes=(3, 6, 4))
    got = jax.jit(losses.supervised_cov)(codes, labels)
    np.testing.assert_allclose(got, np_cov(codes, labels), 1e-5)


def jitted(name, **options):
    """``supervised_loss(name, ...)`` compiled: ``fn(codes, labels, label_sizes, params)``."""
    return jax.jit(lambda c, lab, s, p: losses.supervised_loss(name, c, lab, s, p, **options))


def test_per_row_label_sizes_equal_per_factor_sizes():
    codes, labels, sizes = draw()
    rows = np.broadcast_to(np.asarray(sizes), labels.shape)
    for name in ("xent", "l2", "cov"):
        fn = jitted(name, learn_scale=False)
        a, b = fn(codes, labels, np.asarray(sizes), {}), fn(codes, labels, rows, {})
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_learned_parameters_initial_values_and_use():
    codes, labels, sizes = draw()
    key = jax.random.key(3)
    assert losses.init_regulariser_params(key, "l2", num_factors=3, max_size=6) == {"scale": 1.0}
    got = jitted("l2")(codes, labels, np.asarray(sizes), {"scale": 0.5})
    np.testing.assert_allclose(got, np_l2(codes, labels, sizes, 0.5), rtol=1e-5)
    params = losses.init_regulariser_params(key, "embed", num_factors=3, max_size=6)
    assert params["embedding"].shape == (3, 6)
    limit = np.sqrt(3.0 / 6)  # TensorFlow's glorot_uniform for a [6] variable
    assert np.all(np.abs(params["embedding"]) <= limit)
    got = jitted("embed", sigma=1.5)(codes, labels, np.asarray(sizes), params)
    expected = np_embed(codes, labels, sizes, np.asarray(params["embedding"]), [1.5] * 3)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_embed_with_order_and_learned_sigma():
    codes, labels, sizes = draw()
    ordered = losses.init_regulariser_params(
        jax.random.key(4), "embed", num_factors=3, max_size=6, use_order=True, learn_sigma=True
    )
    assert sorted(ordered) == ["bias", "sigma", "slope", "values"]
    fn = jitted("embed", use_order=True, learn_sigma=True)
    got, grads = jax.value_and_grad(fn, argnums=3)(codes, labels, np.asarray(sizes), ordered)
    slope, bias = np.asarray(ordered["slope"]), np.asarray(ordered["bias"])
    line = slope[:, None] * np.arange(6) + bias[:, None]
    expected = np_embed(codes, labels, sizes, line, np.asarray(ordered["sigma"]))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # The order's value grid only carries K: it gets no gradient, the line's terms do.
    assert float(jnp.abs(grads["values"]).sum()) == 0.0
    assert float(jnp.abs(grads["slope"]).sum()) > 0 and float(jnp.abs(grads["sigma"]).sum()) > 0


# ----------------------------------------------------------------------- annealers


@pytest.mark.parametrize(
    "name, expected",
    [  # the reference's tests: gamma 100, threshold 100, steps 0, 10, 100, 101
        ("fixed", [100, 100, 100, 100]),
        ("anneal", [0, 10, 100, 100]),
        ("fine_tune", [0, 0, 0, 100]),
    ],
)
def test_annealers_reference_values(name, expected):
    fn = jax.jit(lambda step: losses.anneal(name, 100.0, step, iteration_threshold=100))
    got = [float(fn(step)) for step in (0, 10, 100, 101)]
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_annealers_match_numpy_over_steps():
    steps = np.arange(0, 300, 7)
    gamma, threshold = 3.5, 120
    oracles = {
        "fixed": np.full(steps.shape, gamma),
        "anneal": np.minimum(gamma, gamma * steps / threshold),
        "fine_tune": gamma * np.minimum(1.0, np.maximum(0.0, steps - threshold)),
    }
    for name, expected in oracles.items():
        got = jax.vmap(lambda s, n=name: losses.anneal(n, gamma, s, iteration_threshold=threshold))(
            steps
        )
        np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=name)


# ----------------------------------------------------------------------- bad input


def test_bad_input_is_a_clear_value_error():
    codes, labels, sizes = draw(num_codes=2)
    with pytest.raises(ValueError, match="regulariser must be one of"):
        losses.supervised_loss("mse", codes, labels, sizes)
    with pytest.raises(ValueError, match="annealer must be one of"):
        losses.anneal("cosine", 1.0, 0, iteration_threshold=1)
    with pytest.raises(ValueError, match="at least as many columns"):
        losses.supervised_xent(codes, labels, sizes)  # L = 2 < F = 3
    with pytest.raises(ValueError, match="label_sizes must have shape"):
        losses.supervised_xent(np.zeros((16, 5)), labels, [3, 6])
    for sigma in ("learn", 0.0, float("nan"), True):
        with pytest.raises(ValueError, match="sigma must be a positive number"):
            losses.check_regulariser_options("embed", sigma=sigma)
    with pytest.raises(ValueError, match="learn_scale must be True or False"):
        losses.check_regulariser_options("l2", learn_scale="yes")
    with pytest.raises(ValueError, match="needs its params"):
        losses.supervised_loss("embed", np.zeros((16, 5)), labels, sizes)
