"""The ground-truth dataset protocol and the factor grid (``FactorSpace``).

A ground-truth dataset is a finite grid of generative factors and a map from a factor
vector to an image. Factors are integer class indices ``factors [N, F]`` (int32), one
column per factor; the flat index of a grid point is row-major with the last factor
fastest, which is the order in which the published dSprites, Shapes3D and MPI3D files
store their images.

References:
  Matthey, Higgins, Hassabis, Lerchner. dSprites: Disentanglement testing Sprites
  dataset, 2017 (README: "varied one latent at a time starting from Position Y").
  Locatello et al. Challenging Common Assumptions in the Unsupervised Learning of
  Disentangled Representations. ICML 2019 (the ground-truth data interface).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np

from disentax.typing import Array, ArrayLike, PRNGKey


@runtime_checkable
class GroundTruthData(Protocol):
    """What every dataset offers: the factor grid and a map from factors to images.

    Attributes:
      factor_names: one name per factor, ``F`` of them.
      factor_sizes: the number of values of each factor, e.g. dSprites ``(3, 6, 40, 32, 32)``.
      observation_shape: ``(H, W, C)`` of one image.

    Datasets whose images need randomness beyond the factors (colour, noise, nuisance
    factors) also set ``takes_key = True`` and accept ``observations(factors, key=None)``:
    without a key the randomness is a fixed function of the factors (see
    :func:`row_keys`), so ``observations(factors)`` stays pure and jittable everywhere.
    Every dataset is a pytree (procedural ones without leaves), so it can be passed as
    an argument of a jitted function.

    Examples:
      >>> from disentax.data import DSprites, GroundTruthData, Identity
      >>> isinstance(DSprites(), GroundTruthData), isinstance(Identity(), GroundTruthData)
      (True, True)
    """

    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]
    observation_shape: tuple[int, ...]

    def sample_factors(self, key: PRNGKey, num: int) -> Array:
        """``[num, F]`` int32 factors drawn uniformly over the grid."""
        ...

    def observations(self, factors: ArrayLike) -> Array:
        """``[N, H, W, C]`` float32 images in [0, 1] for ``factors [N, F]``."""
        ...


def is_concrete(x) -> bool:
    """True when ``x`` holds values (not a tracer inside ``jit``/``vmap``)."""
    return not isinstance(x, jax.core.Tracer)


def check_num(num, name: str = "num") -> int:
    """Checks that ``num`` is a positive Python/NumPy integer and returns it."""
    if isinstance(num, bool) or not isinstance(num, int | np.integer):
        raise TypeError(f"{name} must be a positive int, got {type(num).__name__} {num!r}")
    if num <= 0:
        raise ValueError(f"{name} must be a positive int, got {num}")
    return int(num)


def check_key(key, name: str = "key") -> None:
    """Checks that ``key`` is a single typed PRNG key (``jax.random.key``)."""
    if not (isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)):
        raise TypeError(
            f"{name} must be a typed PRNG key from jax.random.key(seed), got "
            f"{type(key).__name__} with dtype {getattr(key, 'dtype', None)}"
        )
    if key.shape != ():
        raise ValueError(f"{name} must be a single key (shape ()), got shape {key.shape}")


@functools.partial(jax.jit, static_argnums=(1, 2))
def _sample_grid(key: PRNGKey, num: int, sizes: tuple[int, ...]) -> Array:
    maxval = jnp.asarray(sizes, jnp.int32)
    return jax.random.randint(key, (num, len(sizes)), 0, maxval, dtype=jnp.int32)


@dataclasses.dataclass(frozen=True)
class FactorSpace:
    """A grid of discrete factors: sampling, and factors <-> flat index.

    The flat index is row-major with the last factor fastest:
    ``index = sum_f factors[:, f] * strides[f]`` with ``strides[-1] = 1``.

    Attributes:
      sizes: number of values of each factor, ``F`` entries, each >= 1.
      names: one name per factor (default ``factor_0 ...``).

    Examples:
      >>> import numpy as np
      >>> from disentax.data import FactorSpace
      >>> space = FactorSpace((2, 3), ("colour", "size"))
      >>> space.num_points, space.strides
      (6, (3, 1))
      >>> space.index(np.array([[1, 2]])).tolist()  # 1 * 3 + 2
      [5]
      >>> space.factors(np.array([5])).tolist()
      [[1, 2]]
      >>> space.check(np.array([[2, 0]]))
      Traceback (most recent call last):
      ...
      ValueError: factors[:, 0] (factor 'colour') must be in [0, 1] (2 values), got 2
    """

    sizes: tuple[int, ...]
    names: tuple[str, ...] = ()

    def __post_init__(self):
        sizes = tuple(int(s) for s in self.sizes)
        if not sizes or any(s < 1 for s in sizes):
            raise ValueError(f"sizes must be a non-empty tuple of positive ints, got {self.sizes}")
        names = tuple(self.names) or tuple(f"factor_{i}" for i in range(len(sizes)))
        if len(names) != len(sizes):
            raise ValueError(f"names has {len(names)} entries but sizes has {len(sizes)}: {names}")
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "names", names)

    @property
    def num_factors(self) -> int:
        """Number of factors ``F``."""
        return len(self.sizes)

    @property
    def num_points(self) -> int:
        """Number of grid points, the product of the sizes."""
        return math.prod(self.sizes)

    @property
    def strides(self) -> tuple[int, ...]:
        """Row-major strides: the flat-index step of each factor (last factor fastest)."""
        strides = [1] * len(self.sizes)
        for i in range(len(self.sizes) - 2, -1, -1):
            strides[i] = strides[i + 1] * self.sizes[i + 1]
        return tuple(strides)

    def sample(self, key: PRNGKey, num: int) -> Array:
        """``[num, F]`` int32 factors, each factor uniform over its values, independent."""
        check_key(key)
        return _sample_grid(key, check_num(num), self.sizes)

    def index(self, factors: ArrayLike) -> Array:
        """Flat row-major indices ``[N]`` (int32) of ``factors [N, F]``.

        NumPy input gives a NumPy int64 result (host-side readers); JAX input stays JAX.
        """
        if isinstance(factors, np.ndarray):
            return factors.astype(np.int64) @ np.asarray(self.strides, np.int64)
        factors = jnp.asarray(factors, jnp.int32)
        return jnp.sum(factors * jnp.asarray(self.strides, jnp.int32), axis=-1)

    def factors(self, index: ArrayLike) -> Array:
        """Inverse of :meth:`index`: ``[N]`` flat indices -> ``[N, F]`` int32 factors."""
        xp = np if isinstance(index, np.ndarray) else jnp
        index = xp.asarray(index)
        strides = xp.asarray(self.strides)
        sizes = xp.asarray(self.sizes)
        return ((index[..., None] // strides) % sizes).astype(xp.int32)

    def all_factors(self) -> np.ndarray:
        """Every grid point in flat-index order, ``[num_points, F]`` int32 (NumPy)."""
        return self.factors(np.arange(self.num_points, dtype=np.int64))

    def check(self, factors: ArrayLike, name: str = "factors") -> Array:
        """Validates ``factors [N, F]`` and returns them as an int32 array.

        Checks the rank, the number of columns and the integer dtype always; checks each
        factor's range only when the values are concrete (skipped under ``jit``).

        Raises:
          TypeError: not an array of integers.
          ValueError: wrong rank or column count, or a value outside ``[0, size)`` (the
            message names the factor and its allowed range).
        """
        if not hasattr(factors, "shape"):
            factors = np.asarray(factors)
        if factors.dtype == bool or not jnp.issubdtype(factors.dtype, jnp.integer):
            raise TypeError(
                f"{name} must hold integer class indices (int32), got dtype {factors.dtype}"
            )
        if factors.ndim != 2 or factors.shape[1] != self.num_factors:
            raise ValueError(
                f"{name} must have shape [N, {self.num_factors}] (one column per factor "
                f"{', '.join(self.names)}), got shape {tuple(factors.shape)}"
            )
        if is_concrete(factors) and factors.shape[0] > 0:
            values = np.asarray(factors)
            low, high = values.min(axis=0), values.max(axis=0)
            for i, (name_i, size) in enumerate(zip(self.names, self.sizes, strict=True)):
                if low[i] < 0 or high[i] >= size:
                    bad = low[i] if low[i] < 0 else high[i]
                    raise ValueError(
                        f"{name}[:, {i}] (factor {name_i!r}) must be in [0, {size - 1}] "
                        f"({size} values), got {int(bad)}"
                    )
        return jnp.asarray(factors, jnp.int32)


def factor_table(names, sizes, values=None) -> str:
    """A plain-text table of factors: index, name, size and (when given) the values.

    Examples:
      >>> from disentax.data import factor_table
      >>> shapes, scales = ("square", "ellipse", "heart"), (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
      >>> print(factor_table(("shape", "scale"), (3, 6), (shapes, scales)))
       #  factor            size  values
       0  shape                3  square, ellipse, heart
       1  scale                6  0.5, 0.6, 0.7, 0.8, 0.9, 1
    """
    lines = [f"{'#':>2}  {'factor':<16} {'size':>5}  values"]
    for i, (name, size) in enumerate(zip(names, sizes, strict=True)):
        shown = ""
        if values is not None and values[i] is not None:
            v = [f"{x:g}" if isinstance(x, int | float | np.number) else str(x) for x in values[i]]
            shown = ", ".join(v) if len(v) <= 6 else f"{v[0]}, {v[1]}, ..., {v[-1]}"
        lines.append(f"{i:>2}  {name:<16} {size:>5}  {shown}")
    return "\n".join(lines)


def row_keys(key: PRNGKey | None, factors: Array, space: FactorSpace, *, seed: int = 0) -> Array:
    """One PRNG key per row of ``factors``, for datasets whose images need randomness.

    * ``key=None``: the key of a row is ``fold_in(key(seed), flat_index(row))``, so the
      image is a fixed, deterministic function of the factors (same factors, same image);
      this is what ``observations(factors)`` gives inside training and metric code.
    * a single key: split into one key per row (fresh randomness on each call).
    * a ``[N]`` batch of keys: used as given (lets a sharded pipeline give each global
      row its own key whatever the number of hosts).
    """
    num = factors.shape[0]
    if key is None:
        base = jax.random.key(seed)
        return jax.vmap(lambda i: jax.random.fold_in(base, i))(space.index(factors))
    if not (isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)):
        raise TypeError(
            f"key must be None, a typed PRNG key (jax.random.key) or a [N] batch of them, "
            f"got {type(key).__name__} with dtype {getattr(key, 'dtype', None)}"
        )
    if key.shape == ():
        return jax.random.split(key, num)
    if key.shape == (num,):
        return key
    raise ValueError(f"key must have shape () or ({num},) for {num} rows, got {key.shape}")


def static_pytree(cls):
    """Registers a frozen dataclass as a pytree without leaves (all fields static).

    Procedural datasets are then valid arguments of ``jax.jit`` like the array-backed
    ones (whose image array is a leaf), so code can pass any dataset to a jitted step.
    """
    fields = tuple(f.name for f in dataclasses.fields(cls))

    # The class is part of the node data: JAX compares custom nodes by their data, so two
    # classes with equal fields (colour and noisy dSprites) would share a jit cache entry.
    def flatten(obj):
        return (), (cls, tuple(getattr(obj, name) for name in fields))

    def unflatten(aux, children):
        del children
        obj = object.__new__(aux[0])
        for name, value in zip(fields, aux[1], strict=True):
            object.__setattr__(obj, name, value)
        return obj

    jax.tree_util.register_pytree_node(cls, flatten, unflatten)
    return cls
