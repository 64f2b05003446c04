"""Shared machinery of the interventional scores (BetaVAE, FactorVAE): one jitted program.

The scores sample factors, render observations with ``dataset.observations`` and encode
them with ``representation_fn``, all inside one ``jax.jit`` program, chunk by chunk
(``lax.map``), so that memory stays bounded (a BetaVAE point alone needs 128 images).

``representation_fn`` may be any callable ``images [M, H, W, C] -> codes [M, L]``. A plain
Python function is a static argument of the program (compiled once per function object);
a ``jax.tree_util.Partial`` (e.g. from :func:`disentax.evaluation.make_representation_fn`)
is passed as a pytree, so model parameters are arguments of the program rather than
constants folded into it.

``dataset`` may be any object implementing :class:`disentax.data.GroundTruthData` with a
jittable ``observations``. The library's datasets are pytrees (their arrays are
arguments of the program); any other object, e.g. a plain Python class of another
project, is wrapped in a pytree without leaves keyed by the object's identity (compiled
once per object, its arrays folded into the program as constants; register it as a
pytree to pass them as arguments instead).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from disentax.data.ground_truth import GroundTruthData
from disentax.typing import Array

__all__ = [
    "as_jit_argument",
    "check_interventional_args",
    "map_chunks",
    "split_representation_fn",
    "unwrap_dataset",
]


@jax.tree_util.register_pytree_node_class
class _ByIdentity:
    """A pytree without leaves holding one object, equal only to a wrapper of the same one.

    Its tree definition (what ``jax.jit`` caches on) compares the objects by identity,
    so neither hashing nor ``==`` of the user's class is ever called.
    """

    def __init__(self, wrapped):
        self.wrapped = wrapped

    def __eq__(self, other):
        return isinstance(other, _ByIdentity) and other.wrapped is self.wrapped

    def __hash__(self):
        return id(self.wrapped)

    def tree_flatten(self):
        return (), self

    @classmethod
    def tree_unflatten(cls, aux, children):
        del children
        return aux


def as_jit_argument(dataset):
    """``dataset`` as an argument of a jitted program.

    A pytree with leaves (the library's datasets) is passed as it is; any other object
    (a leaf to JAX, which ``jit`` would try to read as an array) is wrapped by identity.
    """
    leaves = jax.tree_util.tree_leaves(dataset)
    if len(leaves) == 1 and leaves[0] is dataset and not isinstance(dataset, jax.Array):
        return _ByIdentity(dataset)
    return dataset


def unwrap_dataset(dataset):
    """The dataset inside a jitted program: undoes :func:`as_jit_argument`."""
    return dataset.wrapped if isinstance(dataset, _ByIdentity) else dataset


def split_representation_fn(representation_fn: Callable) -> tuple:
    """``(dynamic, static)``: exactly one is the function, the other ``None``."""
    if not callable(representation_fn):
        raise TypeError(
            "representation_fn must be a callable images [M, H, W, C] -> codes [M, L], got "
            f"{type(representation_fn).__name__}"
        )
    if isinstance(representation_fn, jax.tree_util.Partial):
        return representation_fn, None
    return None, representation_fn


def check_interventional_args(key, dataset, **sizes: int) -> None:
    """Checks the key, the dataset protocol and positive integer sizes (before XLA)."""
    if not (isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)):
        raise TypeError(
            "key must be a typed PRNG key from jax.random.key(seed), got "
            f"{type(key).__name__} with dtype {getattr(key, 'dtype', None)}"
        )
    if key.shape != ():
        raise ValueError(f"key must be a single key (shape ()), got shape {key.shape}")
    if not isinstance(dataset, GroundTruthData):
        raise TypeError(
            "dataset must follow disentax.data.GroundTruthData (attributes factor_names, "
            "factor_sizes, observation_shape; methods sample_factors(key, num) and a "
            f"jittable observations(factors)), got {type(dataset).__name__}"
        )
    if len(dataset.factor_sizes) < 2:
        raise ValueError(f"dataset needs at least 2 factors, got {dataset.factor_sizes}")
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def map_chunks(fn: Callable, keys: Array, num_chunks: int) -> tuple:
    """``lax.map`` of ``fn`` over ``keys`` split into ``num_chunks`` equal chunks.

    ``fn`` maps a chunk of keys ``[C]`` to a pytree of arrays with leading axis ``C``;
    the results are concatenated back to the leading axis ``[num_chunks * C]``.
    """
    chunked = keys.reshape(num_chunks, -1)
    out = jax.lax.map(fn, chunked)
    return jax.tree_util.tree_map(lambda a: a.reshape(-1, *a.shape[2:]), out)


def chunking(num_points: int, points_per_chunk: int) -> tuple[int, int]:
    """``(num_chunks, padded_points)`` covering ``num_points`` by equal chunks."""
    per_chunk = max(1, min(points_per_chunk, num_points))
    num_chunks = -(-num_points // per_chunk)
    return num_chunks, num_chunks * per_chunk
