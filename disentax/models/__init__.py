"""disentax.models: parameters and forward passes (Flax linen), no losses.

Public API: the reference modules (``ConvEncoder``, ``DeconvDecoder``, ``FCEncoder``,
``FCDecoder``, ``Discriminator``, ``VAE``), the factories ``MODELS`` / ``make_model`` /
``make_discriminator``, the pure functions ``init_params``, ``encode``, ``decode``,
``forward`` (returning ``VAEOutput``), and the exact stride-2 layer forms
(``StridedConv``, ``StridedConvTranspose``, ``conv2d``, ``conv_transpose2d``).
"""

from disentax.models.convolution import CONV_FORMS, FORMS, conv2d, conv_transpose2d
from disentax.models.decoders import DeconvDecoder, FCDecoder
from disentax.models.discriminators import Discriminator, make_discriminator
from disentax.models.encoders import ConvEncoder, FCEncoder
from disentax.models.im2col import depth_to_space, space_to_depth
from disentax.models.layers import StridedConv, StridedConvTranspose, default_form
from disentax.models.vae import (
    DTYPES,
    MODELS,
    VAE,
    VAEOutput,
    decode,
    encode,
    forward,
    init_params,
    make_conv_vae,
    make_fc_vae,
    make_model,
)

__all__ = [
    "CONV_FORMS",
    "DTYPES",
    "FORMS",
    "MODELS",
    "VAE",
    "ConvEncoder",
    "DeconvDecoder",
    "Discriminator",
    "FCDecoder",
    "FCEncoder",
    "StridedConv",
    "StridedConvTranspose",
    "VAEOutput",
    "conv2d",
    "conv_transpose2d",
    "decode",
    "default_form",
    "depth_to_space",
    "encode",
    "forward",
    "init_params",
    "make_conv_vae",
    "make_discriminator",
    "make_fc_vae",
    "make_model",
    "space_to_depth",
]
