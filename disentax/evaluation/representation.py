"""Representation functions of a trained VAE, and codes of random points of a dataset.

* :func:`make_representation_fn` turns a trained VAE into ``images -> codes`` (the
  posterior mean by default, a posterior sample with ``mode="sampled"``), as a
  ``jax.tree_util.Partial`` so the parameters are arguments of jitted programs.
* :func:`make_posterior_fn` gives ``images -> (mean, logvar)`` (for ``mig_sampled``).
* :func:`sample_codes` draws factors, renders and encodes them in one jitted program.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

from disentax.metrics.interventions import (
    check_interventional_args,
    chunking,
    map_chunks,
    split_representation_fn,
)
from disentax.typing import PRNGKey

__all__ = ["make_posterior_fn", "make_representation_fn", "sample_codes"]


@dataclasses.dataclass(frozen=True)
class _Encoder:
    """Static part of a representation function: the model and what to return."""

    model: object
    mode: str

    def __call__(self, params, key, images):
        from disentax.models.vae import encode

        mean, logvar = encode(self.model, params, images)
        if self.mode == "mean":
            return mean
        if self.mode == "posterior":
            return mean, logvar
        # One fixed-noise draw per image: the noise key is folded with a hash of the
        # pixels, so the same image always gets the same sample.
        flat = images.reshape(images.shape[0], -1)
        weights = jax.random.uniform(jax.random.key(17), (flat.shape[1],), jnp.float32)
        hashes = jax.lax.bitcast_convert_type(flat @ weights, jnp.uint32)
        noise = jax.vmap(lambda h: jax.random.normal(jax.random.fold_in(key, h), mean.shape[1:]))
        return mean + jnp.exp(0.5 * logvar) * noise(hashes)


def make_representation_fn(model, params, *, mode: str = "mean", key: PRNGKey | None = None):
    """``images [M, H, W, C] -> codes [M, L]`` of a VAE, as a jittable pytree callable.

    Args:
      model: a :class:`disentax.models.VAE`.
      params: its parameters.
      mode: ``"mean"`` (the posterior mean, the study's default) or ``"sampled"``
        (``mean + exp(logvar / 2) * eps``, with ``eps`` a fixed function of ``key`` and
        the image, so repeated calls agree).
      key: PRNG key of the ``"sampled"`` noise (default ``jax.random.key(0)``).

    Returns:
      A ``jax.tree_util.Partial``: call it on images; pass it to jitted functions.

    Example:
      >>> import jax
      >>> from disentax.models import make_model
      >>> from disentax.models.vae import init_params
      >>> model = make_model("fc", num_latents=3, image_shape=(1, 1, 4))
      >>> represent = make_representation_fn(model, init_params(model, jax.random.key(0)))
      >>> represent(jax.numpy.zeros((2, 1, 1, 4))).shape
      (2, 3)
    """
    if mode not in ("mean", "sampled"):
        raise ValueError(f"mode must be 'mean' or 'sampled', got {mode!r}")
    key = jax.random.key(0) if key is None else key
    return jax.tree_util.Partial(_Encoder(model, mode), params, key)


def make_posterior_fn(model, params):
    """``images -> (mean [M, L], logvar [M, L])`` of a VAE (for ``mig_sampled``).

    Example:
      >>> import jax
      >>> from disentax.models import make_model
      >>> from disentax.models.vae import init_params
      >>> model = make_model("fc", num_latents=3, image_shape=(1, 1, 4))
      >>> posterior = make_posterior_fn(model, init_params(model, jax.random.key(0)))
      >>> [a.shape for a in posterior(jax.numpy.zeros((2, 1, 1, 4)))]
      [(2, 3), (2, 3)]
    """
    return jax.tree_util.Partial(_Encoder(model, "posterior"), params, jax.random.key(0))


@functools.partial(jax.jit, static_argnames=("static_fn", "num", "points_per_chunk"))
def _sample_codes(key, dataset, dyn_fn, *, static_fn, num, points_per_chunk):
    represent = static_fn if static_fn is not None else dyn_fn
    num_chunks, padded = chunking(num, points_per_chunk)

    def chunk_fn(keys):
        factors = jax.vmap(lambda k: dataset.sample_factors(k, 1)[0])(keys)
        return represent(dataset.observations(factors)), factors

    codes, factors = map_chunks(chunk_fn, jax.random.split(key, padded), num_chunks)
    return jax.tree_util.tree_map(lambda a: a[:num], codes), factors[:num]


def sample_codes(key, dataset, representation_fn, num: int, *, points_per_chunk: int = 1000):
    """``(codes [num, L], factors [num, F])`` of ``num`` random points, one jitted program.

    ``codes`` is whatever ``representation_fn`` returns per image (a tuple for
    :func:`make_posterior_fn`).

    Example:
      >>> import jax
      >>> from disentax.data import Identity
      >>> flat = lambda images: images.reshape(images.shape[0], -1)
      >>> codes, factors = sample_codes(jax.random.key(0), Identity((3, 4)), flat, 5)
      >>> codes.shape, factors.shape
      ((5, 2), (5, 2))
    """
    check_interventional_args(key, dataset, num=num, points_per_chunk=points_per_chunk)
    dyn_fn, static_fn = split_representation_fn(representation_fn)
    return _sample_codes(
        key,
        dataset,
        dyn_fn,
        static_fn=static_fn,
        num=int(num),
        points_per_chunk=int(points_per_chunk),
    )
