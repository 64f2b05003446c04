"""Gaussian encoders ``images [N,H,W,C] -> (mean [N,L], logvar [N,L])``.

The architectures of the reference study (Locatello et al. 2019, Table 1; the
``conv_encoder`` and ``fc_encoder`` of disentanglement_lib).

References:
    Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning of
    Disentangled Representations", ICML 2019.
"""

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from disentax.models._conv import check_forms
from disentax.models.layers import StridedConv
from disentax.typing import Array


class ConvEncoder(nn.Module):
    """Reference convolutional encoder.

    conv 32 k4 s2 -> conv 32 k4 s2 -> conv 64 k2 s2 -> conv 64 k2 s2 (ReLU, SAME padding)
    -> dense 256 (ReLU) -> dense L (mean) and dense L (logvar).

    Attributes:
        num_latents: ``L``.
        channels: output channels of the stride-2 convolutions.
        kernel_sizes: their kernel sizes (same length as ``channels``).
        hidden: width of the dense layer after the convolutions.
        forms: per-convolution computational form (``CONV_FORMS``; see ``StridedConv``), or
            ``None`` for the backend defaults. Forms do not change parameters or results.
        dtype: computation dtype of the layers (``None``: float32); parameters stay
            float32 and ``mean``/``logvar`` are returned as float32.

    Examples:
        Shapes only (``jax.eval_shape`` traces, nothing is computed):

        >>> import jax
        >>> import jax.numpy as jnp
        >>> from disentax.models import ConvEncoder
        >>> encoder = ConvEncoder(num_latents=3)
        >>> images = jnp.zeros((2, 64, 64, 1))
        >>> (mean, logvar), _ = jax.eval_shape(encoder.init_with_output, jax.random.key(0), images)
        >>> mean.shape, logvar.shape
        ((2, 3), (2, 3))
    """

    num_latents: int = 10
    channels: Sequence[int] = (32, 32, 64, 64)
    kernel_sizes: Sequence[int] = (4, 4, 2, 2)
    hidden: int = 256
    forms: tuple[str | None, ...] | None = None
    dtype: Any = None

    @nn.compact
    def __call__(self, images: Array) -> tuple[Array, Array]:
        """``images [N,H,W,C] -> (mean [N,L], logvar [N,L])``."""
        if len(self.channels) != len(self.kernel_sizes):
            raise ValueError(
                f"channels and kernel_sizes must have equal lengths, got {self.channels} "
                f"and {self.kernel_sizes}"
            )
        check_forms(self.forms, len(self.channels), "forms")
        forms = self.forms or (None,) * len(self.channels)
        x = images
        for i, (features, k, form) in enumerate(
            zip(self.channels, self.kernel_sizes, forms, strict=True)
        ):
            conv = StridedConv(features, k, form=form, dtype=self.dtype, name=f"conv{i}")
            x = nn.relu(conv(x))
        x = x.reshape(x.shape[0], -1)
        x = nn.relu(nn.Dense(self.hidden, dtype=self.dtype, name="hidden")(x))
        mean = nn.Dense(self.num_latents, dtype=self.dtype, name="mean")(x)
        logvar = nn.Dense(self.num_latents, dtype=self.dtype, name="logvar")(x)
        return mean.astype(jnp.float32), logvar.astype(jnp.float32)


class FCEncoder(nn.Module):
    """Reference fully connected encoder: dense 1200 -> dense 1200 (ReLU) -> mean, logvar.

    Attributes:
        num_latents: ``L``.
        hidden: widths of the hidden layers.
        dtype: computation dtype of the layers (``None``: float32); outputs are float32.

    Examples:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> from disentax.models import FCEncoder
        >>> encoder = FCEncoder(num_latents=3)
        >>> images = jnp.zeros((2, 1, 1, 4))
        >>> (mean, logvar), _ = jax.eval_shape(encoder.init_with_output, jax.random.key(0), images)
        >>> mean.shape, logvar.shape
        ((2, 3), (2, 3))
    """

    num_latents: int = 10
    hidden: Sequence[int] = (1200, 1200)
    dtype: Any = None

    @nn.compact
    def __call__(self, images: Array) -> tuple[Array, Array]:
        """``images [N,H,W,C] -> (mean [N,L], logvar [N,L])``."""
        x = jnp.reshape(images, (images.shape[0], -1))
        for i, width in enumerate(self.hidden):
            x = nn.relu(nn.Dense(width, dtype=self.dtype, name=f"hidden{i}")(x))
        mean = nn.Dense(self.num_latents, dtype=self.dtype, name="mean")(x)
        logvar = nn.Dense(self.num_latents, dtype=self.dtype, name="logvar")(x)
        return mean.astype(jnp.float32), logvar.astype(jnp.float32)
