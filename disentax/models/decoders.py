"""Decoders ``z [N,L] -> logits [N,H,W,C]`` (Bernoulli logits or Gaussian means).

The architectures of the reference study (Locatello et al. 2019, Table 1; the
``deconv_decoder`` and ``fc_decoder`` of disentanglement_lib).

References:
    Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning of
    Disentangled Representations", ICML 2019.
"""

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from disentax.models._conv import check_forms
from disentax.models.layers import StridedConvTranspose
from disentax.typing import Array


class DeconvDecoder(nn.Module):
    """Reference deconvolutional decoder.

    dense 256 -> dense (H/16)(W/16)64 (ReLU) -> reshape -> transposed conv 64 k4 s2 ->
    32 k4 s2 -> 32 k4 s2 (ReLU) -> C k4 s2 (logits). With 64x64 images the reshape is
    4x4x64, as in the reference.

    Attributes:
        image_shape: ``(H, W, C)``; ``H`` and ``W`` divisible by ``2**len(channels)``.
        hidden: width of the first dense layer.
        channels: output channels of the transposed convolutions but the last (which has
            ``C``); the first also sets the reshape's channel count.
        kernel_size: kernel size of every transposed convolution.
        forms: per-transposed-convolution computational form, or ``None`` for the
            backend defaults. Forms do not change parameters or results.
        dtype: computation dtype of the layers (``None``: float32); parameters stay
            float32 and the logits are returned as float32.

    Examples:
        Shapes only (``jax.eval_shape`` traces, nothing is computed):

        >>> import jax
        >>> import jax.numpy as jnp
        >>> from disentax.models import DeconvDecoder
        >>> decoder = DeconvDecoder(image_shape=(64, 64, 3))
        >>> z = jnp.zeros((2, 5))
        >>> logits, _ = jax.eval_shape(decoder.init_with_output, jax.random.key(0), z)
        >>> logits.shape
        (2, 64, 64, 3)
    """

    image_shape: tuple[int, int, int] = (64, 64, 1)
    hidden: int = 256
    channels: Sequence[int] = (64, 64, 32, 32)
    kernel_size: int = 4
    forms: tuple[str | None, ...] | None = None
    dtype: Any = None

    @nn.compact
    def __call__(self, z: Array) -> Array:
        """``z [N,L] -> logits [N,H,W,C]``."""
        h, w, c = self.image_shape
        num_up = len(self.channels)
        if h % 2**num_up or w % 2**num_up:
            raise ValueError(
                f"image_shape height and width must be divisible by {2**num_up}, "
                f"got {self.image_shape}"
            )
        check_forms(self.forms, num_up, "forms", transpose=True)
        forms = self.forms or (None,) * num_up
        h0, w0 = h // 2**num_up, w // 2**num_up
        x = nn.relu(nn.Dense(self.hidden, dtype=self.dtype, name="hidden")(z))
        x = nn.relu(nn.Dense(h0 * w0 * self.channels[0], dtype=self.dtype, name="project")(x))
        x = x.reshape(x.shape[0], h0, w0, self.channels[0])
        outs = (*self.channels[1:], c)
        for i, (features, form) in enumerate(zip(outs, forms, strict=True)):
            x = StridedConvTranspose(
                features, self.kernel_size, form=form, dtype=self.dtype, name=f"deconv{i}"
            )(x)
            if i < num_up - 1:
                x = nn.relu(x)
        return x.astype(jnp.float32)


class FCDecoder(nn.Module):
    """Reference fully connected decoder: 3 x dense 1200 (tanh) -> dense H*W*C -> reshape.

    Attributes:
        image_shape: ``(H, W, C)``.
        hidden: widths of the hidden layers.
        dtype: computation dtype of the layers (``None``: float32); logits are float32.

    Examples:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> from disentax.models import FCDecoder
        >>> decoder = FCDecoder(image_shape=(1, 1, 4))
        >>> z = jnp.zeros((2, 5))
        >>> logits, _ = jax.eval_shape(decoder.init_with_output, jax.random.key(0), z)
        >>> logits.shape
        (2, 1, 1, 4)
    """

    image_shape: tuple[int, int, int] = (64, 64, 1)
    hidden: Sequence[int] = (1200, 1200, 1200)
    dtype: Any = None

    @nn.compact
    def __call__(self, z: Array) -> Array:
        """``z [N,L] -> logits [N,H,W,C]``."""
        x = z
        for i, width in enumerate(self.hidden):
            x = nn.tanh(nn.Dense(width, dtype=self.dtype, name=f"hidden{i}")(x))
        x = nn.Dense(int(np.prod(self.image_shape)), dtype=self.dtype, name="logits")(x)
        return x.reshape(x.shape[0], *self.image_shape).astype(jnp.float32)
