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

#: A JAX array (``jax.Array``).
Array: TypeAlias = jax.Array
#: Anything ``jnp.asarray`` accepts: a JAX or NumPy array, a Python or NumPy scalar.
ArrayLike: TypeAlias = jax.typing.ArrayLike
#: A dtype or anything that names one (``jnp.float32``, ``"bfloat16"``).
DTypeLike: TypeAlias = jax.typing.DTypeLike
#: A typed PRNG key from ``jax.random.key``.
PRNGKey: TypeAlias = jax.Array
#: A JAX pytree (nested tuples, lists, dicts and dataclasses of arrays).
PyTree: TypeAlias = Any
#: An array shape.
Shape: TypeAlias = tuple[int, ...]
#: Slash-namespaced scalar name -> value (``"loss"``, ``"dci/disentanglement"``).
Metrics: TypeAlias = Mapping[str, Array]
#: A NumPy array in host memory.
HostArray: TypeAlias = np.ndarray
#: ``images [N,H,W,C] -> codes [N,L]``, the representation a metric scores.
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
