"""The stride-2 layers (``StridedConv``, ``StridedConvTranspose``) in every form equal lax.

Oracle: ``lax.conv_general_dilated`` / ``lax.conv_transpose`` in float64, i.e. each layer
with ``form="lax"`` (values and gradients agree to ~1e-12 because the forms compute the same
sums in another order), and ``flax.linen.Conv`` / ``ConvTranspose`` for the modules'
parameter layout. The forms are reached through the layers' ``form=`` argument only.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from disentax.models import (
    CONV_FORMS,
    FORMS,
    StridedConv,
    StridedConvTranspose,
    default_form,
)

CASES = [(4, 1, 3), (4, 3, 5), (4, 3, 1), (2, 3, 4)]  # (kernel, in channels, out channels)
LAYERS = {"conv": (StridedConv, CONV_FORMS), "conv_transpose": (StridedConvTranspose, FORMS)}


def layer_fn(kind, form):
    """``(x [N,H,W,C], kernel [k,k,C,O]) -> y``: the layer in ``form`` with a zero bias."""
    layer_cls, _ = LAYERS[kind]

    def apply(x, kernel):
        layer = layer_cls(kernel.shape[-1], kernel.shape[0], form=form)
        bias = jnp.zeros(kernel.shape[-1], kernel.dtype)
        return layer.apply({"params": {"kernel": kernel, "bias": bias}}, x)

    return apply


def assert_close_to(got, want):
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert a.shape == b.shape
        scale = max(1.0, float(jnp.max(jnp.abs(b))))
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-12 * scale)


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("k,c,o", CASES)
def test_forms_equal_lax_in_float64(kind, k, c, o):
    rng = np.random.default_rng(k * 100 + c * 10 + o)
    forms = LAYERS[kind][1]
    with jax.enable_x64(True):
        x = jnp.asarray(rng.normal(size=(2, 8, 6, c)))
        w = jnp.asarray(rng.normal(size=(k, k, c, o)))
        g = jnp.asarray(rng.normal(size=layer_fn(kind, "lax")(x, w).shape))

        @jax.jit
        def values_and_grads(x, w, g):
            def loss(x, w, f):
                return jnp.sum(layer_fn(kind, f)(x, w) * g)

            return [(layer_fn(kind, f)(x, w), *jax.grad(loss, (0, 1))(x, w, f)) for f in forms]

        reference, *others = values_and_grads(x, w, g)
        assert reference[0].dtype == jnp.float64
        for other in others:
            assert_close_to(other, reference)


@pytest.mark.parametrize(
    "kind,x_shape,k_shape",
    [
        ("conv", (2, 32, 32, 8), (4, 4, 8, 5)),
        ("conv", (2, 32, 32, 8), (2, 2, 8, 5)),
        ("conv_transpose", (2, 16, 16, 5), (4, 4, 5, 8)),
    ],
    ids=["conv_k4", "conv_k2", "conv_transpose"],
)
def test_large_layer_paths_equal_lax_in_float64(kind, x_shape, k_shape):
    # Inputs (or cotangents) of >= 32x32 pixels and >= 8 channels take the space-to-depth
    # paths: the stride-1 form of the convolution and its G^T P kernel gradient (k4 and k2).
    rng = np.random.default_rng(7)
    with jax.enable_x64(True):
        x = jnp.asarray(rng.normal(size=x_shape))
        w = jnp.asarray(rng.normal(size=k_shape))
        g = jnp.asarray(rng.normal(size=layer_fn(kind, "lax")(x, w).shape))

        @functools.partial(jax.jit, static_argnames="form")
        def value_and_grads(x, w, form):
            fn = layer_fn(kind, form)
            return jax.value_and_grad(lambda x, w: jnp.sum(fn(x, w) * g), (0, 1))(x, w)

        want = value_and_grads(x, w, "lax")
        for form in ("subpixel", "col2im") if kind == "conv_transpose" else ("subpixel",):
            assert_close_to(value_and_grads(x, w, form), want)


@pytest.mark.parametrize("form", FORMS)
def test_modules_match_flax_layers_with_the_same_params(form):
    x = jax.random.uniform(jax.random.key(0), (2, 16, 16, 3))
    conv = StridedConv(5, 4, form=form if form in CONV_FORMS else "lax")  # deconv-only form
    ref_conv = nn.Conv(5, (4, 4), strides=(2, 2), padding="SAME")
    params = jax.jit(conv.init)(jax.random.key(1), x)
    ref_params = jax.eval_shape(ref_conv.init, jax.random.key(1), x)
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, ref_params)
    np.testing.assert_allclose(
        jax.jit(conv.apply)(params, x), jax.jit(ref_conv.apply)(params, x), atol=1e-5
    )

    deconv = StridedConvTranspose(4, 4, form=form)
    ref_deconv = nn.ConvTranspose(4, (4, 4), strides=(2, 2), padding="SAME")
    params = jax.jit(deconv.init)(jax.random.key(2), x)
    ref_params = jax.eval_shape(ref_deconv.init, jax.random.key(2), x)
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, ref_params)
    out = jax.jit(deconv.apply)(params, x)
    assert out.shape == (2, 32, 32, 4)
    np.testing.assert_allclose(out, jax.jit(ref_deconv.apply)(params, x), atol=1e-5)


def test_bad_forms_raise():
    x = jnp.zeros((1, 8, 8, 2))

    def init(layer, x=x):
        return jax.eval_shape(layer.init, jax.random.key(0), x)

    with pytest.raises(ValueError, match="form of a convolution must be one of"):
        init(StridedConv(3, 4, form="fft"))
    with pytest.raises(ValueError, match="form of a convolution must be one of"):
        init(StridedConv(3, 4, form="col2im"))  # a transposed-convolution form
    with pytest.raises(ValueError, match="even kernel_size"):
        init(StridedConvTranspose(3, 3, form="col2im"))
    with pytest.raises(ValueError, match="even kernel_size"):
        init(StridedConvTranspose(3, 3, form="matmul"))
    with pytest.raises(ValueError, match="even input height"):
        init(StridedConv(3, 4, form="subpixel"), jnp.zeros((1, 7, 8, 2)))
    with pytest.raises(ValueError, match="kind must be"):
        default_form("pool", in_channels=1, out_channels=1)
    # Odd kernels fall back to lax when the form is left to the backend default.
    out = jax.eval_shape(lambda x: StridedConv(3, 3).init_with_output(jax.random.key(0), x)[0], x)
    assert out.shape == (1, 4, 4, 3)


def test_default_form_is_lax_off_cpu():
    assert default_form("conv", in_channels=32, out_channels=32, backend="tpu") == "lax"
    assert default_form("conv_transpose", in_channels=32, out_channels=1, backend="gpu") == "lax"
    assert default_form("conv_transpose", in_channels=32, out_channels=1, backend="cpu") in FORMS
