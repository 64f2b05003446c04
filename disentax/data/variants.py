"""The dSprites variants of Locatello et al. 2019: colour, noisy and scream dSprites.

Each renders the procedural dSprites sprite (:mod:`disentax.data.dsprites`) and then,
as disentanglement_lib's ``ColorDSprites``, ``NoisyDSprites`` and ``ScreamDSprites`` do:

* ``color_dsprites``: the sprite is multiplied by a colour drawn per image uniformly in
  ``[0.5, 1]^3`` (black background);
* ``noisy_dsprites``: every pixel is ``min(sprite + u, 1)`` with ``u`` uniform in
  ``[0, 1)`` per pixel and channel (the sprite is white, the background noise; ``u``
  comes from a counter-based hash keyed per image, see :func:`hashed_uniform`);
* ``scream_dsprites``: a random 64x64 crop of a texture, averaged with a colour drawn
  uniformly in ``[0, 1]^3`` (``(crop + colour) / 2``), inverted (``1 - x``) under the
  sprite. The published variant crops Munch's *The Scream*; disentax ships no image
  file and uses instead a fixed procedurally generated texture (:func:`texture`), so
  images differ from the published variant while the construction is the same.

The colour, noise and crop are not ground-truth factors. ``observations(factors,
key=None)`` takes them from ``key`` when given (a single key, split per image, or one
key per image) and otherwise derives them deterministically from the factors, so that
``observations(factors)`` stays a pure function callable inside ``jit`` by training
and metric code (same factors, same image). See
:func:`disentax.data.ground_truth.row_keys`.

References:
  Locatello et al. Challenging Common Assumptions in the Unsupervised Learning of
  Disentangled Representations. ICML 2019, Section 5 and Appendix (dataset variants).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from disentax.data import dsprites
from disentax.data.ground_truth import FactorSpace, row_keys, static_pytree
from disentax.typing import Array, ArrayLike, PRNGKey

_SIZE = dsprites.IMAGE_SIZE
TEXTURE_SHAPE = (160, 192)


def _mix32(x: Array) -> Array:
    """Wellons' ``lowbias32`` integer hash (an avalanche mix of a uint32)."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def hashed_uniform(keys: Array, shape: tuple[int, ...]) -> Array:
    """Uniform [0, 1) noise ``[N, *shape]``, one independent stream per key.

    Each image draws 64 random bits from its key with ``jax.random.bits``; the value of
    element ``i`` is ``mix(mix(b0 ^ i) ^ b1)`` (24 high bits). A counter-based hash rather
    than threefry per pixel, because it is much cheaper on CPU and so keeps
    ``noisy_dsprites`` fast inside a train step (see docs/performance/data.md).

    References:
      Wellons. Prospecting for Hash Functions, 2018 (``lowbias32`` constants).
      Salmon et al. Parallel Random Numbers: As Easy as 1, 2, 3. SC 2011
      (counter-based generators).
    """
    words = jax.vmap(lambda k: jax.random.bits(k, (2,), jnp.uint32))(keys)
    expand = (slice(None),) + (None,) * len(shape)
    counter = jnp.arange(math.prod(shape), dtype=jnp.uint32).reshape(shape)
    x = _mix32(_mix32(words[:, 0][expand] ^ counter) ^ words[:, 1][expand])
    return (x >> 8).astype(jnp.float32) * (1.0 / (1 << 24))


@functools.cache
def texture() -> np.ndarray:
    """The background texture of ``scream_dsprites``: ``[160, 192, 3]`` float32 in [0, 1].

    A deterministic closed-form pattern of warped, swirling colour bands (sums of
    sinusoids of a domain-warped coordinate), standing in for the painting.
    """
    rows, cols = np.meshgrid(
        np.linspace(0.0, 1.0, TEXTURE_SHAPE[0]),
        np.linspace(0.0, 1.2, TEXTURE_SHAPE[1]),
        indexing="ij",
    )
    warp_x = cols + 0.15 * np.sin(7.0 * rows + 3.0 * np.sin(5.0 * cols))
    warp_y = rows + 0.12 * np.sin(9.0 * cols + 2.0 * np.cos(4.0 * rows))
    radius = np.hypot(warp_x - 0.6, warp_y - 0.45)
    swirl = np.sin(18.0 * radius + 4.0 * np.arctan2(warp_y - 0.45, warp_x - 0.6))
    bands = np.sin(11.0 * warp_y + 2.5 * swirl)
    channels = [
        0.55 + 0.30 * bands + 0.15 * swirl,
        0.45 + 0.25 * np.sin(13.0 * warp_x + swirl) + 0.10 * bands,
        0.35 + 0.30 * np.cos(8.0 * warp_x * warp_y + 2.0 * bands),
    ]
    image = np.stack(channels, axis=-1)
    image = (image - image.min()) / (image.max() - image.min())
    return image.astype(np.float32)


@dataclasses.dataclass(frozen=True)
class _Variant:
    """Shared part: the dSprites grid, 64x64x3 images, per-image randomness."""

    factor_names: tuple[str, ...] = dsprites.FACTOR_NAMES
    factor_sizes: tuple[int, ...] = dsprites.FACTOR_SIZES
    observation_shape: tuple[int, ...] = (_SIZE, _SIZE, 3)
    seed: int = 0
    takes_key: ClassVar[bool] = True
    name: ClassVar[str] = ""

    @property
    def factor_space(self) -> FactorSpace:
        return FactorSpace(self.factor_sizes, self.factor_names)

    @property
    def factor_values(self) -> tuple:
        return dsprites.FACTOR_VALUES

    def sample_factors(self, key: PRNGKey, num: int) -> Array:
        """``[num, 5]`` int32 factors uniform over the published dSprites grid."""
        return self.factor_space.sample(key, num)

    def observations(self, factors: ArrayLike, key: PRNGKey | None = None) -> Array:
        """``[N, 64, 64, 3]`` float32 images in [0, 1]; jittable.

        Args:
          factors: ``[N, 5]`` int32 dSprites factors.
          key: ``None`` (randomness a fixed function of the factors), a key (split per
            image) or ``[N]`` keys (one per image).
        """
        return _observe(self, self.factor_space.check(factors), key)

    def _dress(self, sprite: Array, keys: Array) -> Array:
        raise NotImplementedError


@jax.jit
def _observe(dataset: _Variant, factors: Array, key: PRNGKey | None) -> Array:
    # Jitted so that eager callers get one compiled program (inlined under an outer jit).
    keys = row_keys(key, factors, dataset.factor_space, seed=dataset.seed)
    return dataset._dress(dsprites.render(factors), keys)


@static_pytree
@dataclasses.dataclass(frozen=True)
class ColorDSprites(_Variant):
    """dSprites with the sprite coloured uniformly in ``[0.5, 1]^3`` per image.

    Examples:
      >>> import jax
      >>> from disentax.data import ColorDSprites
      >>> dataset = ColorDSprites()
      >>> dataset.factor_sizes, dataset.observation_shape, dataset.takes_key
      ((3, 6, 40, 32, 32), (64, 64, 3), True)
      >>> factors = dataset.sample_factors(jax.random.key(0), 2)
      >>> images = dataset.observations(factors)  # no key: colours fixed by the factors
      >>> images.shape
      (2, 64, 64, 3)
      >>> bool((images == dataset.observations(factors)).all())
      True
    """

    name: ClassVar[str] = "color_dsprites"

    def _dress(self, sprite, keys):
        color = jax.vmap(lambda k: jax.random.uniform(k, (3,), minval=0.5, maxval=1.0))(keys)
        return sprite * color[:, None, None, :]


@static_pytree
@dataclasses.dataclass(frozen=True)
class NoisyDSprites(_Variant):
    """dSprites in white over a background of uniform noise per pixel and channel.

    Examples:
      >>> import jax
      >>> from disentax.data import NoisyDSprites
      >>> dataset = NoisyDSprites()
      >>> dataset.observation_shape, dataset.takes_key
      ((64, 64, 3), True)
      >>> factors = dataset.sample_factors(jax.random.key(0), 2)
      >>> jax.eval_shape(dataset.observations, factors, jax.random.key(1)).shape  # fresh noise
      (2, 64, 64, 3)
    """

    name: ClassVar[str] = "noisy_dsprites"

    def _dress(self, sprite, keys):
        return jnp.minimum(sprite + hashed_uniform(keys, self.observation_shape), 1.0)


@static_pytree
@dataclasses.dataclass(frozen=True)
class ScreamDSprites(_Variant):
    """dSprites over a random crop of a texture, inverted under the sprite.

    Examples:
      >>> import jax
      >>> from disentax.data import ScreamDSprites
      >>> dataset = ScreamDSprites()
      >>> dataset.observation_shape, dataset.takes_key
      ((64, 64, 3), True)
      >>> factors = dataset.sample_factors(jax.random.key(0), 2)
      >>> jax.eval_shape(dataset.observations, factors, jax.random.key(1)).shape  # fresh crops
      (2, 64, 64, 3)
    """

    name: ClassVar[str] = "scream_dsprites"

    def _dress(self, sprite, keys):
        tex = jnp.asarray(texture())

        def background(k):
            k_row, k_col, k_color = jax.random.split(k, 3)
            row = jax.random.randint(k_row, (), 0, TEXTURE_SHAPE[0] - _SIZE)
            col = jax.random.randint(k_col, (), 0, TEXTURE_SHAPE[1] - _SIZE)
            crop = jax.lax.dynamic_slice(tex, (row, col, 0), (_SIZE, _SIZE, 3))
            return (crop + jax.random.uniform(k_color, (3,))) * 0.5

        back = jax.vmap(background)(keys)
        return jnp.where(sprite > 0.5, 1.0 - back, back)
