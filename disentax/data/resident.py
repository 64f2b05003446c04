"""Datasets held as one uint8 array on the device and sampled by index inside ``jit``.

The readers of the published files (dSprites, Shapes3D, MPI3D, smallNORB, Cars3D) all
end here: the images of the complete factor grid, in flat-index order (row-major, last
factor fastest), stay **uint8** on the device (binary images bit-packed, 8 pixels a
byte) and are converted to float32 in [0, 1] only for the rows an ``observations``
call asks for, inside the jitted step.

``ArrayData`` is a pytree whose only leaf is the image array: pass the dataset as an
argument of a jitted function (``jax.jit(step)(state, dataset, ...)``). Closing over it
also works but embeds the whole array as a constant in the compiled program (slow to
compile, stored in the compilation cache), so do that only for small arrays.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from disentax.data.files import DatasetFormatError
from disentax.data.ground_truth import FactorSpace, row_keys
from disentax.typing import Array, ArrayLike, PRNGKey


def pack_bits(images: np.ndarray) -> np.ndarray:
    """Binary uint8 images ``[n, ...]`` (values 0/1) -> ``[n, ceil(D/8)]`` packed bytes."""
    flat = images.reshape(images.shape[0], -1)
    return np.packbits(flat.astype(bool), axis=1, bitorder="big")


def unpack_bits(packed: Array, num_pixels: int) -> Array:
    """Inverse of :func:`pack_bits` in JAX: ``[n, B]`` uint8 -> ``[n, num_pixels]`` 0/1."""
    shifts = jnp.arange(7, -1, -1, dtype=jnp.uint8)
    bits = (packed[:, :, None] >> shifts) & jnp.uint8(1)
    return bits.reshape(packed.shape[0], -1)[:, :num_pixels]


def grid_order(classes: np.ndarray, grid: FactorSpace, path) -> np.ndarray | None:
    """Checks that ``classes [P, F]`` label every grid point once; returns the sort order.

    Returns ``None`` when the rows are already in flat-index order (the published files),
    else the permutation that puts them in that order.

    Raises:
      DatasetFormatError: wrong row count (a truncated file), labels outside the grid,
        or grid points missing or repeated.
    """
    if classes.ndim != 2 or classes.shape[1] != grid.num_factors:
        raise DatasetFormatError(
            f"{path}: factor labels must have shape [N, {grid.num_factors}], got {classes.shape}"
        )
    if classes.shape[0] != grid.num_points:
        raise DatasetFormatError(
            f"{path}: holds {classes.shape[0]} images but the factor grid {grid.sizes} has "
            f"{grid.num_points} points (truncated or a different dataset)"
        )
    low, high = classes.min(axis=0), classes.max(axis=0)
    for i, (name, size) in enumerate(zip(grid.names, grid.sizes, strict=True)):
        if low[i] < 0 or high[i] >= size:
            raise DatasetFormatError(
                f"{path}: factor {name!r} labels span [{low[i]}, {high[i]}], "
                f"expected [0, {size - 1}]"
            )
    index = grid.index(classes.astype(np.int64))
    if np.array_equal(index, np.arange(grid.num_points)):
        return None
    order = np.argsort(index, kind="stable")
    if not np.array_equal(index[order], np.arange(grid.num_points)):
        raise DatasetFormatError(f"{path}: some factor combinations are missing or repeated")
    return order


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True, eq=False)
class ArrayData:
    """A complete factor grid of uint8 images, resident on the device.

    Attributes:
      name: the dataset name.
      images: uint8 ``[P, H, W, C]`` images in flat-index order of ``grid``, or
        ``[P, ceil(H*W*C/8)]`` packed bits when ``packed``.
      grid: the stored factor grid (``P = grid.num_points``), latent and nuisance.
      observation_shape: ``(H, W, C)``.
      latent_indices: the stored factors exposed as ground-truth factors (default all);
        the others are nuisance factors drawn per image (e.g. smallNORB's instance).
      packed: whether ``images`` holds packed bits (binary datasets).
      values: per exposed factor, the value of each class index (for tables), or None.
      seed: seed of the nuisance draw when ``observations`` gets no key.

    Examples:
      A grid of 2 x 3 one-pixel images, one per grid point in flat-index order:

      >>> import jax.numpy as jnp
      >>> from disentax.data import ArrayData, FactorSpace
      >>> grid = FactorSpace((2, 3), ("colour", "size"))
      >>> images = (jnp.arange(6, dtype=jnp.uint8) * 51).reshape(6, 1, 1, 1)
      >>> dataset = ArrayData("toy", images, grid, (1, 1, 1))
      >>> dataset.factor_sizes, dataset.takes_key
      ((2, 3), False)
      >>> dataset.observations(jnp.array([[0, 0], [1, 2]])).reshape(-1).tolist()  # / 255
      [0.0, 1.0]
    """

    name: str
    images: Array
    grid: FactorSpace
    observation_shape: tuple[int, ...]
    latent_indices: tuple[int, ...] | None = None
    packed: bool = False
    values: tuple | None = None
    seed: int = 0

    # -- pytree: the image array is the only leaf ------------------------------------
    def tree_flatten(self):
        """Pytree protocol: ``((images,), static fields)``."""
        aux = (self.name, self.grid, self.observation_shape, self.latent_indices)
        return (self.images,), (*aux, self.packed, self.values, self.seed)

    @classmethod
    def tree_unflatten(cls, aux, leaves):
        """Pytree protocol: the dataset rebuilt from :meth:`tree_flatten`'s output."""
        return cls(aux[0], leaves[0], *aux[1:])

    # -- the GroundTruthData protocol ------------------------------------------------
    @property
    def _latent(self) -> tuple[int, ...]:
        if self.latent_indices is None:
            return tuple(range(self.grid.num_factors))
        return self.latent_indices

    @property
    def factor_names(self) -> tuple[str, ...]:
        """Names of the exposed (ground-truth) factors."""
        return tuple(self.grid.names[i] for i in self._latent)

    @property
    def factor_sizes(self) -> tuple[int, ...]:
        """Number of values of each exposed factor."""
        return tuple(self.grid.sizes[i] for i in self._latent)

    @property
    def factor_space(self) -> FactorSpace:
        """The grid of the exposed factors (nuisance factors left out)."""
        return FactorSpace(self.factor_sizes, self.factor_names)

    @property
    def factor_values(self) -> tuple | None:
        """Per exposed factor, the value of each class index (``values``), or None."""
        return self.values

    @property
    def takes_key(self) -> bool:
        """Whether ``observations`` draws nuisance factors (and so accepts a key)."""
        return len(self._latent) != self.grid.num_factors

    def sample_factors(self, key: PRNGKey, num: int) -> Array:
        """``[num, F]`` int32 factors uniform over the grid of exposed factors."""
        return self.factor_space.sample(key, num)

    def observations(self, factors: ArrayLike, key: PRNGKey | None = None) -> Array:
        """Float32 images ``[N, H, W, C]`` in [0, 1] of ``factors [N, F]``; jittable.

        Args:
          factors: ``[N, F]`` int32 class indices of the exposed factors.
          key: only used when the dataset has nuisance factors: ``None`` draws them as
            a fixed function of the factors (same factors, same image), a key draws
            them afresh (see :func:`disentax.data.ground_truth.row_keys`).
        """
        return _observe(self, self.factor_space.check(factors), key)

    def to(self, target) -> ArrayData:
        """A copy with the images placed on ``target`` (a device or a sharding)."""
        return dataclasses.replace(self, images=jax.device_put(self.images, target))

    @property
    def nbytes(self) -> int:
        """Bytes the image array takes on the device."""
        return int(self.images.size) * int(self.images.dtype.itemsize)


@jax.jit
def _observe(dataset: ArrayData, factors: Array, key: PRNGKey | None) -> Array:
    # Jitted so that eager callers get one compiled program (inlined under an outer jit);
    # the dataset is an argument, so its image array is not embedded as a constant.
    full = factors
    if dataset.takes_key:
        nuisance = [i for i in range(dataset.grid.num_factors) if i not in dataset._latent]
        sizes = jnp.asarray([dataset.grid.sizes[i] for i in nuisance], jnp.int32)
        keys = row_keys(key, factors, dataset.factor_space, seed=dataset.seed)
        drawn = jax.vmap(lambda k: jax.random.randint(k, (len(nuisance),), 0, sizes))(keys)
        columns = [None] * dataset.grid.num_factors
        for j, i in enumerate(dataset._latent):
            columns[i] = factors[:, j]
        for j, i in enumerate(nuisance):
            columns[i] = drawn[:, j].astype(jnp.int32)
        full = jnp.stack(columns, axis=1)
    rows = jnp.take(dataset.images, dataset.grid.index(full), axis=0)
    if dataset.packed:
        num_pixels = int(np.prod(dataset.observation_shape))
        pixels = unpack_bits(rows, num_pixels).astype(jnp.float32)
        return pixels.reshape(-1, *dataset.observation_shape)
    return rows.astype(jnp.float32).reshape(-1, *dataset.observation_shape) * (1.0 / 255.0)


# Loaded datasets by (file, size, mtime, options): a dataset is stored here only after it
# was read and validated completely, so a failed read leaves nothing behind.
_CACHE: dict[tuple, ArrayData] = {}


def cached(path: os.PathLike, options: tuple, load: Callable[[], ArrayData]) -> ArrayData:
    """Returns the dataset loaded from ``path`` with ``options``, loading it once."""
    stat = os.stat(path)
    key = (os.fspath(path), stat.st_size, stat.st_mtime_ns, options)
    if key not in _CACHE:
        data = load()
        _CACHE[key] = data
    return _CACHE[key]


def clear_cache() -> None:
    """Forgets every loaded dataset (frees host references to their arrays)."""
    _CACHE.clear()


def num_cached() -> int:
    """How many loaded datasets are held (a failed read leaves none behind)."""
    return len(_CACHE)


def values_tuple(values) -> tuple | None:
    """Factor values as a hashable tuple of tuples of floats (pytree aux data)."""
    if values is None:
        return None
    return tuple(None if v is None else tuple(float(x) for x in np.asarray(v)) for v in values)
