"""disentax.models: parameters and forward passes (Flax linen), no losses.

Public API: the reference modules (``ConvEncoder``, ``DeconvDecoder``, ``FCEncoder``,
``FCDecoder``, ``Discriminator``, ``VAE``), the factories ``MODELS`` / ``make_model`` /
``make_discriminator``, the pure functions ``init_params``, ``encode``, ``decode``,
``forward`` (returning ``VAEOutput``), and the stride-2 layers ``StridedConv`` and
``StridedConvTranspose`` whose ``form=`` argument picks an exact computational form:
``CONV_FORMS`` / ``FORMS`` are the allowed values, ``default_form`` what ``None`` picks.
The forms themselves live in the private ``disentax.models._conv``.
"""

try:  # the modules are Flax linen: without flax, one line naming the extra
    import flax  # noqa: F401
except ModuleNotFoundError as err:
    from disentax._extras import missing_module_error

    raise missing_module_error("flax", "models", "disentax.models") from err

from disentax.models._conv import CONV_FORMS, FORMS, default_form
from disentax.models.decoders import DeconvDecoder, FCDecoder
from disentax.models.discriminators import Discriminator, make_discriminator
from disentax.models.encoders import ConvEncoder, FCEncoder
from disentax.models.layers import StridedConv, StridedConvTranspose
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
    "decode",
    "default_form",
    "encode",
    "forward",
    "init_params",
    "make_conv_vae",
    "make_discriminator",
    "make_fc_vae",
    "make_model",
]
