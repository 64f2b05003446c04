"""Stride-2 convolutions and transposed convolutions in exact, interchangeable forms.

Every function here takes ``x [N,H,W,C]`` (NHWC) and a kernel ``[k,k,C,O]`` (HWIO, the
layout and shape of ``flax.linen.Conv`` / ``flax.linen.ConvTranspose`` kernels), uses
stride 2 and ``"SAME"`` padding, and needs an even kernel size and even spatial sizes
(the reference architecture's k4 and k2 layers on 64x64 images). Three forms compute
the same function:

* ``"lax"``: ``lax.conv_general_dilated`` / ``lax.conv_transpose`` as XLA emits them.
* ``"subpixel"``: the transposed convolution as ONE stride-1 convolution with ``4*O``
  output channels followed by depth-to-space (Shi et al. 2016); the convolution runs
  forward with ``lax`` and has a ``jax.custom_vjp`` whose input gradient (itself a
  transposed convolution) uses the same sub-pixel form.
* ``"matmul"``: space-to-depth turns the stride-2 convolution into a stride-1 one with
  ``k/2 x k/2`` taps, then im2col and ONE matrix product; the transposed convolution is
  four per-phase im2col products and depth-to-space. Its derivatives, left to autodiff,
  are matrix products and data movement only.

The identities are exact (the same products and sums, in another order), so results
agree with ``lax`` to rounding; tests check float64 agreement of values and gradients.

Sub-pixel identity used below (1-D, stride 2, kernel ``w[0..k-1]``, ``q = k/2``): output
phase ``p`` of a transposed convolution, ``y[2m+p]``, is a stride-1 correlation of ``x``
with the taps ``w[r_p], w[r_p+2], ...`` at offset ``off_p``; the input gradient of a
stride-2 convolution has the same structure with flipped, transposed taps.

References:
    Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient
    Sub-Pixel Convolutional Neural Network", CVPR 2016.
    Dumoulin & Visin, "A guide to convolution arithmetic for deep learning", 2016.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from disentax.typing import Array

FORMS = ("lax", "subpixel", "matmul")
_DIMS = ("NHWC", "HWIO", "NHWC")


def check_form(form: str, kernel_size: int, spatial: tuple[int, int] | None = None) -> None:
    """Raises ValueError unless ``form`` can compute a stride-2 SAME layer of this size."""
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    if form != "lax" and kernel_size % 2:
        raise ValueError(f"form={form!r} needs an even kernel_size, got {kernel_size}")
    if form != "lax" and spatial is not None and any(s % 2 for s in spatial):
        raise ValueError(f"form={form!r} needs even input height and width, got {spatial}")


def space_to_depth(x: Array) -> Array:
    """``[N,2H,2W,C] -> [N,H,W,4C]``; channel index ``(2*py + px)*C + c``."""
    n, h, w, c = x.shape
    x = x.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(n, h // 2, w // 2, 4 * c)


def depth_to_space(x: Array) -> Array:
    """``[N,H,W,4C] -> [N,2H,2W,C]``, the inverse of :func:`space_to_depth`."""
    n, h, w, c4 = x.shape
    c = c4 // 4
    x = x.reshape(n, h, w, 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(n, 2 * h, 2 * w, c)


def _im2col(x: Array, q: int, out_h: int, out_w: int, top: int = 0, left: int = 0) -> Array:
    """``[N,H,W,C] -> [N,out_h,out_w,q*q*C]`` patches of q x q windows (stride 1)."""
    cols = [
        x[:, top + a : top + a + out_h, left + b : left + b + out_w, :]
        for a in range(q)
        for b in range(q)
    ]
    return cols[0] if len(cols) == 1 else jnp.concatenate(cols, axis=-1)


# --------------------------------------------------------------------------- convolution


def _conv_lax(x: Array, kernel: Array) -> Array:
    return lax.conv_general_dilated(x, kernel, (2, 2), "SAME", dimension_numbers=_DIMS)


def _conv_matmul(x: Array, kernel: Array) -> Array:
    k, _, c, o = kernel.shape
    q, pad = k // 2, (k - 2) // 2
    n, h, w, _ = x.shape
    xs = space_to_depth(jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0))))
    # kernel[2a+py, 2b+px, c, o] -> w2[(a, b, py, px, c), o], matching im2col(space_to_depth).
    w2 = kernel.reshape(q, 2, q, 2, c, o).transpose(0, 2, 1, 3, 4, 5).reshape(-1, o)
    patches = _im2col(xs, q, h // 2, w // 2)
    y = patches.reshape(-1, w2.shape[0]) @ w2
    return y.reshape(n, h // 2, w // 2, o)


def _phase_conv(x: Array, weights: Array, offsets: tuple[int, int], impl: str) -> Array:
    """Sub-pixel correlation: four stride-1 correlations interleaved by depth-to-space.

    ``out[n, 2i+py, 2j+px, o] = sum_{a,b,c} x[n, i+off[py]+a, j+off[px]+b, c]
    * weights[py, px, a, b, c, o]`` with zero padding outside ``x``.

    Args:
        x: ``[N,H,W,C]``.
        weights: ``[2,2,q,q,C,O]`` per-phase taps.
        offsets: ``(off0, off1)``, the first tap's offset for phase 0 and 1 (both axes).
        impl: ``"conv"`` (one stride-1 convolution with ``4*O`` channels over the union
            window) or ``"matmul"`` (per-phase im2col and one batched matrix product).

    Returns:
        ``[N,2H,2W,O]``.
    """
    n, h, w, c = x.shape
    q, o = weights.shape[2], weights.shape[-1]
    lo, hi = min(offsets), max(offsets) + q - 1
    size = hi - lo + 1
    if impl == "conv":
        phases = []
        for py in range(2):
            for px in range(2):
                sy, sx = offsets[py] - lo, offsets[px] - lo
                pads = ((sy, size - q - sy), (sx, size - q - sx), (0, 0), (0, 0))
                phases.append(jnp.pad(weights[py, px], pads))
        kernel = jnp.stack(phases, axis=-2).reshape(size, size, c, 4 * o)
        y = lax.conv_general_dilated(
            x, kernel, (1, 1), ((-lo, hi), (-lo, hi)), dimension_numbers=_DIMS
        )
        return depth_to_space(y)
    xp = lax.pad(x, jnp.array(0, x.dtype), ((0, 0, 0), (-lo, hi, 0), (-lo, hi, 0), (0, 0, 0)))
    patches = jnp.stack(
        [
            _im2col(xp, q, h, w, offsets[py] - lo, offsets[px] - lo).reshape(-1, q * q * c)
            for py in range(2)
            for px in range(2)
        ]
    )
    y = jnp.einsum("pmk,pko->pmo", patches, weights.reshape(4, q * q * c, o))
    y = y.reshape(2, 2, n, h, w, o).transpose(2, 3, 0, 4, 1, 5)
    return y.reshape(n, 2 * h, 2 * w, o)


def _conv_input_grad(dy: Array, kernel: Array, impl: str) -> Array:
    """Input gradient of the stride-2 SAME convolution, in sub-pixel form.

    With ``P = (k-2)/2`` the left padding, ``dx[2i+p] = sum_a w[2(q-1-a)+r_p]^T
    dy[i + c_p - (q-1) + a]`` where ``r_p = (p+P) mod 2`` and ``c_p = (p - r_p + P)/2``.
    """
    k = kernel.shape[0]
    q, pad = k // 2, (k - 2) // 2
    rs = [(p + pad) % 2 for p in range(2)]
    offsets = tuple((p - rs[p] + pad) // 2 - (q - 1) for p in range(2))
    weights = jnp.stack(
        [
            jnp.stack(
                [kernel[rs[py] :: 2, rs[px] :: 2][::-1, ::-1].swapaxes(-1, -2) for px in range(2)]
            )
            for py in range(2)
        ]
    )
    return _phase_conv(dy, weights, offsets, impl)


@jax.custom_vjp
def _conv_subpixel(x: Array, kernel: Array) -> Array:
    return _conv_lax(x, kernel)


def _conv_subpixel_fwd(x, kernel):
    return _conv_lax(x, kernel), (x, kernel)


def _conv_subpixel_bwd(res, dy):
    x, kernel = res
    dx = _conv_input_grad(dy, kernel, "conv")
    _, kernel_vjp = jax.vjp(lambda kern: _conv_lax(x, kern), kernel)
    (dkernel,) = kernel_vjp(dy)
    return dx, dkernel


_conv_subpixel.defvjp(_conv_subpixel_fwd, _conv_subpixel_bwd)


def conv2d(x: Array, kernel: Array, *, form: str = "lax") -> Array:
    """Stride-2 ``"SAME"`` convolution ``[N,H,W,C] -> [N,H/2,W/2,O]``.

    Args:
        x: ``[N,H,W,C]`` with even ``H`` and ``W`` (any ``H``, ``W`` for ``form="lax"``).
        kernel: ``[k,k,C,O]`` with even ``k`` (any ``k`` for ``form="lax"``).
        form: ``"lax"``, ``"subpixel"`` (lax forward, custom sub-pixel input gradient) or
            ``"matmul"`` (space-to-depth + im2col + one matrix product).

    Returns:
        ``[N, ceil(H/2), ceil(W/2), O]``, equal to ``lax.conv_general_dilated`` with
        strides ``(2, 2)`` and ``"SAME"`` padding.
    """
    check_form(form, kernel.shape[0], x.shape[1:3])
    if form == "lax":
        return _conv_lax(x, kernel)
    if form == "subpixel":
        return _conv_subpixel(x, kernel)
    return _conv_matmul(x, kernel)


# ------------------------------------------------------------------ transposed convolution


def _transpose_phases(kernel: Array) -> tuple[Array, tuple[int, int]]:
    """Per-phase taps and offsets of ``lax.conv_transpose(..., (2, 2), "SAME")``.

    lax pads the dilated input by ``pad_a`` on the left (``k-1`` if ``k <= 2`` else
    ``ceil(k/2)``; ``jax._src.lax.convolution._conv_transpose_padding``), so output phase
    ``p`` uses taps ``r_p, r_p+2, ...`` with ``r_p = (pad_a - p) mod 2``, starting at input
    offset ``(p + r_p - pad_a)/2``.
    """
    k = kernel.shape[0]
    pad_a = k - 1 if k <= 2 else int(np.ceil(k / 2))
    rs = [(pad_a - p) % 2 for p in range(2)]
    offsets = tuple((p + rs[p] - pad_a) // 2 for p in range(2))
    weights = jnp.stack(
        [jnp.stack([kernel[rs[py] :: 2, rs[px] :: 2] for px in range(2)]) for py in range(2)]
    )
    return weights, offsets


def conv_transpose2d(x: Array, kernel: Array, *, form: str = "lax") -> Array:
    """Stride-2 ``"SAME"`` transposed convolution ``[N,H,W,C] -> [N,2H,2W,O]``.

    Equal to ``lax.conv_transpose(x, kernel, (2, 2), "SAME")`` in NHWC/HWIO, i.e. to
    ``flax.linen.ConvTranspose(strides=(2, 2), padding="SAME")`` (``transpose_kernel=False``).

    Args:
        x: ``[N,H,W,C]``.
        kernel: ``[k,k,C,O]`` with even ``k`` (any ``k`` for ``form="lax"``).
        form: ``"lax"``, ``"subpixel"`` (one stride-1 convolution with ``4*O`` channels and
            depth-to-space) or ``"matmul"`` (per-phase im2col products and depth-to-space).

    Returns:
        ``[N,2H,2W,O]``.
    """
    check_form(form, kernel.shape[0])
    if form == "lax":
        return lax.conv_transpose(x, kernel, (2, 2), "SAME", dimension_numbers=_DIMS)
    weights, offsets = _transpose_phases(kernel)
    return _phase_conv(x, weights, offsets, "conv" if form == "subpixel" else "matmul")
