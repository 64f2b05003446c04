"""Stride-2 convolution layers whose computational form is a module argument.

``StridedConv`` and ``StridedConvTranspose`` hold exactly the parameters of
``flax.linen.Conv`` / ``flax.linen.ConvTranspose`` with ``strides=(2, 2)`` and
``padding="SAME"`` (``kernel [k,k,C,O]``, ``bias [O]``, same initialisers), so checkpoints
are interchangeable whatever ``form`` computes them. ``form=None`` picks the form that was
fastest for that layer on the current backend (:func:`default_form`). The ``"subpixel"``
and ``"matmul"`` forms define custom VJPs: reverse-mode derivatives (``jax.grad``,
``jax.vjp``) work, forward-mode ones (``jax.jvp``, ``jax.jacfwd``) need ``form="lax"``.
"""

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax

from disentax.models.convolution import CONV_FORMS, FORMS, check_form, conv2d, conv_transpose2d
from disentax.typing import Array

# Fastest exact form per backend and layer kind for the reference architecture, chosen by
# timing forward + backward of every stride-2 layer at batch 64 on one CPU thread: on
# XLA:CPU the sub-pixel forms beat lax by 2-25x for the transposed convolutions and ~1.7x
# for the 32-channel k4 convolution (their custom kernel gradients also beat lax's on the
# one-channel layers), and tie on the k2 ones. "matmul" lost on every large layer (its
# patch matrices cost more memory traffic than they save). "col2im" beat "subpixel" on the
# decoder's last layer (32 -> 1 channel; forward + backward 5.8 vs 8.2 ms at batch 64, as
# its sub-pixel convolution has only 4*O = 4 output channels).
# Keys: (kind, in_channels == 1 or out_channels == 1). Backends not listed use "lax".
_DEFAULT_FORMS: dict[str, dict[tuple[str, bool], str]] = {
    "cpu": {
        ("conv", False): "subpixel",
        ("conv", True): "subpixel",
        ("conv_transpose", False): "subpixel",
        ("conv_transpose", True): "col2im",
    },
}


def default_form(
    kind: str, *, in_channels: int, out_channels: int, backend: str | None = None
) -> str:
    """The default computational form of a stride-2 layer.

    Args:
        kind: ``"conv"`` or ``"conv_transpose"``.
        in_channels: ``C`` of the layer input.
        out_channels: ``O`` of the layer output.
        backend: a JAX platform name; ``None`` means ``jax.default_backend()``.

    Returns:
        One of ``FORMS``: on CPU the fastest measured form (``"col2im"`` for a transposed
        convolution with one input or output channel, ``"subpixel"`` for the other layers
        of the reference architecture), elsewhere ``"lax"``.
    """
    if kind not in ("conv", "conv_transpose"):
        raise ValueError(f"kind must be 'conv' or 'conv_transpose', got {kind!r}")
    table = _DEFAULT_FORMS.get(backend or jax.default_backend(), {})
    return table.get((kind, in_channels == 1 or out_channels == 1), "lax")


class StridedConv(nn.Module):
    """Stride-2 ``"SAME"`` convolution ``[N,H,W,C] -> [N,H/2,W/2,features]``.

    Attributes:
        features: output channels ``O``.
        kernel_size: square kernel size ``k`` (even unless ``form="lax"``).
        form: ``"lax"``, ``"subpixel"``, ``"matmul"`` or ``None`` (backend default).
        kernel_init: initialiser of ``kernel [k,k,C,O]`` (flax's default).
        bias_init: initialiser of ``bias [O]``.
        dtype: computation dtype (``None``: that of the input); parameters stay float32.
    """

    features: int
    kernel_size: int
    form: str | None = None
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros_init()
    dtype: Any = None

    @nn.compact
    def __call__(self, x: Array) -> Array:
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
    """

    features: int
    kernel_size: int
    form: str | None = None
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros_init()
    dtype: Any = None

    @nn.compact
    def __call__(self, x: Array) -> Array:
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


def check_forms(
    forms: tuple[str | None, ...] | None, num_layers: int, name: str, *, transpose: bool = False
) -> None:
    """Raises ValueError unless ``forms`` is None or a tuple of ``num_layers`` entries, each
    a form of the layer kind (``CONV_FORMS``, or ``FORMS`` for transposed convolutions) or
    None."""
    if forms is None:
        return
    allowed = FORMS if transpose else CONV_FORMS
    if (
        not isinstance(forms, tuple)
        or len(forms) != num_layers
        or any(f is not None and f not in allowed for f in forms)
    ):
        raise ValueError(
            f"{name} must be None or a tuple of {num_layers} entries from {allowed} or None, "
            f"got {forms!r}"
        )
