"""The sub-pixel and matmul forms of stride-2 (transposed) convolutions equal lax.

Oracle: ``lax.conv_general_dilated`` / ``lax.conv_transpose`` in float64 (values and
gradients agree to ~1e-12 because the forms compute the same sums in another order), and
``flax.linen.Conv`` / ``ConvTranspose`` for the modules' parameter layout.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from disentax.models import (
    StridedConv,
    StridedConvTranspose,
    conv2d,
    conv_transpose2d,
    default_form,
    depth_to_space,
    space_to_depth,
)

CASES = [(4, 1, 3), (4, 3, 5), (4, 3, 1), (2, 3, 4)]  # (kernel, in channels, out channels)


@pytest.mark.parametrize("op", [conv2d, conv_transpose2d], ids=["conv", "conv_transpose"])
@pytest.mark.parametrize("k,c,o", CASES)
def test_forms_equal_lax_in_float64(op, k, c, o):
    rng = np.random.default_rng(k * 100 + c * 10 + o)
    with jax.enable_x64(True):
        x = jnp.asarray(rng.normal(size=(2, 8, 6, c)))
        w = jnp.asarray(rng.normal(size=(k, k, c, o)))
        g = jnp.asarray(rng.normal(size=op(x, w, form="lax").shape))

        @jax.jit
        def values_and_grads(x, w, g):
            def loss(x, w, f):
                return jnp.sum(op(x, w, form=f) * g)

            forms = ("lax", "subpixel", "matmul")
            if op is conv_transpose2d:
                forms += ("col2im",)
            return [(op(x, w, form=f), *jax.grad(loss, (0, 1))(x, w, f)) for f in forms]

        reference, *others = values_and_grads(x, w, g)
        assert reference[0].dtype == jnp.float64
        for other in others:
            for a, b in zip(other, reference, strict=True):
                assert a.shape == b.shape
                scale = max(1.0, float(jnp.max(jnp.abs(b))))
                np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-12 * scale)


@pytest.mark.parametrize(
    "op,x_shape,k_shape",
    [(conv2d, (2, 32, 32, 8), (4, 4, 8, 5)), (conv_transpose2d, (2, 16, 16, 5), (4, 4, 5, 8))],
    ids=["conv", "conv_transpose"],
)
def test_large_layer_paths_equal_lax_in_float64(op, x_shape, k_shape):
    # Inputs (or cotangents) of >= 32x32 pixels and >= 8 channels take the space-to-depth
    # paths: the stride-1 form of the convolution and its G^T P kernel gradient.
    rng = np.random.default_rng(7)
    with jax.enable_x64(True):
        x = jnp.asarray(rng.normal(size=x_shape))
        w = jnp.asarray(rng.normal(size=k_shape))
        g = jnp.asarray(rng.normal(size=op(x, w, form="lax").shape))

        @functools.partial(jax.jit, static_argnames="form")
        def value_and_grads(x, w, form):
            return jax.value_and_grad(lambda x, w: jnp.sum(op(x, w, form=form) * g), (0, 1))(x, w)

        want = value_and_grads(x, w, "lax")
        for form in ("subpixel", "col2im") if op is conv_transpose2d else ("subpixel",):
            got = value_and_grads(x, w, form)
            for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
                scale = max(1.0, float(jnp.max(jnp.abs(b))))
                np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-12 * scale)


def test_space_to_depth_round_trip_and_layout():
    x = jnp.arange(2 * 4 * 6 * 3, dtype=jnp.float32).reshape(2, 4, 6, 3)
    s = space_to_depth(x)
    assert s.shape == (2, 2, 3, 12)
    # channel (2*py + px)*C + c of block (i, j) is x[2i+py, 2j+px, c]
    np.testing.assert_array_equal(s[1, 1, 2, (2 * 1 + 0) * 3 + 2], x[1, 3, 4, 2])
    np.testing.assert_array_equal(depth_to_space(s), x)


@pytest.mark.parametrize("form", ["lax", "subpixel", "matmul", "col2im"])
def test_modules_match_flax_layers_with_the_same_params(form):
    x = jax.random.uniform(jax.random.key(0), (2, 16, 16, 3))
    conv = StridedConv(5, 4, form=form if form != "col2im" else "lax")  # deconv-only form
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
    with pytest.raises(ValueError, match="form of a convolution must be one of"):
        conv2d(x, jnp.zeros((4, 4, 2, 3)), form="fft")
    with pytest.raises(ValueError, match="form of a convolution must be one of"):
        conv2d(x, jnp.zeros((4, 4, 2, 3)), form="col2im")  # a transposed-convolution form
    with pytest.raises(ValueError, match="even kernel_size"):
        conv_transpose2d(x, jnp.zeros((3, 3, 2, 3)), form="col2im")
    with pytest.raises(ValueError, match="even kernel_size"):
        conv_transpose2d(x, jnp.zeros((3, 3, 2, 3)), form="matmul")
    with pytest.raises(ValueError, match="even input height"):
        conv2d(jnp.zeros((1, 7, 8, 2)), jnp.zeros((4, 4, 2, 3)), form="subpixel")
    with pytest.raises(ValueError, match="kind must be"):
        default_form("pool", in_channels=1, out_channels=1)
    # Odd kernels fall back to lax when the form is left to the backend default.
    out = jax.eval_shape(lambda x: StridedConv(3, 3).init_with_output(jax.random.key(0), x)[0], x)
    assert out.shape == (1, 4, 4, 3)


def test_default_form_is_lax_off_cpu():
    assert default_form("conv", in_channels=32, out_channels=32, backend="tpu") == "lax"
    assert default_form("conv_transpose", in_channels=32, out_channels=1, backend="gpu") == "lax"


@pytest.mark.parametrize("k", [2, 4])
def test_space_to_depth_kernel_grad_equals_lax_in_float64(k):
    # The G^T P kernel gradient used by large layers (inputs >= 32x32) against lax's VJP.
    from disentax.models.im2col import conv_kernel_grad

    rng = np.random.default_rng(k)
    with jax.enable_x64(True):
        x = jnp.asarray(rng.normal(size=(2, 8, 6, 3)))
        g = jnp.asarray(rng.normal(size=(2, 4, 3, 5)))
        kernel = jnp.zeros((k, k, 3, 5))
        _, vjp = jax.vjp(lambda w: conv2d(x, w, form="lax"), kernel)
        expected = vjp(g)[0]
        got = jax.jit(conv_kernel_grad, static_argnums=2)(x, g, k)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * float(jnp.max(expected)))
