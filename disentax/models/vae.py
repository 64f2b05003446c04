"""The VAE module and the pure functions that train, evaluate and visualise it.

``VAE(encoder, decoder)`` is a Flax linen module; everything else here is a pure function
of ``(model, params, arrays[, key])``: the model is static (hashable), ``params`` is the
``"params"`` collection returned by :func:`init_params`.

References:
    Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014.
    Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning of
    Disentangled Representations", ICML 2019 (the reference architectures).
"""

import functools
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from disentax.models.decoders import DeconvDecoder, FCDecoder
from disentax.models.discriminators import Discriminator
from disentax.models.encoders import ConvEncoder, FCEncoder
from disentax.typing import Array, PRNGKey, PyTree


class VAEOutput(NamedTuple):
    """One forward pass (a pytree). ``mean, logvar, z [N,L]``; ``logits [N,H,W,C]``.

    Examples:
        >>> from disentax.models import VAEOutput
        >>> VAEOutput._fields
        ('mean', 'logvar', 'z', 'logits')
    """

    mean: Array
    logvar: Array
    z: Array
    logits: Array


class VAE(nn.Module):
    """A Gaussian-posterior VAE: ``encoder`` gives ``(mean, logvar)``, ``decoder`` logits.

    Attributes:
        encoder: module ``images [N,H,W,C] -> (mean [N,L], logvar [N,L])`` with a
            ``num_latents`` attribute.
        decoder: module ``z [N,L] -> logits [N,H,W,C]`` with an ``image_shape`` attribute.

    Examples:
        A VAE of any encoder and decoder (here the reference dense ones), used as a Flax
        module:

        >>> import jax
        >>> import jax.numpy as jnp
        >>> from disentax.models import VAE, FCDecoder, FCEncoder, init_params, make_model
        >>> model = VAE(FCEncoder(num_latents=2), FCDecoder(image_shape=(1, 1, 4)))
        >>> model == make_model("fc", num_latents=2, image_shape=(1, 1, 4))
        True
        >>> model.num_latents, model.image_shape
        (2, (1, 1, 4))
        >>> params = init_params(model, jax.random.key(0))
        >>> images, noise = jnp.zeros((3, 1, 1, 4)), jnp.zeros((3, 2))
        >>> out = model.apply({"params": params}, images, noise)  # z = mean + exp(logvar/2) noise
        >>> out.z.shape, out.logits.shape
        ((3, 2), (3, 1, 1, 4))
    """

    encoder: nn.Module
    decoder: nn.Module

    @property
    def num_latents(self) -> int:
        """``L``, the encoder's number of latents."""
        return self.encoder.num_latents

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of the decoder's images."""
        return tuple(self.decoder.image_shape)

    def encode(self, images: Array) -> tuple[Array, Array]:
        """The posterior ``(mean [N,L], logvar [N,L])`` of ``images [N,H,W,C]``."""
        return self.encoder(images)

    def decode(self, z: Array) -> Array:
        """The decoder's ``logits [N,H,W,C]`` of ``z [N,L]``."""
        return self.decoder(z)

    def __call__(self, images: Array, noise: Array) -> VAEOutput:
        """Reparameterised pass: ``z = mean + exp(logvar / 2) * noise``, ``noise [N,L]``."""
        mean, logvar = self.encoder(images)
        z = mean + jnp.exp(0.5 * logvar) * noise
        return VAEOutput(mean, logvar, z, self.decoder(z))


#: The computation dtypes of the layers (parameters stay float32).
DTYPES = ("float32", "bfloat16", "float16")


def _compute_dtype(dtype) -> Any:
    """``None`` for float32 (the modules' default), else the jnp dtype; checks the name."""
    name = jnp.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    return None if name == "float32" else jnp.dtype(name)


def make_conv_vae(
    *,
    num_latents: int = 10,
    image_shape: tuple[int, int, int] = (64, 64, 1),
    dtype="float32",
    **kwargs,
) -> VAE:
    """Reference convolutional VAE. ``kwargs``: ``encoder_forms``, ``decoder_forms``.

    ``dtype`` is the computation dtype of every layer (``"float32"``, ``"bfloat16"`` or
    ``"float16"``); parameters stay float32 and the encoder and decoder outputs are float32,
    so the objectives always run in float32 (mixed precision).

    Examples:
        Shapes only (``jax.eval_shape`` traces, nothing is computed):

        >>> import functools
        >>> import jax
        >>> import jax.numpy as jnp
        >>> from disentax.models import forward, init_params, make_conv_vae
        >>> model = make_conv_vae(num_latents=3, dtype="bfloat16")
        >>> key = jax.random.key(0)
        >>> params = jax.eval_shape(functools.partial(init_params, model), key)
        >>> out = jax.eval_shape(
        ...     functools.partial(forward, model), params, jnp.zeros((2, 64, 64, 1)), key
        ... )
        >>> out.mean.shape, out.logits.shape, out.logits.dtype
        ((2, 3), (2, 64, 64, 1), dtype('float32'))
    """
    compute = _compute_dtype(dtype)
    # modules are hashed (static jit arguments): a list of forms becomes a tuple
    encoder_forms, decoder_forms = (
        None if f is None else tuple(f) if isinstance(f, list) else f
        for f in (kwargs.pop("encoder_forms", None), kwargs.pop("decoder_forms", None))
    )
    encoder = ConvEncoder(num_latents=num_latents, forms=encoder_forms, dtype=compute)
    decoder = DeconvDecoder(image_shape=tuple(image_shape), forms=decoder_forms, dtype=compute)
    if kwargs:
        raise TypeError(f"make_conv_vae got unexpected arguments {sorted(kwargs)}")
    return VAE(encoder, decoder)


def make_fc_vae(
    *,
    num_latents: int = 10,
    image_shape: tuple[int, int, int] = (64, 64, 1),
    dtype="float32",
    **kwargs,
) -> VAE:
    """Reference fully connected VAE (1200-1200 encoder, 1200-1200-1200 tanh decoder).

    ``dtype`` as in :func:`make_conv_vae`.

    Examples:
        >>> from disentax.models import make_fc_vae
        >>> model = make_fc_vae(num_latents=2, image_shape=(1, 1, 4))
        >>> model.encoder.hidden, model.decoder.hidden
        ((1200, 1200), (1200, 1200, 1200))
    """
    if kwargs:
        raise TypeError(f"make_fc_vae got unexpected arguments {sorted(kwargs)}")
    compute = _compute_dtype(dtype)
    return VAE(
        FCEncoder(num_latents=num_latents, dtype=compute),
        FCDecoder(image_shape=tuple(image_shape), dtype=compute),
    )


#: Model name -> factory; :func:`make_model` looks the name up here.
MODELS = {"conv": make_conv_vae, "fc": make_fc_vae}


def make_model(
    name: str = "conv",
    *,
    num_latents: int = 10,
    image_shape: tuple[int, int, int] = (64, 64, 1),
    **kwargs,
) -> VAE:
    """The VAE called ``name`` in :data:`MODELS`.

    Args:
        name: ``"conv"`` or ``"fc"``.
        num_latents: ``L``.
        image_shape: ``(H, W, C)`` of the images.
        **kwargs: options of the factory (``dtype``, ``encoder_forms``, ...).

    Returns:
        A :class:`VAE` module.

    Examples:
        >>> from disentax.models import make_model
        >>> model = make_model("fc", num_latents=2, image_shape=(1, 1, 4))
        >>> type(model).__name__, model.num_latents, model.image_shape
        ('VAE', 2, (1, 1, 4))
    """
    if name not in MODELS:
        raise ValueError(f"name must be one of {sorted(MODELS)}, got {name!r}")
    if isinstance(num_latents, bool) or int(num_latents) != num_latents or num_latents < 1:
        raise ValueError(f"num_latents must be a positive integer, got {num_latents!r}")
    image_shape = tuple(int(s) for s in image_shape)
    if len(image_shape) != 3 or min(image_shape) < 1:
        raise ValueError(f"image_shape must be (H, W, C) of positive ints, got {image_shape}")
    return MODELS[name](num_latents=int(num_latents), image_shape=image_shape, **kwargs)


def _example_inputs(model: nn.Module) -> tuple[Array, ...]:
    if isinstance(model, VAE):
        return (
            jnp.zeros((1, *model.image_shape), jnp.float32),
            jnp.zeros((1, model.num_latents), jnp.float32),
        )
    if isinstance(model, Discriminator):
        return (jnp.zeros((1, model.num_latents), jnp.float32),)
    raise TypeError(f"model must be a VAE or a Discriminator, got {type(model).__name__}")


@functools.partial(jax.jit, static_argnums=0)
def _init(model: nn.Module, key: PRNGKey) -> PyTree:
    return model.init(key, *_example_inputs(model))["params"]


def init_params(model: nn.Module, key: PRNGKey) -> PyTree:
    """Initial parameters of a :class:`VAE` or :class:`Discriminator`, one jitted program.

    Args:
        model: the module (hashable; compiled once per distinct module).
        key: a PRNG key.

    Returns:
        The ``"params"`` collection (a nested dict of arrays).

    Examples:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> from disentax.models import init_params, make_model
        >>> model = make_model("fc", num_latents=2, image_shape=(1, 1, 4))
        >>> params = init_params(model, jax.random.key(0))
        >>> sorted(params), params["encoder"]["mean"]["kernel"].shape
        (['decoder', 'encoder'], (1200, 2))
    """
    _example_inputs(model)  # type check before tracing
    return _init(model, key)


def _check_images(model: VAE, images: Array) -> None:
    if tuple(images.shape[1:]) != model.image_shape or images.ndim != 4:
        raise ValueError(
            f"images must have shape [N, {', '.join(map(str, model.image_shape))}], "
            f"got {tuple(images.shape)}"
        )


def encode(model: VAE, params: PyTree, images: Array) -> tuple[Array, Array]:
    """Posterior parameters: ``images [N,H,W,C] -> (mean [N,L], logvar [N,L])``.

    Examples:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> from disentax.models import encode, init_params, make_model
        >>> model = make_model("fc", num_latents=2, image_shape=(1, 1, 4))
        >>> params = init_params(model, jax.random.key(0))
        >>> mean, logvar = encode(model, params, jnp.zeros((3, 1, 1, 4)))
        >>> mean.shape, logvar.shape
        ((3, 2), (3, 2))
    """
    _check_images(model, images)
    return model.apply({"params": params}, images, method=VAE.encode)


def decode(model: VAE, params: PyTree, z: Array) -> Array:
    """Decoder logits: ``z [N,L] -> logits [N,H,W,C]`` (``sigmoid`` gives Bernoulli means).

    Examples:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> from disentax.models import decode, init_params, make_model
        >>> model = make_model("fc", num_latents=2, image_shape=(1, 1, 4))
        >>> params = init_params(model, jax.random.key(0))
        >>> decode(model, params, jnp.zeros((3, 2))).shape
        (3, 1, 1, 4)
    """
    if z.ndim != 2 or z.shape[1] != model.num_latents:
        raise ValueError(f"z must have shape [N, {model.num_latents}], got {tuple(z.shape)}")
    return model.apply({"params": params}, z, method=VAE.decode)


def forward(model: VAE, params: PyTree, images: Array, key: PRNGKey) -> VAEOutput:
    """One reparameterised pass: ``z ~ N(mean, exp(logvar))`` drawn with ``key``.

    Args:
        model: the :class:`VAE`.
        params: its parameters.
        images: ``[N,H,W,C]`` float in [0, 1].
        key: PRNG key of the posterior sample.

    Returns:
        :class:`VAEOutput` with ``mean, logvar, z [N,L]`` and ``logits [N,H,W,C]``.

    Examples:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> from disentax.models import forward, init_params, make_model
        >>> model = make_model("fc", num_latents=2, image_shape=(1, 1, 4))
        >>> params = init_params(model, jax.random.key(0))
        >>> out = forward(model, params, jnp.zeros((3, 1, 1, 4)), jax.random.key(1))
        >>> out.mean.shape, out.z.shape, out.logits.shape
        ((3, 2), (3, 2), (3, 1, 1, 4))
    """
    _check_images(model, images)
    noise = jax.random.normal(key, (images.shape[0], model.num_latents), images.dtype)
    return model.apply({"params": params}, images, noise)
