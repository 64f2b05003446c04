"""Images without known factors: a folder or archive of images as a dataset.

:func:`load` reads a folder (searched recursively), a ``.zip`` or a ``.tar`` (also
``.tar.gz``/``.tgz``) of image files of any size, fits each image to the model's shape
(:func:`~disentax.data.image_cache.fit_image`: a centred crop, then a Pillow resize) in
a thread pool, and caches the result on disk as one uint8 ``.npy`` array, memory-mapped
when read back (:mod:`disentax.data.image_cache`: keyed by the folder's content and by
the shape, crop and filter; written atomically). The images stay on the
device when they are small (:class:`ImageData`), else they are read from the
memory-mapped cache by a host callback, for the rows a batch asks for only.

There are no ground-truth factors: the one "factor" is the image's index (``image``, as
many values as images), so ``sample_factors`` draws images uniformly and the sampling
protocol of :mod:`disentax.data.sampling` applies unchanged (``has_factors`` is False:
the factor-based metrics skip such a dataset). Labels (e.g. CelebA's attributes, see
:mod:`disentax.data.celeba`) ride along as an ``[N, A]`` array.

What is read (the bad-file policy):

* files whose suffix is one of :data:`~disentax.data.image_cache.IMAGE_SUFFIXES` are
  images; hidden files (``.name``) and macOS ``__MACOSX`` folders are not looked at;
* other files are skipped, and so are image files Pillow cannot decode (truncated,
  not an image, or a mode outside :data:`~disentax.data.image_cache.CONVERTIBLE_MODES`,
  e.g. 16-bit or float images): one :class:`~disentax.data.SkippedImagesWarning` gives
  the count and the first names;
* images of another 8-bit mode (greyscale, palette, RGBA, CMYK among RGB images) are
  converted to the model's channels with Pillow's ``convert`` (``RGB`` for 3 channels,
  ``L`` for 1; an alpha channel is dropped), as image-folder readers commonly do;
* a folder with no image file raises :class:`~disentax.data.DatasetNotFoundError`
  naming it; one whose image files are all unreadable raises
  :class:`~disentax.data.DatasetFormatError`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pathlib
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from disentax.data.files import DatasetNotFoundError, resolve_data_dir
from disentax.data.ground_truth import FactorSpace
from disentax.data.image_cache import CacheEntry, cache_folder, read_images
from disentax.data.resident import cached
from disentax.typing import Array, ArrayLike, PRNGKey

__all__ = ["RESIDENT_BYTES", "ImageData", "load", "to_dataset"]

# Above this many bytes (on a backend that reports no memory limit, e.g. the CPU) the
# images stay in the memory-mapped cache; on an accelerator, above a quarter of its memory.
RESIDENT_BYTES = 1 << 30


# -- the ImageData pytree -----------------------------------------------------------------

# Memory-mapped caches by their key, for datasets whose images are not on the device.
_HOST_ARRAYS: dict[str, np.ndarray] = {}


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True, eq=False)
class ImageData:
    """A collection of images without known factors; the factor is the image index.

    Attributes:
      name: the dataset name.
      images: uint8 ``[N, H, W, C]`` on the device, or None when the images are read
        from the memory-mapped cache ``host_key`` by a host callback.
      labels: optional int32 ``[N, A]`` labels of the images (e.g. CelebA's 0/1
        attributes), or None.
      observation_shape: ``(H, W, C)``.
      num_images: ``N``.
      label_names: one name per label column.
      host_key: the cache key of the memory-mapped images (None when on the device).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from disentax.data.images import ImageData
      >>> images = jnp.arange(3, dtype=jnp.uint8).reshape(3, 1, 1, 1) * 100
      >>> dataset = ImageData("toy", images, None, (1, 1, 1), 3)
      >>> dataset.factor_names, dataset.factor_sizes, dataset.has_factors
      (('image',), (3,), False)
      >>> pixels = dataset.observations(jnp.array([[2], [0]])).reshape(-1)  # in [0, 1]
      >>> (pixels * 255).round().tolist()
      [200.0, 0.0]
    """

    name: str
    images: Array | None
    labels: Array | None
    observation_shape: tuple[int, ...]
    num_images: int
    label_names: tuple[str, ...] = ()
    host_key: str | None = None

    #: No ground-truth factors: factor-based metrics do not apply.
    has_factors = False

    def tree_flatten(self):
        """Pytree protocol: the image and label arrays are the leaves."""
        aux = (self.name, self.observation_shape, self.num_images, self.label_names)
        return (self.images, self.labels), (*aux, self.host_key)

    @classmethod
    def tree_unflatten(cls, aux, leaves):
        """Pytree protocol: the dataset rebuilt from :meth:`tree_flatten`'s output."""
        return cls(aux[0], leaves[0], leaves[1], *aux[1:])

    @property
    def factor_names(self) -> tuple[str, ...]:
        """``("image",)``: the image index stands in for the unknown factors."""
        return ("image",)

    @property
    def factor_sizes(self) -> tuple[int, ...]:
        """``(N,)``."""
        return (self.num_images,)

    @property
    def host_only(self) -> bool:
        """Whether the images stay in the host's memory-mapped cache (not on the device)."""
        return self.images is None

    def sample_factors(self, key: PRNGKey, num: int) -> Array:
        """``[num, 1]`` int32 image indices drawn uniformly."""
        return FactorSpace(self.factor_sizes, self.factor_names).sample(key, num)

    def observations(self, factors: ArrayLike) -> Array:
        """Float32 images ``[N, H, W, C]`` in [0, 1] of the indices ``factors [N, 1]``.

        Jittable; the memory-mapped images are gathered by ``jax.pure_callback``.
        """
        index = FactorSpace(self.factor_sizes, self.factor_names).check(factors)[:, 0]
        return _observe(self, index)

    def labels_of(self, factors: ArrayLike) -> Array:
        """The labels ``[N, A]`` of the images ``factors [N, 1]``.

        Raises:
          ValueError: the dataset has no labels.
        """
        if self.labels is None:
            raise ValueError(f"dataset {self.name!r} has no labels")
        index = FactorSpace(self.factor_sizes, self.factor_names).check(factors)[:, 0]
        return jnp.take(self.labels, index, axis=0)

    @property
    def nbytes(self) -> int:
        """Bytes of the image array (on the device or in the cache)."""
        return self.num_images * int(np.prod(self.observation_shape))


def _host_rows(host_key: str, index: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(_HOST_ARRAYS[host_key][np.asarray(index)])


@jax.jit
def _observe(dataset: ImageData, index: Array) -> Array:
    if dataset.images is not None:
        rows = jnp.take(dataset.images, index, axis=0)
    else:
        result = jax.ShapeDtypeStruct((index.shape[0], *dataset.observation_shape), jnp.uint8)
        gather = functools.partial(_host_rows, dataset.host_key)
        rows = jax.pure_callback(gather, result, index, vmap_method="sequential")
    return rows.astype(jnp.float32) * (1.0 / 255.0)


def _fits_device(nbytes: int) -> bool:
    stats = jax.local_devices()[0].memory_stats() or {}
    limit = stats.get("bytes_limit")
    return nbytes <= (limit // 4 if limit else RESIDENT_BYTES)


def to_dataset(
    entry: CacheEntry,
    *,
    name: str,
    resident: bool | None = None,
    labels: np.ndarray | None = None,
    label_names: Sequence[str] = (),
) -> ImageData:
    """An :class:`ImageData` of a cache entry, on the device or memory-mapped.

    Args:
      entry: from :func:`read_images`.
      name: the dataset's name.
      resident: True puts the images on the device, False keeps them memory-mapped;
        None decides by size (:data:`RESIDENT_BYTES`, or a quarter of an accelerator's
        memory).
      labels: ``[N, A]`` integer labels of the rows, or None.
      label_names: ``A`` names.
    """
    array = entry.array
    if resident is None:
        resident = _fits_device(array.nbytes)
    images, host_key = None, None
    if resident:
        images = jnp.asarray(array)
    else:
        host_key = entry.key
        _HOST_ARRAYS[host_key] = array
    return ImageData(
        name=name,
        images=images,
        labels=None if labels is None else jnp.asarray(labels, jnp.int32),
        observation_shape=tuple(array.shape[1:]),
        num_images=int(array.shape[0]),
        label_names=tuple(label_names),
        host_key=host_key,
    )


def load(
    data_dir: str | os.PathLike | None = None,
    *,
    image_shape: Sequence[int] = (64, 64, 3),
    crop=None,
    resample: str = "lanczos",
    resident: bool | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> ImageData:
    """A folder, zip or tar of images of any size, fitted to the model's shape; no factors.

    Args:
      data_dir: the folder of images (searched recursively) or a zip/tar archive of
        them (default ``$DISENTAX_DATA/images`` or ``~/disentax_data/images``).
      image_shape: ``(H, W, C)`` of the model (default 64x64 RGB).
      crop: None (the largest centred box of the target's aspect ratio), an int side or
        ``(height, width)`` of a centred crop (:func:`crop_box`).
      resample: Pillow's filter of the resize (:func:`fit_image`).
      resident: images on the device (True), memory-mapped (False), or by size (None).
      cache_dir: the disk cache (default ``$DISENTAX_CACHE`` or ``~/.cache/disentax``).

    Raises:
      DatasetNotFoundError: no such folder, or no image file in it.
      DatasetFormatError: an unreadable archive, or no readable image.
      ValueError: a bad shape, crop or filter.

    Examples:
      >>> import tempfile, pathlib, jax
      >>> from PIL import Image
      >>> from disentax import data
      >>> folder = pathlib.Path(tempfile.mkdtemp())
      >>> for i in range(3):
      ...     Image.new("RGB", (40, 30), (80 * i, 0, 0)).save(folder / f"{i}.png")
      >>> faces = data.get("images", data_dir=folder, image_shape=(8, 8, 3),
      ...                  cache_dir=folder / "cache")
      >>> faces.factor_sizes, faces.observation_shape
      ((3,), (8, 8, 3))
    """
    path = resolve_data_dir(None) / "images" if data_dir is None else pathlib.Path(data_dir)
    path = path.expanduser()
    if not path.exists():
        raise DatasetNotFoundError(
            f"dataset 'images': no folder or archive {path}; pass data_dir=PATH "
            "(--config.data_dir=PATH) naming a folder, .zip or .tar of images, or put them in "
            "$DISENTAX_DATA/images"
        )
    entry = read_images(path, image_shape, crop=crop, resample=resample, cache_dir=cache_dir)
    npy = cache_folder(cache_dir) / f"images-{entry.key}"
    build = lambda: to_dataset(entry, name="images", resident=resident)  # noqa: E731
    return cached(path, ("images", str(npy), resident), build)
