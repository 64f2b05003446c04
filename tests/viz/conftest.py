"""Fixtures of the viz tests: a tiny dense VAE whose weights the tests control.

The encoder and decoder are single dense layers so a test can make a latent exactly
inactive: zero encoder weights and biases for latent ``j`` give ``mean_j = 0`` and
``logvar_j = 0`` (KL exactly 0), and a zero decoder row makes the image independent of
``z_j``. The modules plug into ``disentax.models.VAE`` so the library functions run
through the real ``encode``/``decode`` path.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from disentax.models import VAE

IMAGE_SHAPE = (8, 8, 1)
NUM_LATENTS = 4
INACTIVE = 2  # the latent the `tiny_vae` fixture switches off


class TinyEncoder(nn.Module):
    num_latents: int

    @nn.compact
    def __call__(self, images):
        flat = images.reshape(images.shape[0], -1)
        mean = nn.Dense(self.num_latents, name="mean")(flat)
        logvar = nn.Dense(self.num_latents, name="logvar")(flat)
        return mean, logvar


class TinyDecoder(nn.Module):
    image_shape: tuple

    @nn.compact
    def __call__(self, z):
        logits = nn.Dense(int(np.prod(self.image_shape)), name="out")(z)
        return logits.reshape(z.shape[0], *self.image_shape)


def make_tiny_vae(num_latents: int = NUM_LATENTS, image_shape=IMAGE_SHAPE) -> VAE:
    return VAE(TinyEncoder(num_latents), TinyDecoder(tuple(image_shape)))


def tiny_params(model: VAE, *, inactive=(INACTIVE,), seed: int = 0):
    """Random weights (scaled so latents are informative) with ``inactive`` switched off."""
    num_latents, size = model.num_latents, int(np.prod(model.image_shape))
    rng = np.random.default_rng(seed)
    enc_mean = rng.normal(0.0, 1.0, (size, num_latents)) / np.sqrt(size) * 4.0
    enc_logvar = rng.normal(0.0, 0.1, (size, num_latents))
    dec = rng.normal(0.0, 2.0, (num_latents, size))
    bias_logvar = np.full(num_latents, -2.0)
    for j in inactive:
        enc_mean[:, j] = 0.0
        enc_logvar[:, j] = 0.0
        bias_logvar[j] = 0.0
        dec[j, :] = 0.0
    f32 = lambda a: jnp.asarray(a, jnp.float32)
    return {
        "encoder": {
            "mean": {"kernel": f32(enc_mean), "bias": jnp.zeros(num_latents)},
            "logvar": {"kernel": f32(enc_logvar), "bias": f32(bias_logvar)},
        },
        "decoder": {"out": {"kernel": f32(dec), "bias": jnp.zeros(size)}},
    }


@pytest.fixture(scope="session")
def inactive_latent() -> int:
    return INACTIVE


@pytest.fixture(scope="session")
def make_vae():
    """The factory pair ``(make_tiny_vae, tiny_params)`` for tests needing other weights."""
    return make_tiny_vae, tiny_params


@pytest.fixture(scope="module")
def tiny_vae():
    model = make_tiny_vae()
    return model, tiny_params(model)


@pytest.fixture(scope="module")
def tiny_images():
    """``[24, 8, 8, 1]`` random images in [0, 1]."""
    return jax.random.uniform(jax.random.key(1), (24, *IMAGE_SHAPE), jnp.float32)
