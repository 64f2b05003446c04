"""Type aliases and the shape letters used in docstrings across disentax.

Shape letters (batch-major everywhere):

* ``N`` — number of points (examples) in a batch or set.
* ``H, W, C`` — image height, width and channels (NHWC layout).
* ``L`` — number of latent dimensions / codes.
* ``F`` — number of ground-truth factors (``K`` in some papers).
* ``S`` — number of models on a leading model axis (vmapped sweeps).
* ``D`` — number of devices on a mesh axis.

Vocabulary: ``images [N,H,W,C]`` float32 in [0, 1]; ``factors [N,F]`` int32 class
indices; ``mean``, ``logvar``, ``z`` ``[N,L]``; ``codes [N,L]`` (the representation a
metric scores, by default the posterior mean); ``key`` a typed PRNG key from
``jax.random.key``.
"""

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import jax
import numpy as np

Array: TypeAlias = jax.Array
ArrayLike: TypeAlias = jax.typing.ArrayLike
DTypeLike: TypeAlias = jax.typing.DTypeLike
PRNGKey: TypeAlias = jax.Array
PyTree: TypeAlias = Any
Shape: TypeAlias = tuple[int, ...]
Metrics: TypeAlias = Mapping[str, Array]
HostArray: TypeAlias = np.ndarray
RepresentationFn: TypeAlias = Callable[[Array], Array]

__all__ = [
    "Array",
    "ArrayLike",
    "DTypeLike",
    "HostArray",
    "Metrics",
    "PRNGKey",
    "PyTree",
    "RepresentationFn",
    "Shape",
]
