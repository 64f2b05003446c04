"""The ``"matmul"`` form: stride-2 layers as im2col + one matrix product, with custom VJPs.

Each of the three products of a layer (forward, input gradient, weight gradient) is
computed as a row-major ``[M, K] @ [K, O]`` product or as ``G^T P`` (contracting the long
``M`` axis of both operands), the two orientations XLA:CPU runs near its matmul peak; the
orientations autodiff would produce (``P^T G`` and ``G W^T``) ran slower on the reference
CPU (``docs/performance/models.md``). The convolution's input gradient is the sub-pixel
phase product and the transposed convolution's input gradient is a stride-2 convolution
of the cotangent with the flipped, transposed kernel (Dumoulin & Visin 2016, Sec. 4), so
both directions reuse the same two kernels:

* :func:`conv_patches` / stride-2 convolution: one stride-2 slice of ``pad(x)`` per tap,
  ``P [N*H/2*W/2, k*k*C]``.
* :func:`phase_product` / transposed convolution: for each output phase ``(py, px)`` the
  ``q x q`` patches at its offset, ``P [4, N*H*W, q*q*C]``, then depth-to-space.

The kernel-gradient products :func:`conv_kernel_grad` (space-to-depth input, cotangent
placed at each tap offset) and :func:`conv_kernel_grad_single_channel` (tap-major slices
of a 1-channel input) need no patch matrix of the input and also serve the
``"subpixel"`` form's custom VJPs.

References:
    Chellapilla, Puri & Simard, "High Performance Convolutional Neural Networks for
    Document Processing", 2006 (im2col).
    Shi et al., CVPR 2016 (sub-pixel convolution).
    Dumoulin & Visin, "A guide to convolution arithmetic for deep learning", 2016.
"""

import jax
import jax.numpy as jnp
from jax import lax

from disentax.typing import Array


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


def im2col(x: Array, q: int, out_h: int, out_w: int, top: int = 0, left: int = 0) -> Array:
    """``[N,H,W,C] -> [N,out_h,out_w,q*q*C]`` patches of ``q x q`` windows (stride 1)."""
    cols = [
        x[:, top + a : top + a + out_h, left + b : left + b + out_w, :]
        for a in range(q)
        for b in range(q)
    ]
    return cols[0] if len(cols) == 1 else jnp.concatenate(cols, axis=-1)


def _weight_grad(patches: Array, g: Array) -> Array:
    """``patches^T g`` (``[..., M, K], [..., M, O] -> [..., K, O]``) computed as ``(g^T P)^T``.

    The barrier keeps XLA from folding the small final transpose into the product, which
    would bring back the slow ``P^T G`` orientation.
    """
    batch = tuple(range(patches.ndim - 2))
    m = patches.ndim - 2
    gtp = lax.dot_general(g, patches, (((m,), (m,)), (batch, batch)))  # [..., O, K]
    return jnp.swapaxes(lax.optimization_barrier(gtp), -1, -2)


# ----------------------------------------------------------------- stride-2 convolution


def conv_patches(x: Array, k: int) -> Array:
    """im2col of the stride-2 SAME convolution: ``[N,H,W,C] -> [N*H/2*W/2, k*k*C]``.

    Column ``(kh*k + kw)*C + c`` holds ``pad(x)[n, 2i+kh, 2j+kw, c]``: one strided slice
    per tap (no space-to-depth transpose), matching ``kernel.reshape(k*k*C, O)``.
    """
    n, h, w, c = x.shape
    pad = (k - 2) // 2
    xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    ho, wo = h // 2, w // 2
    cols = [
        lax.slice(xp, (0, a, b, 0), (n, a + 2 * ho - 1, b + 2 * wo - 1, c), (1, 2, 2, 1))
        for a in range(k)
        for b in range(k)
    ]
    return jnp.concatenate(cols, axis=-1).reshape(n * ho * wo, k * k * c)


def conv_weight(kernel: Array) -> Array:
    """``[k,k,C,O] -> [k*k*C, O]``, matching :func:`conv_patches`."""
    return kernel.reshape(-1, kernel.shape[-1])


def _conv_weight_inverse(w2: Array, k: int, c: int) -> Array:
    return w2.reshape(k, k, c, w2.shape[-1])


def conv_kernel_grad(x: Array, g: Array, k: int) -> Array:
    """Kernel gradient ``[k,k,C,O]`` of the stride-2 SAME convolution, as ``q*q`` ``G^T P``.

    ``dw[2a+py, 2b+px, c, o] = sum_{n,i,j} xs[n, i+a, j+b, (py,px,c)] g[n,i,j,o]`` with
    ``xs = space_to_depth(pad(x))``: for each of the ``q x q`` offsets ``(a, b)`` the
    cotangent is placed at that offset (zero padding) and one product contracts the long
    ``N*H'*W'`` axis of both operands: ``q*q`` products rather than one product over the
    placements concatenated on the channel axis, which writes the four placements out and
    made the reference step slower on XLA:CPU (``docs/performance/models.md``).

    Args:
        x: ``[N,H,W,C]`` the convolution's input (even ``H``, ``W``).
        g: ``[N,H/2,W/2,O]`` the output cotangent.
        k: the even kernel size.

    Returns:
        ``[k,k,C,O]``.
    """
    q, pad = k // 2, (k - 2) // 2
    c, o = x.shape[-1], g.shape[-1]
    xs = space_to_depth(jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))).reshape(-1, 4 * c)
    gtp = jnp.stack(
        [
            lax.dot_general(
                jnp.pad(g, ((0, 0), (a, q - 1 - a), (b, q - 1 - b), (0, 0))).reshape(-1, o),
                xs,
                (((0,), (0,)), ((), ())),
            )  # [o, (py, px, c)]
            for a in range(q)
            for b in range(q)
        ]
    )
    return gtp.reshape(q, q, o, 2, 2, c).transpose(0, 3, 1, 4, 5, 2).reshape(k, k, c, o)


def conv_kernel_grad_single_channel(x: Array, g: Array, k: int) -> Array:
    """Kernel gradient ``[k,k,1,O]`` of the stride-2 SAME convolution of a 1-channel input.

    The ``k*k`` stride-2 slices of ``pad(x)`` are stacked tap-major, ``[k*k, N*H/2*W/2]``,
    and one product with the cotangent ``[N*H/2*W/2, O]`` gives every tap at once.

    Args:
        x: ``[N,H,W,1]`` (even ``H``, ``W``).
        g: ``[N,H/2,W/2,O]``.
        k: the even kernel size.

    Returns:
        ``[k,k,1,O]``.
    """
    n, h, w, _ = x.shape
    pad = (k - 2) // 2
    xp = jnp.pad(x[..., 0], ((0, 0), (pad, pad), (pad, pad)))
    ho, wo = h // 2, w // 2
    taps = jnp.stack(
        [
            lax.slice(xp, (0, a, b), (n, a + 2 * ho - 1, b + 2 * wo - 1), (1, 2, 2))
            for a in range(k)
            for b in range(k)
        ]
    )
    o = g.shape[-1]
    grad = lax.dot_general(taps.reshape(k * k, -1), g.reshape(-1, o), (((1,), (0,)), ((), ())))
    return grad.reshape(k, k, 1, o)


def _conv_forward(x: Array, kernel: Array) -> tuple[Array, Array]:
    n, h, w, _ = x.shape
    patches = conv_patches(x, kernel.shape[0])
    y = patches @ conv_weight(kernel)
    return y.reshape(n, h // 2, w // 2, kernel.shape[-1]), patches


# ------------------------------------------------------------------ sub-pixel products


def phase_product(x: Array, weights: Array, offsets: tuple[int, int]) -> tuple[Array, Array]:
    """Four stride-1 correlations (one per output phase) interleaved by depth-to-space.

    ``out[n, 2i+py, 2j+px, o] = sum_{a,b,c} x[n, i+off[py]+a, j+off[px]+b, c]
    * weights[py, px, a, b, c, o]``, zero outside ``x``.

    Args:
        x: ``[N,H,W,C]``.
        weights: ``[2,2,q,q,C,O]``.
        offsets: first-tap offsets of phase 0 and phase 1 (the same on both axes).

    Returns:
        ``(out [N,2H,2W,O], patches [4, N*H*W, q*q*C])``.
    """
    n, h, w, c = x.shape
    q, o = weights.shape[2], weights.shape[-1]
    lo, hi = min(offsets), max(offsets) + q - 1
    xp = lax.pad(x, jnp.array(0, x.dtype), ((0, 0, 0), (-lo, hi, 0), (-lo, hi, 0), (0, 0, 0)))
    patches = jnp.stack(
        [
            im2col(xp, q, h, w, offsets[py] - lo, offsets[px] - lo).reshape(-1, q * q * c)
            for py in range(2)
            for px in range(2)
        ]
    )
    y = jnp.einsum("pmk,pko->pmo", patches, weights.reshape(4, q * q * c, o))
    y = y.reshape(2, 2, n, h, w, o).transpose(2, 3, 0, 4, 1, 5)
    return y.reshape(n, 2 * h, 2 * w, o), patches


def conv_input_grad_phases(kernel: Array) -> tuple[Array, tuple[int, int]]:
    """Phase weights and offsets of the stride-2 SAME convolution's input gradient.

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
    return weights, offsets


def transpose_phase_taps(k: int) -> tuple[list[int], tuple[int, int]]:
    """First tap ``r_p`` and input offset of each output phase of the transposed conv.

    lax pads the dilated input by ``pad_a`` on the left (``k-1`` if ``k <= 2`` else
    ``ceil(k/2)``; ``jax._src.lax.convolution._conv_transpose_padding``), so output phase
    ``p`` uses taps ``r_p, r_p+2, ...`` with ``r_p = (pad_a - p) mod 2``, starting at input
    offset ``(p + r_p - pad_a)/2``.
    """
    pad_a = k - 1 if k <= 2 else -(-k // 2)
    rs = [(pad_a - p) % 2 for p in range(2)]
    return rs, tuple((p + rs[p] - pad_a) // 2 for p in range(2))


def col2im_conv_transpose(x: Array, kernel: Array) -> Array:
    """Stride-2 SAME transposed convolution as one per-pixel product and an overlap-add.

    Every input pixel's contribution to its ``k x k`` output window is one product,
    ``Z = x [N*H*W, C] @ W [C, k*k*O]`` (the transposed convolution's GEMM + col2im form,
    with the ``k*k*O`` columns ordered by output phase and tap), and output phase
    ``(py, px)`` sums the ``q x q`` shifted windows of ``Z`` that land on it:
    ``out[n, 2i+py, 2j+px, o] = sum_{a,b} Z[n, i+off[py]+a, j+off[px]+b, (py,px,a,b,o)]``
    (zero outside ``x``). No zero taps are multiplied and ``x`` is read once, in its own
    layout; the product's ``N*H*W x k*k*O`` result is what the overlap-add reads, so the
    form suits layers with few output channels (the reference decoder's last layer, where
    it beat the sub-pixel convolution with ``4*O = 4`` output channels on XLA:CPU;
    ``docs/performance/models.md``).

    Args:
        x: ``[N,H,W,C]``.
        kernel: ``[k,k,C,O]`` with even ``k`` (HWIO, as ``flax.linen.ConvTranspose``).

    Returns:
        ``[N,2H,2W,O]``, equal to ``lax.conv_transpose(x, kernel, (2, 2), "SAME")``.
    """
    n, h, w, c = x.shape
    weights, offsets = transpose_phases(kernel)  # [2,2,q,q,C,O]
    q, o = weights.shape[2], weights.shape[-1]
    lo, hi = min(offsets), max(offsets) + q - 1
    w2 = weights.transpose(4, 0, 1, 2, 3, 5).reshape(c, 4 * q * q * o)
    z = (x.reshape(-1, c) @ w2).reshape(n, h, w, 2, 2, q, q, o)
    z = jnp.pad(z, ((0, 0), (-lo, hi), (-lo, hi)) + ((0, 0),) * 5)
    rows = []
    for py in range(2):
        cols = []
        for px in range(2):
            phase = 0
            for a in range(q):
                for b in range(q):
                    top, left = offsets[py] - lo + a, offsets[px] - lo + b
                    phase = phase + z[:, top : top + h, left : left + w, py, px, a, b]
            cols.append(phase)
        rows.append(jnp.stack(cols, axis=3))  # [N,H,W,2,O]: phase px
    return jnp.stack(rows, axis=2).reshape(n, 2 * h, 2 * w, o)  # [N,H,2,W,2,O]


def transpose_phases(kernel: Array) -> tuple[Array, tuple[int, int]]:
    """Per-phase weights ``[2,2,q,q,C,O]`` and offsets of ``lax.conv_transpose`` SAME."""
    rs, offsets = transpose_phase_taps(kernel.shape[0])
    weights = jnp.stack(
        [jnp.stack([kernel[rs[py] :: 2, rs[px] :: 2] for px in range(2)]) for py in range(2)]
    )
    return weights, offsets


# ------------------------------------------------------------------------ custom VJPs


@jax.custom_vjp
def conv2d_matmul(x: Array, kernel: Array) -> Array:
    """Stride-2 SAME convolution (even ``k``, even ``H``, ``W``) as im2col + matmul."""
    return _conv_forward(x, kernel)[0]


def _conv2d_fwd(x, kernel):
    y, patches = _conv_forward(x, kernel)
    return y, (patches, kernel)


def _conv2d_bwd(res, dy):
    patches, kernel = res
    k, _, c, o = kernel.shape
    dkernel = _conv_weight_inverse(_weight_grad(patches, dy.reshape(-1, o)), k, c)
    weights, offsets = conv_input_grad_phases(kernel)
    dx, _ = phase_product(dy, weights, offsets)
    return dx, dkernel


conv2d_matmul.defvjp(_conv2d_fwd, _conv2d_bwd)


@jax.custom_vjp
def conv_transpose2d_matmul(x: Array, kernel: Array) -> Array:
    """Stride-2 SAME transposed convolution (even ``k``) as phase im2col + matmul."""
    weights, offsets = transpose_phases(kernel)
    return phase_product(x, weights, offsets)[0]


def _conv_transpose2d_fwd(x, kernel):
    weights, offsets = transpose_phases(kernel)
    y, patches = phase_product(x, weights, offsets)
    return y, (patches, kernel)


def _conv_transpose2d_bwd(res, dy):
    patches, kernel = res
    k, _, c, o = kernel.shape
    n, h2, w2, _ = dy.shape
    # The transposed convolution's input gradient is the stride-2 convolution of dy with
    # the spatially flipped kernel whose channel axes are swapped.
    dx, _ = _conv_forward(dy, kernel[::-1, ::-1].swapaxes(2, 3))
    # Cotangent of phase (py, px): dy[:, py::2, px::2], as [4, N*H*W, O].
    g = dy.reshape(n, h2 // 2, 2, w2 // 2, 2, o).transpose(2, 4, 0, 1, 3, 5).reshape(4, -1, o)
    dweights = _weight_grad(patches, g).reshape(2, 2, k // 2, k // 2, c, o)
    rs, _ = transpose_phase_taps(k)
    dkernel = jnp.zeros_like(kernel)
    for py in range(2):
        for px in range(2):
            dkernel = dkernel.at[rs[py] :: 2, rs[px] :: 2].set(dweights[py, px])
    return dx, dkernel


conv_transpose2d_matmul.defvjp(_conv_transpose2d_fwd, _conv_transpose2d_bwd)
