"""Formulations of the reference VAE's strided layers, for the per-layer profile.

The reference convolutional VAE (Locatello et al. 2019; disentanglement_lib
``methods/shared/architectures.py``) has stride-2 convolutions in the encoder and stride-2
transposed convolutions in the decoder. XLA:CPU runs transposed convolutions and the input
gradient of strided convolutions far below its plain-convolution rate, so these exact
reformulations are profiled against the plain ``lax`` forms (``benchmarks/layers.py``):

- ``conv_s2d``: a ``k x k`` stride-2 convolution equals a ``k/2 x k/2`` stride-1
  convolution of the space-to-depth (2x2 blocks) rearranged, padded input, with the
  kernel's taps regrouped by parity (``W2[t, (b, c_in)] = w[2t + b, c_in]``). Its
  gradients are those of a stride-1 convolution plus reshapes.
- ``conv_subpixel_vjp``: the plain forward with a ``jax.custom_vjp`` whose input gradient
  is one stride-1 convolution with ``4 C_in`` outputs followed by depth-to-space.
- ``deconv_subpixel``: a ``k=4`` stride-2 transposed convolution equals one 2x2 stride-1
  convolution with ``4 C_out`` output channels over the input padded by one, then
  depth-to-space where output phase ``(a, b)`` is read at offset ``(a, b)``
  (``x[2p + a] = sum_t ypad[p + a + t] v[2t + a]``; sub-pixel convolution, Shi et al.
  2016).

All forms use NHWC activations and HWIO kernels (``jax.lax`` defaults) and give the same
numbers as the plain form up to float rounding (``tests/benchmarks`` checks this in
float64).

References:
  Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient
  Sub-Pixel Convolutional Neural Network", CVPR 2016.
  Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning of
  Disentangled Representations", ICML 2019.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

# (output channels, kernel, stride) of the reference encoder convolutions and of the
# decoder's transposed convolutions (the last one has the image's channel count).
ENCODER_CONVS = ((32, 4, 2), (32, 4, 2), (64, 2, 2), (64, 2, 2))
DECODER_DECONVS = ((64, 4, 2), (32, 4, 2), (32, 4, 2), (None, 4, 2))
HIDDEN = 256
DN = ("NHWC", "HWIO", "NHWC")


def _same_pads(kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow SAME padding for an input size divisible by the stride."""
    total = max(kernel - stride, 0)
    return total // 2, total - total // 2


def conv_plain(x: jax.Array, w: jax.Array, stride: int = 2) -> jax.Array:
    """``[N,H,W,Ci] x [k,k,Ci,Co] -> [N,H/s,W/s,Co]``: ``lax`` convolution, SAME padding."""
    pad = _same_pads(w.shape[0], stride)
    return lax.conv_general_dilated(x, w, (stride, stride), (pad, pad), dimension_numbers=DN)


def space_to_depth(x: jax.Array) -> jax.Array:
    """``[N,2H,2W,C] -> [N,H,W,4C]`` with channel order ``(row parity, col parity, C)``."""
    n, h, w, c = x.shape
    x = x.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(n, h // 2, w // 2, 4 * c)


def depth_to_space(x: jax.Array) -> jax.Array:
    """``[N,H,W,4C] -> [N,2H,2W,C]``, the inverse of :func:`space_to_depth`."""
    n, h, w, c4 = x.shape
    c = c4 // 4
    x = x.reshape(n, h, w, 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(n, 2 * h, 2 * w, c)


def _parity_kernel(w: jax.Array) -> jax.Array:
    """``[2T,2T,Ci,Co] -> [T,T,4Ci,Co]``: ``W2[t, u, (a, b, ci)] = w[2t + a, 2u + b, ci]``."""
    k, _, ci, co = w.shape
    t = k // 2
    w = w.reshape(t, 2, t, 2, ci, co).transpose(0, 2, 1, 3, 4, 5)
    return w.reshape(t, t, 4 * ci, co)


def conv_s2d(x: jax.Array, w: jax.Array) -> jax.Array:
    """Stride-2 SAME convolution as space-to-depth + stride-1 VALID convolution."""
    lo, hi = _same_pads(w.shape[0], 2)
    xp = jnp.pad(x, ((0, 0), (lo, hi), (lo, hi), (0, 0)))
    return lax.conv_general_dilated(
        space_to_depth(xp), _parity_kernel(w), (1, 1), "VALID", dimension_numbers=DN
    )


def _conv_input_grad_subpixel(dy: jax.Array, w: jax.Array, x_shape) -> jax.Array:
    """Input gradient of the stride-2 SAME convolution via one stride-1 convolution."""
    k = w.shape[0]
    lo, hi = _same_pads(k, 2)
    t = k // 2
    # dxpad[2q + a] = sum_t dy[q - t] w[2t + a]: a T x T convolution over dy padded by
    # T - 1 on both sides, flipped taps, 4 Ci outputs, then depth-to-space.
    kern = _parity_kernel(w)[::-1, ::-1]  # [T, T, 4Ci, Co] flipped in space
    kern = jnp.swapaxes(kern, 2, 3)  # [T, T, Co, 4Ci]
    dyp = jnp.pad(dy, ((0, 0), (t - 1, t - 1), (t - 1, t - 1), (0, 0)))
    dxp = depth_to_space(lax.conv_general_dilated(dyp, kern, (1, 1), "VALID", dimension_numbers=DN))
    h, wd = x_shape[1], x_shape[2]
    return dxp[:, lo : lo + h, lo : lo + wd, :]


@jax.custom_vjp
def conv_subpixel_vjp(x: jax.Array, w: jax.Array) -> jax.Array:
    """Stride-2 SAME convolution whose input gradient uses the sub-pixel form."""
    return conv_plain(x, w)


def _conv_fwd(x, w):
    return conv_plain(x, w), (x, w)


def _conv_bwd(res, dy):
    x, w = res
    _, weight_vjp = jax.vjp(lambda w_: conv_plain(x, w_), w)
    (dw,) = weight_vjp(dy)
    return _conv_input_grad_subpixel(dy, w, x.shape), dw


conv_subpixel_vjp.defvjp(_conv_fwd, _conv_bwd)


def deconv_plain(y: jax.Array, v: jax.Array) -> jax.Array:
    """``[N,H,W,Ci] x [4,4,Ci,Co] -> [N,2H,2W,Co]``: ``lax.conv_transpose``, SAME (Flax)."""
    return lax.conv_transpose(y, v, (2, 2), "SAME", dimension_numbers=DN)


def deconv_subpixel(y: jax.Array, v: jax.Array) -> jax.Array:
    """The same transposed convolution as one 2x2 stride-1 convolution + depth-to-space."""
    _, h, w, _ = y.shape
    yp = jnp.pad(y, ((0, 0), (1, 1), (1, 1), (0, 0)))
    # Output channels ordered (a, b, co): phase (a, b) takes taps v[2t + a, 2u + b].
    out = lax.conv_general_dilated(yp, _subpixel_kernel(v), (1, 1), "VALID", dimension_numbers=DN)
    return _interleave_phases(out, h, w)


def _conv_valid_dot(x: jax.Array, kern: jax.Array) -> jax.Array:
    """Stride-1 VALID convolution as im2col (``T*T`` shifted slices) + one matmul."""
    t = kern.shape[0]
    n, h, w, _ = x.shape
    ho, wo = h - t + 1, w - t + 1
    if t == 1:
        patches = x
    else:
        patches = jnp.concatenate(
            [x[:, i : i + ho, j : j + wo, :] for i in range(t) for j in range(t)], axis=-1
        )
    return jnp.dot(patches, kern.reshape(-1, kern.shape[-1]))


def conv_s2d_dot(x: jax.Array, w: jax.Array) -> jax.Array:
    """:func:`conv_s2d` with its stride-1 convolution as im2col + matmul."""
    lo, hi = _same_pads(w.shape[0], 2)
    xp = jnp.pad(x, ((0, 0), (lo, hi), (lo, hi), (0, 0)))
    return _conv_valid_dot(space_to_depth(xp), _parity_kernel(w))


def _subpixel_kernel(v: jax.Array) -> jax.Array:
    """``[4,4,Ci,Co] -> [2,2,Ci,4Co]``: output channels ordered ``(a, b, Co)``."""
    return jnp.swapaxes(_parity_kernel(jnp.swapaxes(v, 2, 3)), 2, 3)


def _interleave_phases(out: jax.Array, h: int, w: int) -> jax.Array:
    """``[N,H+1,W+1,4Co]`` phase outputs -> ``[N,2H,2W,Co]`` (phase (a,b) at offset (a,b))."""
    n = out.shape[0]
    co = out.shape[-1] // 4
    out = out.reshape(n, h + 1, w + 1, 2, 2, co)
    rows = []
    for a in (0, 1):
        cols = [out[:, a : a + h, b : b + w, a, b, :] for b in (0, 1)]
        rows.append(jnp.stack(cols, axis=3))  # [N, H, W, 2(b), Co]
    return jnp.stack(rows, axis=2).reshape(n, 2 * h, 2 * w, co)


def deconv_subpixel_dot(y: jax.Array, v: jax.Array) -> jax.Array:
    """:func:`deconv_subpixel` with its stride-1 convolution as im2col + matmul."""
    n, h, w, _ = y.shape
    yp = jnp.pad(y, ((0, 0), (1, 1), (1, 1), (0, 0)))
    return _interleave_phases(_conv_valid_dot(yp, _subpixel_kernel(v)), h, w)


def _tap_weight_grad(xp: jax.Array, dy: jax.Array, k: int, stride: int) -> jax.Array:
    """``dw[i, j] = sum_{n,p,q} xp[n, s p + i, s q + j, :]^T dy[n, p, q, :]`` as ``k*k``
    flat matrix products (contraction over all ``N*P*Q`` output positions)."""
    n, ho, wo, co = dy.shape
    ci = xp.shape[-1]
    g = dy.reshape(-1, co)
    taps = []
    for i in range(k):
        for j in range(k):
            xs = xp[
                :, i : i + stride * (ho - 1) + 1 : stride, j : j + stride * (wo - 1) + 1 : stride
            ]
            taps.append(lax.dot_general(xs.reshape(-1, ci), g, (((0,), (0,)), ((), ()))))
    return jnp.stack(taps).reshape(k, k, ci, co)


@jax.custom_vjp
def conv_valid_fastdw(x: jax.Array, kern: jax.Array) -> jax.Array:
    """Stride-1 VALID convolution whose kernel gradient is per-tap matrix products.

    XLA:CPU's own kernel gradient of a convolution ran ~3.4x slower than the same sums
    written as ``k*k`` ``dot_general`` contractions over the output positions (measured
    on the sub-pixel form of the decoder's 16x16x32 layer, one thread).
    """
    return lax.conv_general_dilated(x, kern, (1, 1), "VALID", dimension_numbers=DN)


def _valid_fwd(x, kern):
    return conv_valid_fastdw(x, kern), (x, kern)


def _valid_bwd(res, dy):
    x, kern = res
    _, input_vjp = jax.vjp(
        lambda x_: lax.conv_general_dilated(x_, kern, (1, 1), "VALID", dimension_numbers=DN), x
    )
    (dx,) = input_vjp(dy)
    return dx, _tap_weight_grad(x, dy, kern.shape[0], 1).astype(kern.dtype)


conv_valid_fastdw.defvjp(_valid_fwd, _valid_bwd)


def conv_s2d_fastdw(x: jax.Array, w: jax.Array) -> jax.Array:
    """:func:`conv_s2d` with the per-tap kernel gradient (:func:`conv_valid_fastdw`)."""
    lo, hi = _same_pads(w.shape[0], 2)
    xp = jnp.pad(x, ((0, 0), (lo, hi), (lo, hi), (0, 0)))
    return conv_valid_fastdw(space_to_depth(xp), _parity_kernel(w))


@jax.custom_vjp
def conv_subpixel_fastdw(x: jax.Array, w: jax.Array) -> jax.Array:
    """Stride-2 SAME convolution: lax forward, sub-pixel input gradient, per-tap kernel
    gradient (``k*k`` strided slices of the padded input, each one matrix product)."""
    return conv_plain(x, w)


def _csf_fwd(x, w):
    return conv_plain(x, w), (x, w)


def _csf_bwd(res, dy):
    x, w = res
    lo, hi = _same_pads(w.shape[0], 2)
    xp = jnp.pad(x, ((0, 0), (lo, hi), (lo, hi), (0, 0)))
    dw = _tap_weight_grad(xp, dy, w.shape[0], 2).astype(w.dtype)
    return _conv_input_grad_subpixel(dy, w, x.shape), dw


conv_subpixel_fastdw.defvjp(_csf_fwd, _csf_bwd)


def deconv_subpixel_fastdw(y: jax.Array, v: jax.Array) -> jax.Array:
    """:func:`deconv_subpixel` with the per-tap kernel gradient."""
    _, h, w, _ = y.shape
    yp = jnp.pad(y, ((0, 0), (1, 1), (1, 1), (0, 0)))
    return _interleave_phases(conv_valid_fastdw(yp, _subpixel_kernel(v)), h, w)


CONV_FORMS = {
    "plain": conv_plain,
    "s2d": conv_s2d,
    "subpixel_vjp": conv_subpixel_vjp,
    "s2d_dot": conv_s2d_dot,
    "s2d_fastdw": conv_s2d_fastdw,
    "subpixel_fastdw": conv_subpixel_fastdw,
}
DECONV_FORMS = {
    "plain": deconv_plain,
    "subpixel": deconv_subpixel,
    "subpixel_dot": deconv_subpixel_dot,
    "subpixel_fastdw": deconv_subpixel_fastdw,
}


def layer_shapes(image_shape=(64, 64, 1)) -> list[dict]:
    """The strided layers of the reference VAE with their input and kernel shapes.

    Returns:
      A list of ``{"name", "kind" ("conv" | "deconv"), "input" (H, W, Ci), "kernel"
      (k, k, Ci, Co), "needs_input_grad"}`` in network order (encoder, then decoder).
    """
    h, w, c = image_shape
    layers = []
    for i, (co, k, s) in enumerate(ENCODER_CONVS):
        layers.append(
            {
                "name": f"enc_conv{i + 1}",
                "kind": "conv",
                "input": (h, w, c),
                "kernel": (k, k, c, co),
                "needs_input_grad": i > 0,
            }
        )
        h, w, c = h // s, w // s, co
    for i, (co, k, s) in enumerate(DECODER_DECONVS):
        co = image_shape[-1] if co is None else co
        layers.append(
            {
                "name": f"dec_deconv{i + 1}",
                "kind": "deconv",
                "input": (h, w, c),
                "kernel": (k, k, c, co),
                "needs_input_grad": True,
            }
        )
        h, w, c = h * s, w * s, co
    return layers


def layer_macs(layer: dict) -> int:
    """Nominal multiply-adds per image of one strided layer (kernel taps x outputs)."""
    h, w, _ = layer["input"]
    k, _, ci, co = layer["kernel"]
    if layer["kind"] == "conv":
        return (h // 2) * (w // 2) * k * k * ci * co
    return h * w * k * k * ci * co  # each input pixel meets every tap once


def train_flops_per_image(num_latents: int = 10, image_shape=(64, 64, 1)) -> float:
    """FLOPs per image of one forward + backward pass of the reference conv VAE.

    Counted as nominal multiply-adds (2 FLOPs each) of every convolution and dense layer;
    the backward pass costs two products per layer (input and weight gradient) except
    the input gradient of the first layer, which is not needed. Element-wise work
    (activations, loss, optimizer) is left out: it is under 1% here.
    """
    convs = layer_shapes(image_shape)
    dense = [
        (4 * 4 * 64, HIDDEN),
        (HIDDEN, num_latents),
        (HIDDEN, num_latents),
        (num_latents, HIDDEN),
        (HIDDEN, 4 * 4 * 64),
    ]
    forward = sum(layer_macs(layer) for layer in convs) + sum(a * b for a, b in dense)
    first = layer_macs(convs[0])
    return 2.0 * (3 * forward - first)
