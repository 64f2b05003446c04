"""Stride-2 convolutions and transposed convolutions in exact, interchangeable forms.

Every function here takes ``x [N,H,W,C]`` (NHWC) and a kernel ``[k,k,C,O]`` (HWIO, the
layout and shape of ``flax.linen.Conv`` / ``flax.linen.ConvTranspose`` kernels), uses
stride 2 and ``"SAME"`` padding, and needs an even kernel size and even spatial sizes
(the reference architecture's k4 and k2 layers on 64x64 images). These forms compute
the same function:

* ``"lax"``: ``lax.conv_general_dilated`` / ``lax.conv_transpose`` as XLA emits them.
* ``"subpixel"``: the transposed convolution as ONE stride-1 convolution with ``4*O``
  output channels followed by depth-to-space (Shi et al. 2016); the convolution runs
  forward with ``lax`` and has a ``jax.custom_vjp`` whose input gradient (itself a
  transposed convolution) uses the same sub-pixel form. The transposed convolution's own
  custom VJP uses that it is the adjoint of a stride-2 convolution with the flipped,
  channel-swapped kernel, so its input gradient is one plain forward convolution. Kernel
  gradients of large layers are ``G^T P`` products over space-to-depth patches
  (``im2col.conv_kernel_grad``), faster than XLA:CPU's own there.
* ``"matmul"``: im2col and one matrix product per direction, with custom VJPs that keep
  every product in a fast orientation (``disentax.models._conv.im2col``). Exact too, but
  the patch matrices cost more memory traffic than they save on XLA:CPU for this network.
* ``"col2im"`` (transposed convolutions only): one per-pixel product ``x @ W`` with
  ``k*k*O`` columns and an overlap-add of its shifted windows
  (``im2col.col2im_conv_transpose``); backward as ``"subpixel"``. The fastest form on
  XLA:CPU for few output channels (the decoder's last layer).

The identities are exact (the same products and sums, in another order), so results
agree with ``lax`` to rounding; tests check float64 agreement of values and gradients.

Sub-pixel identity (1-D, stride 2, kernel ``w[0..k-1]``, ``q = k/2``): output phase
``p`` of a transposed convolution, ``y[2m+p]``, is a stride-1 correlation of ``x`` with
the taps ``w[r_p], w[r_p+2], ...`` at an offset ``off_p``; the input gradient of a
stride-2 convolution has the same structure with flipped, transposed taps.

References:
    Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient
    Sub-Pixel Convolutional Neural Network", CVPR 2016.
    Dumoulin & Visin, "A guide to convolution arithmetic for deep learning", 2016.
"""

import jax
import jax.numpy as jnp
from jax import lax

from disentax.models._conv.im2col import (
    col2im_conv_transpose,
    conv2d_matmul,
    conv_input_grad_phases,
    conv_kernel_grad,
    conv_kernel_grad_single_channel,
    conv_transpose2d_matmul,
    depth_to_space,
    transpose_phases,
)
from disentax.typing import Array

FORMS = ("lax", "subpixel", "matmul", "col2im")  # StridedConvTranspose's form= values
CONV_FORMS = ("lax", "subpixel", "matmul")  # StridedConv's: no col2im for a convolution
_DIMS = ("NHWC", "HWIO", "NHWC")


def check_form(
    form: str,
    kernel_size: int,
    spatial: tuple[int, int] | None = None,
    *,
    transpose: bool = False,
) -> None:
    """Checks that ``form`` can compute a stride-2 ``"SAME"`` layer of this size.

    Args:
        form: the form's name.
        kernel_size: ``k``; forms other than ``"lax"`` need it even.
        spatial: ``(H, W)`` of the input, even for forms other than ``"lax"``; None: not
            checked.
        transpose: a transposed convolution, which also has the ``"col2im"`` form.

    Raises:
        ValueError: ``form`` is not a form of the layer kind, or the sizes are odd.
    """
    allowed = FORMS if transpose else CONV_FORMS
    if form not in allowed:
        kind = "a transposed convolution" if transpose else "a convolution"
        raise ValueError(f"form of {kind} must be one of {allowed}, got {form!r}")
    if form != "lax" and kernel_size % 2:
        raise ValueError(f"form={form!r} needs an even kernel_size, got {kernel_size}")
    if form != "lax" and spatial is not None and any(s % 2 for s in spatial):
        raise ValueError(f"form={form!r} needs even input height and width, got {spatial}")


def _conv_lax(x: Array, kernel: Array) -> Array:
    return lax.conv_general_dilated(x, kernel, (2, 2), "SAME", dimension_numbers=_DIMS)


def subpixel_conv(x: Array, weights: Array, offsets: tuple[int, int]) -> Array:
    """Four per-phase stride-1 correlations as ONE convolution + depth-to-space.

    ``out[n, 2i+py, 2j+px, o] = sum_{a,b,c} x[n, i+off[py]+a, j+off[px]+b, c]
    * weights[py, px, a, b, c, o]`` (zero outside ``x``). One ``q x q`` stride-1
    convolution with ``4*O`` output channels runs over ``x`` padded to cover every phase's
    window, and its result is interleaved by ONE depth-to-space (a plain transpose) and a
    slice. The stride-2 layers have ``off[1] - off[0]`` of 0 or 1. With 0 both phases
    read the same window and the depth-to-space is the answer. With 1 the convolution
    has one more output row and column, and phase ``p`` gets channel slot ``1 - p``: then
    row ``2m + s`` of the interleaved result is slot ``s`` at convolution row ``m``, so
    output row ``2i + p`` (phase ``p`` at convolution row ``i + p``) is its row
    ``2i + p + 1``, and the answer is the interleaved result without its first and last
    row and column. No zero taps are multiplied, and the interleave is one transpose: a
    per-phase slice-and-stack was slower on XLA:CPU (``docs/performance/models.md``). Used
    inside custom VJPs only: XLA:CPU's own gradient of this form was slower.

    Args:
        x: ``[N,H,W,C]``.
        weights: ``[2,2,q,q,C,O]`` per-phase taps.
        offsets: first-tap offsets of phase 0 and phase 1 (the same on both axes), with
            ``offsets[1] - offsets[0]`` in ``{0, 1}``.

    Returns:
        ``[N,2H,2W,O]``.
    """
    n, h, w, c = x.shape
    q, o = weights.shape[2], weights.shape[-1]
    shift = offsets[1] - offsets[0]
    if shift not in (0, 1):
        raise ValueError(f"offsets must differ by 0 or 1, got {offsets}")
    lo, hi = offsets[0], offsets[0] + shift + q - 1
    if shift:
        weights = weights[::-1, ::-1]  # slot s holds phase 1 - s
    kernel = weights.transpose(2, 3, 4, 0, 1, 5).reshape(q, q, c, 4 * o)
    y = lax.conv_general_dilated(x, kernel, (1, 1), ((-lo, hi), (-lo, hi)), dimension_numbers=_DIMS)
    y = depth_to_space(y)  # [N, 2(H+shift), 2(W+shift), O]
    return y[:, shift : shift + 2 * h, shift : shift + 2 * w]


def _kernel_grad(x: Array, g: Array, kernel_size: int) -> Array:
    """Kernel gradient of the stride-2 SAME convolution ``x -> y`` at cotangent ``g``.

    ``G^T P`` products (``conv_kernel_grad``) where they were measured faster than XLA:CPU's
    own kernel gradient (inputs of at least 32x32 pixels and 8 channels: the reference's
    32-channel k4 layers), one tap-major product for 1-channel inputs (the image layer and
    the adjoint of the last decoder layer), lax's otherwise.
    """
    even = kernel_size % 2 == 0 and x.shape[1] % 2 == 0 and x.shape[2] % 2 == 0
    if even and min(x.shape[1:3]) >= 32 and x.shape[-1] >= 8:
        return conv_kernel_grad(x, g, kernel_size)
    if even and x.shape[-1] == 1:
        return conv_kernel_grad_single_channel(x, g, kernel_size)
    shape = (kernel_size, kernel_size, x.shape[-1], g.shape[-1])
    _, vjp = jax.vjp(lambda kern: _conv_lax(x, kern), jnp.zeros(shape, x.dtype))
    return vjp(g)[0]


@jax.custom_vjp
def _conv_subpixel(x: Array, kernel: Array) -> Array:
    return _conv_lax(x, kernel)


def _conv_subpixel_fwd(x, kernel):
    return _conv_lax(x, kernel), (x, kernel)


def _conv_subpixel_bwd(res, dy):
    x, kernel = res
    dx = subpixel_conv(dy, *conv_input_grad_phases(kernel))
    return dx, _kernel_grad(x, dy, kernel.shape[0])


_conv_subpixel.defvjp(_conv_subpixel_fwd, _conv_subpixel_bwd)


def _flip_transpose(kernel: Array) -> Array:
    """``[k,k,C,O] -> [k,k,O,C]``, spatially flipped: the adjoint's kernel (an involution)."""
    return kernel[::-1, ::-1].swapaxes(2, 3)


@jax.custom_vjp
def _conv_transpose_subpixel(x: Array, kernel: Array) -> Array:
    return subpixel_conv(x, *transpose_phases(kernel))


def _conv_transpose_subpixel_fwd(x, kernel):
    return _conv_transpose_subpixel(x, kernel), (x, kernel)


def _conv_transpose_subpixel_bwd(res, dy):
    # The transposed convolution is the adjoint of the stride-2 convolution with the
    # flipped, channel-swapped kernel: <dy, T(x, w)> = <conv(dy, flipT(w)), x>. So both
    # gradients come from that (fast) forward convolution: dx = conv(dy, flipT(w)), and
    # dw = flipT(d/dv <conv(dy, v), x>) at v = flipT(w).
    x, kernel = res
    dx = _conv_lax(dy, _flip_transpose(kernel))
    return dx, _flip_transpose(_kernel_grad(dy, x, kernel.shape[0]))


_conv_transpose_subpixel.defvjp(_conv_transpose_subpixel_fwd, _conv_transpose_subpixel_bwd)


@jax.custom_vjp
def _conv_transpose_col2im(x: Array, kernel: Array) -> Array:
    return col2im_conv_transpose(x, kernel)


def _conv_transpose_col2im_fwd(x, kernel):
    return col2im_conv_transpose(x, kernel), (x, kernel)


# The same function as the sub-pixel form, so the same (adjoint-convolution) gradients.
_conv_transpose_col2im.defvjp(_conv_transpose_col2im_fwd, _conv_transpose_subpixel_bwd)


def conv2d(x: Array, kernel: Array, *, form: str = "lax") -> Array:
    """Stride-2 ``"SAME"`` convolution ``[N,H,W,C] -> [N,H/2,W/2,O]``.

    Args:
        x: ``[N,H,W,C]`` with even ``H`` and ``W`` (any ``H``, ``W`` for ``form="lax"``).
        kernel: ``[k,k,C,O]`` with even ``k`` (any ``k`` for ``form="lax"``).
        form: ``"lax"``, ``"subpixel"`` (lax forward, custom sub-pixel input gradient) or
            ``"matmul"`` (im2col + matrix products, custom VJP).

    Returns:
        ``[N, ceil(H/2), ceil(W/2), O]``, equal to ``lax.conv_general_dilated`` with
        strides ``(2, 2)`` and ``"SAME"`` padding.
    """
    check_form(form, kernel.shape[0], x.shape[1:3])
    if form == "lax":
        return _conv_lax(x, kernel)
    if form == "subpixel":
        return _conv_subpixel(x, kernel)
    return conv2d_matmul(x, kernel)


def conv_transpose2d(x: Array, kernel: Array, *, form: str = "lax") -> Array:
    """Stride-2 ``"SAME"`` transposed convolution ``[N,H,W,C] -> [N,2H,2W,O]``.

    Equal to ``lax.conv_transpose(x, kernel, (2, 2), "SAME")`` in NHWC/HWIO, i.e. to
    ``flax.linen.ConvTranspose(strides=(2, 2), padding="SAME")`` (``transpose_kernel=False``).

    Args:
        x: ``[N,H,W,C]``.
        kernel: ``[k,k,C,O]`` with even ``k`` (any ``k`` for ``form="lax"``).
        form: ``"lax"``, ``"subpixel"`` (one stride-1 convolution with ``4*O`` channels and
            depth-to-space), ``"matmul"`` (per-phase im2col products, custom VJP) or
            ``"col2im"`` (per-pixel product and overlap-add, custom VJP).

    Returns:
        ``[N,2H,2W,O]``.
    """
    check_form(form, kernel.shape[0], transpose=True)
    if form == "lax":
        return lax.conv_transpose(x, kernel, (2, 2), "SAME", dimension_numbers=_DIMS)
    if form == "subpixel":
        return _conv_transpose_subpixel(x, kernel)
    if form == "col2im":
        return _conv_transpose_col2im(x, kernel)
    return conv_transpose2d_matmul(x, kernel)
