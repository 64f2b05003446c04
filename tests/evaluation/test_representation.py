"""disentax.evaluation.representation: representation functions follow the model's encoder.

Oracle: ``disentax.models.vae.encode`` of the shared tiny VAE (``tests/conftest.py``).
"""

import jax
import numpy as np
import pytest

import disentax.data as dd
from disentax import evaluation
from disentax.models.vae import encode


def test_representation_functions_follow_the_encoder(tiny_vae, tiny_images):
    model, params = tiny_vae
    mean, logvar = encode(model, params, tiny_images)
    rep = evaluation.make_representation_fn(model, params)
    np.testing.assert_allclose(jax.jit(lambda f, x: f(x))(rep, tiny_images), mean, rtol=1e-5)
    post_mean, post_logvar = evaluation.make_posterior_fn(model, params)(tiny_images)
    np.testing.assert_allclose(post_mean, mean, rtol=1e-5)
    np.testing.assert_allclose(post_logvar, logvar, rtol=1e-5)
    sampled = evaluation.make_representation_fn(model, params, mode="sampled")
    first, second = sampled(tiny_images), sampled(tiny_images)
    np.testing.assert_array_equal(first, second)  # a fixed function of the image
    z = (np.asarray(first) - np.asarray(mean)) / np.exp(0.5 * np.asarray(logvar))
    assert np.all(np.abs(z) < 6) and np.std(z) > 0.3  # standard normal noise
    with pytest.raises(ValueError, match="mode"):
        evaluation.make_representation_fn(model, params, mode="median")


def test_sample_codes_encodes_the_sampled_factors():
    data = dd.Identity(factor_sizes=(3, 4))
    codes, factors = evaluation.sample_codes(
        jax.random.key(0), data, lambda images: images.reshape(images.shape[0], -1), 50
    )
    assert codes.shape == (50, 2) and factors.shape == (50, 2)
    np.testing.assert_allclose(codes, np.asarray(factors) / np.array([2.0, 3.0]), rtol=1e-6)
