"""Known-answer datasets for tests and benchmarks of metrics and models.

The observation of each is a short vector, shaped ``[N, 1, 1, D]`` to keep the
``(H, W, C)`` convention (``images.reshape(N, -1)`` gives the vector):

* ``synthetic_identity``: the factors themselves, each scaled to [0, 1]
  (``factors / (size - 1)``); ``D = F``. A perfectly disentangled representation:
  metrics should score it (close to) their maximum.
* ``synthetic_rotation``: a fixed random rotation ``Q`` (orthogonal, from ``seed``) of
  the centred scaled factors, ``0.5 + Q (x - 0.5) / sqrt(F)`` (stays in [0, 1]);
  ``D = F``. Every coordinate mixes all factors: informative but entangled.
* ``synthetic_noise``: uniform noise in [0, 1] independent of the factors, ``D = num_dims``.
  An uninformative representation: metrics should score it near their minimum.
  ``observations(factors, key=None)`` draws the noise from ``key``; without a key it is a
  fixed pseudo-random function of the factors (see
  :func:`disentax.data.ground_truth.row_keys`), which is independent of each factor.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from disentax.data.ground_truth import FactorSpace, row_keys, static_pytree
from disentax.typing import Array, ArrayLike, PRNGKey

DEFAULT_SIZES = (5, 6, 7, 8)


@functools.cache
def rotation_matrix(dim: int, seed: int) -> np.ndarray:
    """A fixed ``[dim, dim]`` orthogonal matrix: QR of a Gaussian matrix, signs fixed."""
    gaussian = np.random.default_rng(seed).standard_normal((dim, dim))
    q, r = np.linalg.qr(gaussian)
    return (q * np.sign(np.diag(r))).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class _Synthetic:
    factor_sizes: tuple[int, ...] = DEFAULT_SIZES
    seed: int = 0
    takes_key: ClassVar[bool] = False
    name: ClassVar[str] = ""

    def __post_init__(self):
        object.__setattr__(self, "factor_sizes", tuple(int(s) for s in self.factor_sizes))
        FactorSpace(self.factor_sizes)  # validates the sizes

    @property
    def factor_names(self) -> tuple[str, ...]:
        return tuple(f"factor_{i}" for i in range(len(self.factor_sizes)))

    @property
    def factor_space(self) -> FactorSpace:
        return FactorSpace(self.factor_sizes, self.factor_names)

    @property
    def observation_shape(self) -> tuple[int, ...]:
        return (1, 1, len(self.factor_sizes))

    def sample_factors(self, key: PRNGKey, num: int) -> Array:
        """``[num, F]`` int32 factors uniform over the grid."""
        return self.factor_space.sample(key, num)

    def scaled(self, factors: Array) -> Array:
        """Factors scaled to [0, 1]: ``factors / (size - 1)`` (0 for a size-1 factor)."""
        denom = jnp.asarray([max(s - 1, 1) for s in self.factor_sizes], jnp.float32)
        return factors.astype(jnp.float32) / denom


@static_pytree
@dataclasses.dataclass(frozen=True)
class Identity(_Synthetic):
    """Observation = the scaled factor vector.

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.data import Identity
      >>> dataset = Identity((3, 5))
      >>> dataset.factor_names, dataset.observation_shape
      (('factor_0', 'factor_1'), (1, 1, 2))
      >>> dataset.observations(jnp.array([[0, 4], [2, 2]])).reshape(2, -1).tolist()
      [[0.0, 1.0], [1.0, 0.5]]
    """

    name: ClassVar[str] = "synthetic_identity"

    def observations(self, factors: ArrayLike) -> Array:
        """``[N, 1, 1, F]`` float32: ``factors / (size - 1)``."""
        return _identity(self, self.factor_space.check(factors))


@static_pytree
@dataclasses.dataclass(frozen=True)
class Rotation(_Synthetic):
    """Observation = a fixed rotation of the centred, scaled factor vector.

    Examples:
      >>> import jax.numpy as jnp
      >>> import numpy as np
      >>> from disentax.data import Rotation
      >>> dataset = Rotation((3, 5))
      >>> np.allclose(dataset.matrix @ dataset.matrix.T, np.eye(2), atol=1e-6)
      True
      >>> dataset.observations(jnp.array([[1, 2]])).reshape(-1).tolist()  # the centre stays
      [0.5, 0.5]
    """

    name: ClassVar[str] = "synthetic_rotation"

    @property
    def matrix(self) -> np.ndarray:
        """The rotation ``Q`` ``[F, F]`` (orthogonal, fixed by ``seed``)."""
        return rotation_matrix(len(self.factor_sizes), self.seed)

    def observations(self, factors: ArrayLike) -> Array:
        """``[N, 1, 1, F]`` float32 in [0, 1]: ``0.5 + (x - 0.5) Q^T / sqrt(F)``."""
        return _rotation(self, self.factor_space.check(factors))


@static_pytree
@dataclasses.dataclass(frozen=True)
class Noise(_Synthetic):
    """Observation = uniform noise, independent of the factors.

    Examples:
      >>> import jax
      >>> from disentax.data import Noise
      >>> dataset = Noise((3, 5), num_dims=6)
      >>> factors = dataset.sample_factors(jax.random.key(0), 4)
      >>> noise = dataset.observations(factors)  # no key: a fixed function of the factors
      >>> noise.shape
      (4, 1, 1, 6)
      >>> bool((noise == dataset.observations(factors)).all())
      True
    """

    num_dims: int = 0
    takes_key: ClassVar[bool] = True
    name: ClassVar[str] = "synthetic_noise"

    @property
    def observation_shape(self) -> tuple[int, ...]:
        """``(1, 1, D)``: ``D = num_dims``, or the number of factors when that is 0."""
        return (1, 1, self.num_dims or len(self.factor_sizes))

    def observations(self, factors: ArrayLike, key: PRNGKey | None = None) -> Array:
        """``[N, 1, 1, D]`` float32 uniform in [0, 1]; ``key`` as in ``row_keys``."""
        factors = self.factor_space.check(factors)
        return _noise(self, factors, key)


# Jitted so that eager callers get one compiled program (inlined under an outer jit).
@jax.jit
def _identity(dataset: Identity, factors: Array) -> Array:
    return dataset.scaled(factors)[:, None, None, :]


@jax.jit
def _rotation(dataset: Rotation, factors: Array) -> Array:
    centred = dataset.scaled(factors) - 0.5
    dim = len(dataset.factor_sizes)
    rotated = 0.5 + centred @ jnp.asarray(dataset.matrix).T / math.sqrt(dim)
    return jnp.clip(rotated, 0.0, 1.0)[:, None, None, :]


@jax.jit
def _noise(dataset: Noise, factors: Array, key: PRNGKey | None) -> Array:
    keys = row_keys(key, factors, dataset.factor_space, seed=dataset.seed)
    dims = dataset.observation_shape[-1]
    noise = jax.vmap(lambda k: jax.random.uniform(k, (dims,)))(keys)
    return noise[:, None, None, :]
