"""Stride-2 convolution layers whose computational form is a module argument.

``StridedConv`` and ``StridedConvTranspose`` hold exactly the parameters of
``flax.linen.Conv`` / ``flax.linen.ConvTranspose`` with ``strides=(2, 2)`` and
``padding="SAME"`` (``kernel [k,k,C,O]``, ``bias [O]``, same initialisers), so checkpoints
are interchangeable whatever ``form`` computes them: ``"lax"`` (XLA's own convolution),
``"subpixel"``, ``"matmul"`` or, for transposed convolutions, ``"col2im"`` (``CONV_FORMS``
and ``FORMS``), all exact, agreeing to rounding. ``form=None`` picks the form that was
fastest for that layer on the current backend (:func:`default_form`). The forms other
than ``"lax"`` define custom VJPs: reverse-mode derivatives (``jax.grad``, ``jax.vjp``)
work, forward-mode ones (``jax.jvp``, ``jax.jacfwd``) need ``form="lax"``.
"""

from collections.abc import Callable
from typing import Any

import flax.linen as nn

from disentax.models._conv import check_form, conv2d, conv_transpose2d, default_form
from disentax.typing import Array


class StridedConv(nn.Module):
    """Stride-2 ``"SAME"`` convolution ``[N,H,W,C] -> [N,H/2,W/2,features]``.

    Attributes:
        features: output channels ``O``.
        kernel_size: square kernel size ``k`` (even unless ``form="lax"``).
        form: ``"lax"``, ``"subpixel"``, ``"matmul"`` or ``None`` (backend default).
        kernel_init: initialiser of ``kernel [k,k,C,O]`` (flax's default).
        bias_init: initialiser of ``bias [O]``.
        dtype: computation dtype (``None``: that of the input); parameters stay float32.

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.models import StridedConv
        >>> x = jnp.linspace(0.0, 1.0, 128).reshape(1, 8, 8, 2)
        >>> params = {"kernel": jnp.ones((4, 4, 2, 3)), "bias": jnp.zeros(3)}  # as nn.Conv
        >>> y = StridedConv(features=3, kernel_size=4, form="lax").apply({"params": params}, x)
        >>> y.shape
        (1, 4, 4, 3)
        >>> subpixel = StridedConv(features=3, kernel_size=4, form="subpixel")
        >>> bool(jnp.allclose(y, subpixel.apply({"params": params}, x), atol=1e-5))  # same result
        True
    """

    features: int
    kernel_size: int
    form: str | None = None
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros_init()
    dtype: Any = None

    @nn.compact
    def __call__(self, x: Array) -> Array:
        """Convolves ``x [N,H,W,C]`` to ``[N,H/2,W/2,features]`` in the layer's ``form``.

        ``form=None`` takes :func:`default_form`, or ``"lax"`` when ``k``, ``H`` or ``W`` is odd.
        """
        k, c = self.kernel_size, x.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (k, k, c, self.features))
        bias = self.param("bias", self.bias_init, (self.features,))
        form = self.form
        if form is None:
            form = default_form("conv", in_channels=c, out_channels=self.features)
            if k % 2 or x.shape[1] % 2 or x.shape[2] % 2:
                form = "lax"
        check_form(form, k, x.shape[1:3])
        x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
        return conv2d(x, kernel, form=form) + bias


class StridedConvTranspose(nn.Module):
    """Stride-2 ``"SAME"`` transposed convolution ``[N,H,W,C] -> [N,2H,2W,features]``.

    Computes ``flax.linen.ConvTranspose(features, (k, k), strides=(2, 2),
    padding="SAME")`` with the same parameters.

    Attributes:
        features: output channels ``O``.
        kernel_size: square kernel size ``k`` (even unless ``form="lax"``).
        form: ``"lax"``, ``"subpixel"``, ``"matmul"`` or ``None`` (backend default).
        kernel_init: initialiser of ``kernel [k,k,C,O]`` (flax's default).
        bias_init: initialiser of ``bias [O]``.
        dtype: computation dtype (``None``: that of the input); parameters stay float32.

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.models import StridedConvTranspose
        >>> x = jnp.linspace(0.0, 1.0, 32).reshape(1, 4, 4, 2)
        >>> params = {"kernel": jnp.ones((4, 4, 2, 1)), "bias": jnp.zeros(1)}  # as nn.ConvTranspose
        >>> layer = StridedConvTranspose(features=1, kernel_size=4, form="lax")
        >>> y = layer.apply({"params": params}, x)
        >>> y.shape
        (1, 8, 8, 1)
        >>> col2im = StridedConvTranspose(features=1, kernel_size=4, form="col2im")
        >>> bool(jnp.allclose(y, col2im.apply({"params": params}, x), atol=1e-5))  # same result
        True
    """

    features: int
    kernel_size: int
    form: str | None = None
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros_init()
    dtype: Any = None

    @nn.compact
    def __call__(self, x: Array) -> Array:
        """Maps ``x [N,H,W,C]`` to ``[N,2H,2W,features]`` in the layer's ``form``.

        ``form=None`` takes :func:`default_form`, or ``"lax"`` when ``k`` is odd.
        """
        k, c = self.kernel_size, x.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (k, k, c, self.features))
        bias = self.param("bias", self.bias_init, (self.features,))
        form = self.form
        if form is None:
            form = default_form("conv_transpose", in_channels=c, out_channels=self.features)
            if k % 2:
                form = "lax"
        check_form(form, k, transpose=True)
        x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
        return conv_transpose2d(x, kernel, form=form) + bias
