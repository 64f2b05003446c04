"""Reference architectures, factories and the pure functions of disentax.models.vae.

Oracles: the layer shapes of Locatello et al. 2019 (Table 1) and of Kim & Mnih 2018 for
the discriminator; the reparameterisation identity ``z = mean + exp(logvar/2) * eps``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from disentax import models

IMAGE_SHAPE = (64, 64, 1)


@pytest.fixture(scope="module")
def conv_vae():
    model = models.make_model("conv", num_latents=6, image_shape=IMAGE_SHAPE)
    return model, models.init_params(model, jax.random.key(0))


def test_conv_vae_has_the_reference_layers(conv_vae):
    model, params = conv_vae
    shapes = jax.tree.map(jnp.shape, params)
    enc, dec = shapes["encoder"], shapes["decoder"]
    assert [enc[f"conv{i}"]["kernel"] for i in range(4)] == [
        (4, 4, 1, 32),
        (4, 4, 32, 32),
        (2, 2, 32, 64),
        (2, 2, 64, 64),
    ]
    assert enc["hidden"]["kernel"] == (1024, 256)
    assert enc["mean"]["kernel"] == enc["logvar"]["kernel"] == (256, 6)
    assert dec["hidden"]["kernel"] == (6, 256) and dec["project"]["kernel"] == (256, 1024)
    assert [dec[f"deconv{i}"]["kernel"] for i in range(4)] == [
        (4, 4, 64, 64),
        (4, 4, 64, 32),
        (4, 4, 32, 32),
        (4, 4, 32, 1),
    ]
    assert model.num_latents == 6 and model.image_shape == IMAGE_SHAPE


def test_forward_is_the_reparameterised_composition_of_encode_and_decode(conv_vae):
    model, params = conv_vae
    images = jax.random.uniform(jax.random.key(1), (3, *IMAGE_SHAPE))
    key = jax.random.key(2)

    @jax.jit
    def run(params, images, key):
        out = models.forward(model, params, images, key)
        return out, models.encode(model, params, images), models.decode(model, params, out.z)

    out, (mean, logvar), logits = run(params, images, key)
    assert isinstance(out, models.VAEOutput)
    assert out.z.shape == (3, 6) and out.logits.shape == (3, *IMAGE_SHAPE)
    np.testing.assert_allclose(out.mean, mean, atol=1e-6)
    np.testing.assert_allclose(out.logvar, logvar, atol=1e-6)
    eps = jax.random.normal(key, (3, 6))
    np.testing.assert_allclose(out.z, mean + jnp.exp(0.5 * logvar) * eps, atol=1e-5)
    np.testing.assert_allclose(out.logits, logits, atol=1e-5)
    np.testing.assert_array_equal(run(params, images, key)[0].z, out.z)


def test_layer_forms_change_neither_params_nor_outputs(conv_vae):
    model, params = conv_vae
    other = models.make_model(
        "conv",
        num_latents=6,
        encoder_forms=("lax", "subpixel", "lax", "matmul"),
        decoder_forms=["col2im", "subpixel", "matmul", "lax"],  # a list is taken too
    )
    shapes = jax.eval_shape(lambda k: models.init_params(other, k), jax.random.key(0))
    assert jax.tree.map(jnp.shape, shapes) == jax.tree.map(jnp.shape, params)
    images = jax.random.uniform(jax.random.key(3), (2, *IMAGE_SHAPE))
    outs = jax.jit(
        lambda p: [models.forward(m, p, images, jax.random.key(4)) for m in (model, other)]
    )(params)
    for a, b in zip(*outs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_fc_vae_and_discriminator_shapes():
    fc = models.make_model("fc", num_latents=4, image_shape=(8, 8, 3))
    shapes = jax.eval_shape(lambda k: models.init_params(fc, k), jax.random.key(0))
    shapes = jax.tree.map(jnp.shape, shapes)
    assert shapes["encoder"]["hidden0"]["kernel"] == (192, 1200)
    assert shapes["encoder"]["hidden1"]["kernel"] == (1200, 1200)
    assert [shapes["decoder"][f"hidden{i}"]["kernel"][1] for i in range(3)] == [1200] * 3
    assert shapes["decoder"]["logits"]["kernel"] == (1200, 192)
    params = models.init_params(fc, jax.random.key(0))
    out = jax.jit(lambda p, x, k: models.forward(fc, p, x, k))(
        params, jnp.zeros((2, 8, 8, 3)), jax.random.key(1)
    )
    assert out.logits.shape == (2, 8, 8, 3)

    disc = models.make_discriminator(4)
    dparams = models.init_params(disc, jax.random.key(0))
    assert [dparams[f"hidden{i}"]["kernel"].shape[1] for i in range(6)] == [1000] * 6
    assert dparams["logits"]["kernel"].shape == (1000, 2)
    logits = jax.jit(disc.apply)({"params": dparams}, jnp.ones((5, 4)))
    assert logits.shape == (5, 2)


def test_init_params_is_one_program_per_model_and_deterministic(conv_vae, compile_events):
    model, params = conv_vae
    again = models.init_params(model, jax.random.key(0))
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(a, b)
    # One cached jitted program serves every call with an equal model.
    with compile_events() as events:
        models.init_params(models.make_model("conv", num_latents=6), jax.random.key(5))
    assert events == []


def test_bad_arguments_raise(conv_vae):
    model, params = conv_vae
    with pytest.raises(ValueError, match="name must be one of"):
        models.make_model("resnet")
    with pytest.raises(ValueError, match="num_latents"):
        models.make_model("conv", num_latents=0)
    with pytest.raises(ValueError, match="image_shape"):
        models.make_model("conv", image_shape=(64, 64))
    with pytest.raises(TypeError, match="unexpected arguments"):
        models.make_model("fc", encoder_forms=None)
    with pytest.raises(ValueError, match=r"images must have shape \[N, 64, 64, 1\]"):
        models.encode(model, params, jnp.zeros((2, 32, 32, 1)))
    with pytest.raises(ValueError, match=r"z must have shape \[N, 6\]"):
        models.decode(model, params, jnp.zeros((2, 5)))
    with pytest.raises(ValueError, match="forms must be None or a tuple of 4 entries"):
        models.init_params(models.make_model("conv", encoder_forms=("lax",)), jax.random.key(0))
    with pytest.raises(ValueError, match=r"4 entries from \('lax', 'subpixel', 'matmul'\)"):
        bad = models.make_model("conv", encoder_forms=("col2im", None, None, None))
        models.init_params(bad, jax.random.key(0))
    with pytest.raises(ValueError, match="divisible by 16"):
        models.init_params(models.make_model("conv", image_shape=(40, 40, 1)), jax.random.key(0))
    with pytest.raises(TypeError, match="VAE or a Discriminator"):
        models.init_params(models.ConvEncoder(), jax.random.key(0))


@pytest.mark.parametrize("name", ["conv", "fc"])
def test_bfloat16_computation_keeps_float32_parameters_and_outputs(name):
    # Mixed precision: the same float32 parameters, every layer computed in bfloat16, the
    # encoder/decoder outputs returned as float32. bfloat16 keeps 8 significand bits
    # (relative rounding 2^-8 ~ 0.4 % per operation), so outputs agree with float32 to a
    # few percent of their scale, and gradients are float32 and finite.
    m32 = models.make_model(name)
    m16 = models.make_model(name, dtype="bfloat16")
    params = models.init_params(m32, jax.random.key(0))
    chex_equal = jax.tree.map(
        lambda a, b: bool((a == b).all()), params, models.init_params(m16, jax.random.key(0))
    )
    assert all(jax.tree.leaves(chex_equal))
    images = jax.random.uniform(jax.random.key(1), (8, 64, 64, 1))
    out32 = models.forward(m32, params, images, jax.random.key(2))
    out16 = models.forward(m16, params, images, jax.random.key(2))
    for field in ("mean", "logvar", "logits"):
        a, b = getattr(out32, field), getattr(out16, field)
        assert b.dtype == jnp.float32
        scale = float(jnp.abs(a).max())
        assert float(jnp.abs(a - b).max()) <= 0.05 * scale + 1e-3, field
        assert float(jnp.abs(a - b).max()) > 0, "bfloat16 was not used"

    def loss(p, model):
        return jnp.mean(models.forward(model, p, images, jax.random.key(2)).logits ** 2)

    g32 = jax.grad(loss)(params, m32)
    g16 = jax.grad(loss)(params, m16)
    for a, b in zip(jax.tree.leaves(g32), jax.tree.leaves(g16), strict=True):
        assert b.dtype == jnp.float32 and b.shape == a.shape and bool(jnp.isfinite(b).all())
    flat32 = jnp.concatenate([x.ravel() for x in jax.tree.leaves(g32)])
    flat16 = jnp.concatenate([x.ravel() for x in jax.tree.leaves(g16)])
    cosine = jnp.dot(flat32, flat16) / (jnp.linalg.norm(flat32) * jnp.linalg.norm(flat16))
    assert float(cosine) > 0.95  # measured 0.978 (conv) on this input


def test_unknown_dtype_is_rejected():
    with pytest.raises(ValueError, match="dtype must be one of"):
        models.make_model("conv", dtype="float64")
    with pytest.raises(ValueError, match="dtype must be one of"):
        models.make_model("fc", dtype="int8")
