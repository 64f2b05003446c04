"""Procedural dSprites: the published factor grid, rendered on the device by pure JAX.

The published dSprites images were drawn with the LOVE 2-D engine; no public source
gives the sprite pixel sizes or the heart's outline. This module therefore renders
**approximations** of the published sprites, not copies: a filled square, ellipse and
heart on a 64x64 binary canvas whose size, rotation about the sprite centre and position
follow the published factor values monotonically and smoothly, over exactly the
published factor grid (shape 3, scale 6, orientation 40, posX 32, posY 32). Models
trained here are comparable in kind, not pixel for pixel, with models trained on the
published file (read that one with the ``dsprites_file`` dataset).

Geometry (pixel units, pixel ``(row i, column j)`` has its centre at ``(i+0.5, j+0.5)``):

* centre: column ``16.5 + 31 * posX``, row ``16.5 + 31 * posY`` (one pixel per position
  step; ``posY`` grows downwards as image rows do);
* size: every length is proportional to ``scale``; at scale 1 the square is 20.5 px wide
  (32% of the image), the ellipse 25.6 x 12.8 px, the heart 22.3 px wide;
* orientation: the sprite turns counter-clockwise on screen by the orientation angle;
  ``0`` and ``2*pi`` (both in the published grid) give the same image;
* every point of every sprite lies within 14.5 px of its centre, so the sprite never
  touches the outermost pixel ring of the frame.

Cost: each pixel is tested in the sprite's own frame; the rotation is separable
(``u = a[n, j] + b[n, i]``), so a pixel costs two additions plus the three implicit
shape tests, with no gathers.

References:
  Matthey, Higgins, Hassabis, Lerchner. dSprites: Disentanglement testing Sprites
  dataset. https://github.com/deepmind/dsprites-dataset, 2017.
  Higgins et al. beta-VAE: Learning Basic Visual Concepts with a Constrained
  Variational Framework. ICLR 2017.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from disentax.data.ground_truth import FactorSpace, static_pytree
from disentax.typing import Array, ArrayLike, PRNGKey

FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (3, 6, 40, 32, 32)
SHAPE_NAMES = ("square", "ellipse", "heart")
IMAGE_SIZE = 64

# Published factor values (dsprites metadata `latents_possible_values`, colour dropped).
SCALE_VALUES = np.linspace(0.5, 1.0, 6)
ORIENTATION_VALUES = np.linspace(0.0, 2.0 * np.pi, 40)
POSITION_VALUES = np.linspace(0.0, 1.0, 32)
FACTOR_VALUES = (SHAPE_NAMES, SCALE_VALUES, ORIENTATION_VALUES, POSITION_VALUES, POSITION_VALUES)

# Geometry at scale 1, in pixels. The half-side is not a multiple of 0.5 at any scale,
# so no sprite edge passes exactly through a pixel centre of an axis-aligned sprite.
_HALF_SIDE = 10.25  # square half side
_ELLIPSE_AXES = (1.25 * _HALF_SIDE, 0.625 * _HALF_SIDE)  # semi-axes (u, w)
_HEART_H = 0.9 * _HALF_SIDE  # half diagonal of the heart's diamond
_MARGIN = 16.5  # centre at posX = 0; the centre moves 31 px from posX = 0 to 1
# Heart = diamond |u| + |w - wc| <= h with its two upper edges capped by discs of
# radius h/sqrt(2) centred on the edge midpoints (+-h/2, wc + h/2); wc puts the centre
# of the bounding box at the origin.
_HEART_WC = 0.5 * _HEART_H * (0.5 - math.sqrt(0.5))


def max_extent(scale: float = 1.0) -> float:
    """Largest distance (px) from the sprite centre to any point of any shape."""
    square = _HALF_SIDE * math.sqrt(2.0)
    ellipse = _ELLIPSE_AXES[0]
    lobe = math.hypot(0.5 * _HEART_H, _HEART_WC + 0.5 * _HEART_H) + _HEART_H * math.sqrt(0.5)
    tip = abs(_HEART_WC - _HEART_H)
    return scale * max(square, ellipse, lobe, tip)


def render_values(shape: ArrayLike, scale, angle, pos_x, pos_y, *, size: int = IMAGE_SIZE):
    """Renders sprites from continuous factor values; the core of :func:`render`.

    Args:
      shape: ``[N]`` int, 0 square, 1 ellipse, 2 heart.
      scale: ``[N]`` float, sprite size relative to the largest (published 0.5..1).
      angle: ``[N]`` float, counter-clockwise rotation in radians.
      pos_x: ``[N]`` float in [0, 1], left to right.
      pos_y: ``[N]`` float in [0, 1], top to bottom.
      size: image side in pixels (geometry scales with it; 64 is the published size).

    Returns:
      ``[N, size, size, 1]`` float32 binary images (1 inside the sprite).

    Examples:
      >>> from disentax.data import render_values
      >>> heart = render_values([2], [1.0], [0.0], [0.5], [0.5])  # largest, upright, centred
      >>> heart.shape
      (1, 64, 64, 1)
    """
    unit = size / IMAGE_SIZE
    shape = jnp.asarray(shape, jnp.int32)
    scale = jnp.asarray(scale, jnp.float32)
    angle = jnp.asarray(angle, jnp.float32)
    centre_x = unit * (_MARGIN + (IMAGE_SIZE - 2 * _MARGIN) * jnp.asarray(pos_x, jnp.float32))
    centre_y = unit * (_MARGIN + (IMAGE_SIZE - 2 * _MARGIN) * jnp.asarray(pos_y, jnp.float32))
    # Work in units of the sprite's half side so that the thresholds are constants.
    inv = 1.0 / (unit * _HALF_SIDE * scale)
    cos, sin = jnp.cos(angle) * inv, jnp.sin(angle) * inv
    grid = jnp.arange(size, dtype=jnp.float32) + 0.5
    dx = grid[None, :] - centre_x[:, None]  # [N, size] by column
    dy = grid[None, :] - centre_y[:, None]  # [N, size] by row
    # Sprite frame (u right, w up) of a pixel that the sprite rotated by +angle covers:
    # u = cos*dx - sin*dy, w = -sin*dx - cos*dy (screen y points down).
    u = (cos[:, None] * dx)[:, None, :] - (sin[:, None] * dy)[:, :, None]  # [N, row, col]
    w = -(sin[:, None] * dx)[:, None, :] - (cos[:, None] * dy)[:, :, None]
    au, aw = jnp.abs(u), jnp.abs(w)
    square = jnp.maximum(au, aw) <= 1.0
    ea, eb = (a / _HALF_SIDE for a in _ELLIPSE_AXES)
    ellipse = u * u * (1.0 / ea**2) + w * w * (1.0 / eb**2) <= 1.0
    h, wc = _HEART_H / _HALF_SIDE, _HEART_WC / _HALF_SIDE
    lobe_u, lobe_w = au - 0.5 * h, w - (wc + 0.5 * h)
    heart = (au + jnp.abs(w - wc) <= h) | (lobe_u * lobe_u + lobe_w * lobe_w <= 0.5 * h * h)
    kind = shape[:, None, None]
    inside = jnp.where(kind == 0, square, jnp.where(kind == 1, ellipse, heart))
    return inside.astype(jnp.float32)[..., None]


def class_values(factors: Array) -> tuple[Array, Array, Array, Array, Array]:
    """Class indices ``[N, 5]`` -> the published values (shape, scale, angle, x, y)."""
    f = factors.astype(jnp.float32)
    scale = 0.5 + f[:, 1] * (0.5 / 5.0)
    angle = f[:, 2] * (2.0 * math.pi / 39.0)
    return factors[:, 0], scale, angle, f[:, 3] * (1.0 / 31.0), f[:, 4] * (1.0 / 31.0)


def render(factors: ArrayLike) -> Array:
    """Renders dSprites images from class indices; pure JAX, jittable, no checks.

    Args:
      factors: ``[N, 5]`` int32 (shape, scale, orientation, posX, posY) indices.

    Returns:
      ``[N, 64, 64, 1]`` float32 binary images.

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.data import render
      >>> square = render(jnp.array([[0, 5, 0, 16, 16]]))  # scale 1, upright, near the centre
      >>> square.shape, int(square.sum())  # 20.5 px wide: 21 x 21 pixel centres inside
      ((1, 64, 64, 1), 441)
    """
    return render_values(*class_values(jnp.asarray(factors, jnp.int32)))


# One compiled program per batch size for eager callers (inside an outer jit it inlines).
_render_jit = jax.jit(render)


@static_pytree
@dataclasses.dataclass(frozen=True)
class DSprites:
    """Procedural dSprites (the default dataset): 5 factors, 64x64x1 binary images.

    The factor grid is exactly the published one; the pixels approximate the published
    sprites (see the module docstring), they are not copies of them.

    Stateless, hashable and jittable: ``observations`` can be called inside ``jax.jit``
    and the object can be closed over or passed as a static argument.

    Examples:
      >>> import jax
      >>> from disentax.data import DSprites
      >>> dataset = DSprites()
      >>> dataset.factor_names
      ('shape', 'scale', 'orientation', 'posX', 'posY')
      >>> dataset.factor_sizes, dataset.observation_shape
      ((3, 6, 40, 32, 32), (64, 64, 1))
      >>> factors = dataset.sample_factors(jax.random.key(0), 2)
      >>> factors.shape, factors.dtype
      ((2, 5), dtype('int32'))
      >>> dataset.observations(factors).shape
      (2, 64, 64, 1)
    """

    factor_names: tuple[str, ...] = FACTOR_NAMES
    factor_sizes: tuple[int, ...] = FACTOR_SIZES
    observation_shape: tuple[int, ...] = (IMAGE_SIZE, IMAGE_SIZE, 1)
    name: ClassVar[str] = "dsprites"
    takes_key: ClassVar[bool] = False  # images are a function of the factors alone

    @property
    def factor_space(self) -> FactorSpace:
        """The factor grid: ``factor_sizes`` with ``factor_names``."""
        return FactorSpace(self.factor_sizes, self.factor_names)

    @property
    def factor_values(self) -> tuple:
        """The published value of each class index, one array per factor."""
        return FACTOR_VALUES

    def sample_factors(self, key: PRNGKey, num: int) -> Array:
        """``[num, 5]`` int32 factors uniform over the published grid."""
        return self.factor_space.sample(key, num)

    def observations(self, factors: ArrayLike) -> Array:
        """``[N, 64, 64, 1]`` float32 binary images of ``factors [N, 5]``."""
        return _render_jit(self.factor_space.check(factors))
