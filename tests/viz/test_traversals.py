"""Traversal grids: value ranges, latent layout, ordering, inactive latents, one program."""

import jax
import numpy as np
import pytest
import scipy.stats

from disentax import viz
from disentax.models import vae as vae_module
from disentax.viz import decoding

NUM_LATENTS = 4  # of the tiny VAE in conftest.py


def test_prior_range_is_evenly_spaced_quantiles_between_two_sigma():
    mean = np.zeros((5, 3), np.float32)
    values = np.asarray(jax.jit(lambda m: viz.traversal_values(m, num_steps=7))(mean))
    # Oracle: scipy's normal ppf at probabilities evenly spaced between cdf(-2) and cdf(2).
    probs = np.linspace(scipy.stats.norm.cdf(-2.0), scipy.stats.norm.cdf(2.0), 7)
    expected = scipy.stats.norm.ppf(probs)
    assert values.shape == (3, 7)
    np.testing.assert_allclose(values, np.broadcast_to(expected, (3, 7)), atol=1e-4)
    np.testing.assert_allclose(values[:, [0, -1]], [[-2.0, 2.0]] * 3, atol=1e-4)


def test_posterior_and_interval_ranges():
    mean = np.array([[0.0, -3.0], [1.0, 5.0], [0.5, 1.0]], np.float32)
    posterior = viz.traversal_values(mean, num_steps=5, value_range="posterior")
    np.testing.assert_allclose(posterior[0], np.linspace(0.0, 1.0, 5), atol=1e-6)
    np.testing.assert_allclose(posterior[1], np.linspace(-3.0, 5.0, 5), atol=1e-6)
    interval = viz.traversal_values(mean, num_steps=3, value_range="interval", sigmas=1.5)
    np.testing.assert_allclose(interval, [[-1.5, 0.0, 1.5]] * 2, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_steps": 1}, "num_steps"),
        ({"value_range": "wide"}, "value_range"),
        ({"sigmas": 0.0}, "sigmas"),
    ],
)
def test_traversal_values_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        viz.traversal_values(np.zeros((2, 3)), **kwargs)


def test_traversal_latents_replace_one_component():
    rng = np.random.default_rng(0)
    seed_mean = rng.normal(size=(2, 4)).astype(np.float32)
    rows = np.array([3, 1])
    values = rng.normal(size=(2, 5)).astype(np.float32)
    z = np.asarray(viz.traversal_latents(seed_mean, rows, values))
    expected = np.empty((2, 2, 5, 4), np.float32)  # oracle: explicit loops
    for s in range(2):
        for r, latent in enumerate(rows):
            for k in range(5):
                expected[s, r, k] = seed_mean[s]
                expected[s, r, k, latent] = values[r, k]
    np.testing.assert_array_equal(z, expected)


def test_latent_kl_matches_scipy_integration():
    mean = np.array([[0.3, -1.0], [1.2, 0.0]], np.float32)
    logvar = np.array([[-0.5, 0.2], [0.1, -2.0]], np.float32)
    kl = np.asarray(viz.latent_kl(mean, logvar))

    def kl_numeric(m, v):  # oracle: numerical KL integral of two normal densities
        q = scipy.stats.norm(m, np.exp(0.5 * v))
        x = np.linspace(m - 12 * q.std(), m + 12 * q.std(), 200001)
        return np.trapezoid(q.pdf(x) * (q.logpdf(x) - scipy.stats.norm.logpdf(x)), x)

    expected = [np.mean([kl_numeric(mean[n, j], logvar[n, j]) for n in range(2)]) for j in (0, 1)]
    np.testing.assert_allclose(kl, expected, rtol=1e-4)


def test_grid_shape_order_and_inactive_latent(tiny_vae, tiny_images, inactive_latent):
    model, params = tiny_vae
    seeds = tiny_images[:3]
    grid = viz.traverse(model, params, seeds, reference_images=tiny_images, num_steps=6)
    assert grid.images.shape == (3, NUM_LATENTS, 6, 8, 8, 1)
    assert grid.values.shape == (NUM_LATENTS, 6)
    assert sorted(np.asarray(grid.latents).tolist()) == list(range(NUM_LATENTS))
    kl = np.asarray(grid.kl)
    assert np.all(np.diff(kl) <= 0), "rows are ordered by decreasing average KL"
    mean, logvar = decoding.encode_images(model, params, tiny_images)
    np.testing.assert_allclose(kl, np.asarray(viz.latent_kl(mean, logvar))[grid.latents], rtol=1e-6)
    row = int(np.flatnonzero(np.asarray(grid.latents) == inactive_latent)[0])
    assert row == NUM_LATENTS - 1 and not bool(grid.active[row])
    assert bool(np.all(np.asarray(grid.active)[:row]))
    images = np.asarray(grid.images)
    # The switched-off latent's row is constant along the sweep; every active row moves.
    np.testing.assert_array_equal(
        images[:, row], np.broadcast_to(images[:, row, :1], (3, 6, 8, 8, 1))
    )
    for r in range(row):
        assert np.abs(images[:, r, -1] - images[:, r, 0]).max() > 0.05
    assert images.min() >= 0.0 and images.max() <= 1.0


def test_held_latents_are_the_seed_posterior_means(tiny_vae, tiny_images):
    model, params = tiny_vae
    grid = viz.traverse(model, params, tiny_images[:2], order="index", latents=[1, 0])
    assert np.asarray(grid.latents).tolist() == [1, 0]
    mean, _ = decoding.encode_images(model, params, tiny_images[:2])
    z = np.asarray(mean)[:, None].repeat(grid.values.shape[1], 1)
    z[:, :, 1] = np.asarray(grid.values)[0]
    expected = decoding.decode_latents(model, params, z)
    np.testing.assert_allclose(np.asarray(grid.images[:, 0]), np.asarray(expected), atol=1e-6)


def test_latent_out_of_range_names_the_valid_range(tiny_vae, tiny_images):
    model, params = tiny_vae
    with pytest.raises(ValueError, match=r"index 7 is out of range.*0\.\.3"):
        viz.traverse(model, params, tiny_images[:2], latents=[0, 7])
    with pytest.raises(ValueError, match="out of range"):
        viz.check_latents([-1], 4)
    with pytest.raises(ValueError, match="distinct"):
        viz.check_latents([1, 1], 4)


def test_bad_images_and_output_are_rejected(tiny_vae):
    model, params = tiny_vae
    with pytest.raises(ValueError, match="images"):
        viz.traverse(model, params, np.zeros((8, 8, 1)))
    with pytest.raises(ValueError, match="output"):
        viz.traverse(model, params, np.zeros((1, 8, 8, 1)), output="tanh")


def test_whole_grid_is_decoded_by_one_traced_program(make_vae, monkeypatch):
    make_tiny_vae, tiny_params = make_vae
    model = make_tiny_vae(num_latents=3, image_shape=(5, 5, 1))  # a fresh static model
    params = tiny_params(model, inactive=())
    images = np.full((2, 5, 5, 1), 0.5, np.float32)
    calls = []
    original = vae_module.decode

    def counting_decode(*args):
        calls.append(args[2].shape)
        return original(*args)

    monkeypatch.setattr(vae_module, "decode", counting_decode)
    viz.traverse(model, params, images, num_steps=7)
    assert calls == [(2 * 3 * 7, 3)]  # one trace of one batched decode for the whole grid


def test_chunked_decoding_equals_one_batch(tiny_vae):
    model, params = tiny_vae
    z = jax.random.normal(jax.random.key(3), (2, 13, NUM_LATENTS))
    whole = decoding.decode_latents(model, params, z, batch_size=64)
    chunked = decoding.decode_latents(model, params, z, batch_size=5)
    assert whole.shape == (2, 13, 8, 8, 1)
    np.testing.assert_allclose(np.asarray(chunked), np.asarray(whole), atol=1e-6)


def test_outputs_are_sigmoid_or_clipped_decoder_values(tiny_vae):
    model, params = tiny_vae
    z = np.linspace(-3, 3, 2 * NUM_LATENTS, dtype=np.float32).reshape(2, NUM_LATENTS)
    logits = np.asarray(vae_module.decode(model, params, z), np.float64)
    sigmoid = np.asarray(decoding.decode_latents(model, params, z))
    clipped = np.asarray(decoding.decode_latents(model, params, z, output="clip"))
    np.testing.assert_allclose(sigmoid, 1.0 / (1.0 + np.exp(-logits)), atol=1e-6)
    np.testing.assert_allclose(clipped, np.clip(logits, 0.0, 1.0), atol=1e-6)
    with pytest.raises(ValueError, match="batch_size"):
        decoding.decode_latents(model, params, z, batch_size=0)
