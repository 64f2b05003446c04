"""Labellers: the labels an oracle gives for ground-truth factors, perfect or imperfect.

A labeller maps ``factors [n,F]`` (int32 class indices) and the dataset's ``factor_sizes``
to ``(labels [n,F'], label_sizes [F'])``, both int32: the observed class of each label and
its number of values. The imperfect ones let the robustness of semi-supervised training
to label artifacts be studied, as in disentanglement_lib (``LABELLERS``):

* ``perfect``: the factors themselves.
* ``binned`` (``num_bins=5``): a factor with more than ``num_bins`` values is cut into
  ``num_bins`` equal-width bins, ``min(floor(v num_bins / size), num_bins - 1)``; its size
  becomes ``num_bins``.
* ``noisy`` (``prob_random=0.1``): each entry independently, with probability
  ``prob_random``, is replaced by a value drawn uniformly from the factor's values (which
  may be the true one).
* ``permuted``: each factor's values are relabelled by a random permutation (the ordinal
  information is lost, the partition is kept).
* ``partial`` (``num_observed_factors=2``): only a random subset of the factors is
  observed, in random order.

The randomness comes from the given ``key`` (the reference uses a NumPy random state
shared with the subset's sampling). Every labeller is jittable with ``key`` and
``factors`` traced; :func:`check_labeller` validates a name and its options beforehand.

References:
    Locatello et al., "Disentangling Factors of Variation Using Few Labels", ICLR 2020;
    disentanglement_lib, ``methods/semi_supervised/semi_supervised_utils.py``.
"""

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from disentax.typing import Array, ArrayLike, PRNGKey

__all__ = ["LABELLERS", "LABELLER_OPTIONS", "check_labeller", "label"]


def _perfect(key, factors, sizes):
    del key
    return factors, jnp.asarray(sizes, jnp.int32)


def _binned(key, factors, sizes, *, num_bins=5):
    del key
    sizes_arr = jnp.asarray(sizes, jnp.int32)
    # Integer arithmetic for floor(v / (size / num_bins)): exact at the bin edges.
    binned = jnp.minimum(factors * num_bins // sizes_arr, num_bins - 1)
    labels = jnp.where(sizes_arr > num_bins, binned, factors)
    return labels, jnp.minimum(sizes_arr, num_bins)


def _noisy(key, factors, sizes, *, prob_random=0.1):
    flip_key, value_key = jax.random.split(key)
    sizes_arr = jnp.asarray(sizes, jnp.int32)
    flip = jax.random.bernoulli(flip_key, prob_random, factors.shape)
    random_values = jax.random.randint(value_key, factors.shape, 0, sizes_arr, jnp.int32)
    return jnp.where(flip, random_values, factors), sizes_arr


def _permutations(key, sizes: Sequence[int]) -> Array:
    """``[F,K]``: row ``f`` starts with a uniform random permutation of ``range(size_f)``."""
    width = max(sizes)
    scores = jax.random.uniform(key, (len(sizes), width))
    # Values past a factor's size sort last, so the first size_f entries permute 0..size_f-1.
    scores = jnp.where(jnp.arange(width) < jnp.asarray(sizes)[:, None], scores, 2.0)
    return jnp.argsort(scores, axis=1).astype(jnp.int32)


def _permuted(key, factors, sizes):
    perms = _permutations(key, sizes)
    labels = jnp.take_along_axis(perms, factors.T, axis=1).T
    return labels, jnp.asarray(sizes, jnp.int32)


def _partial(key, factors, sizes, *, num_observed_factors=2):
    kept = jax.random.permutation(key, len(sizes))[:num_observed_factors]
    return factors[:, kept], jnp.asarray(sizes, jnp.int32)[kept]


#: Name -> ``labeller(key, factors [n,F], factor_sizes, **options) -> (labels, label_sizes)``.
LABELLERS: dict[str, Callable[..., tuple[Array, Array]]] = {
    "perfect": _perfect,
    "binned": _binned,
    "noisy": _noisy,
    "permuted": _permuted,
    "partial": _partial,
}

#: Name -> its options and their defaults (those of the reference).
LABELLER_OPTIONS: dict[str, dict[str, Any]] = {
    "perfect": {},
    "binned": {"num_bins": 5},
    "noisy": {"prob_random": 0.1},
    "permuted": {},
    "partial": {"num_observed_factors": 2},
}


def _positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_labeller(name: str, factor_sizes: Sequence[int], **options: Any) -> dict[str, Any]:
    """Validates a labeller and its options; returns the options it takes, defaults filled.

    Args:
        name: a key of ``LABELLERS``.
        factor_sizes: the dataset's number of values of each factor.
        **options: ``num_bins`` (``binned``: a positive int), ``prob_random`` (``noisy``:
            in [0, 1]), ``num_observed_factors`` (``partial``: in [1, F]); options of other
            labellers are ignored.

    Returns:
        The options of ``name``.

    Raises:
        ValueError: an unknown name or an option out of range.

    Examples:
        >>> from disentax.data.labellers import check_labeller
        >>> check_labeller("binned", (3, 40), num_bins=4, prob_random=0.5)
        {'num_bins': 4}
        >>> check_labeller("partial", (3, 40), num_observed_factors=3)
        Traceback (most recent call last):
        ...
        ValueError: num_observed_factors must be in [1, 2] (the number of factors), got 3
    """
    if name not in LABELLERS:
        raise ValueError(f"labeller must be one of {sorted(LABELLERS)}, got {name!r}")
    chosen = {k: options.get(k, default) for k, default in LABELLER_OPTIONS[name].items()}
    if "num_bins" in chosen:
        _positive_int("num_bins", chosen["num_bins"])
    if "prob_random" in chosen:
        p = chosen["prob_random"]
        if isinstance(p, bool) or not isinstance(p, int | float | np.number) or not 0 <= p <= 1:
            raise ValueError(f"prob_random must be a probability in [0, 1], got {p!r}")
    if "num_observed_factors" in chosen:
        m = chosen["num_observed_factors"]
        _positive_int("num_observed_factors", m)
        if m > len(factor_sizes):
            raise ValueError(
                f"num_observed_factors must be in [1, {len(factor_sizes)}] (the number of "
                f"factors), got {m}"
            )
    return chosen


def label(
    key: PRNGKey,
    factors: ArrayLike,
    factor_sizes: Sequence[int],
    labeller: str = "perfect",
    **options: Any,
) -> tuple[Array, Array]:
    """The labels that labeller ``labeller`` gives for ``factors``.

    Args:
        key: typed PRNG key (the noise of ``noisy``, the permutations of ``permuted``,
            the observed factors of ``partial``; unused by the others).
        factors: ``[n,F]`` int32 class indices.
        factor_sizes: ``F`` ints, the number of values of each factor.
        labeller: a key of ``LABELLERS``.
        **options: its options (:func:`check_labeller`).

    Returns:
        ``(labels [n,F'], label_sizes [F'])``, int32; ``F' = num_observed_factors`` for
        ``partial``, else ``F``.

    Raises:
        ValueError: from :func:`check_labeller`, or ``factors`` not ``[n,F]``.

    Examples:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> from disentax.data.labellers import label
        >>> factors = jnp.array([[0, 39], [2, 20]])
        >>> labels, sizes = label(jax.random.key(0), factors, (3, 40), "binned", num_bins=5)
        >>> labels.tolist(), sizes.tolist()
        ([[0, 4], [2, 2]], [3, 5])
    """
    factor_sizes = tuple(int(s) for s in factor_sizes)
    chosen = check_labeller(labeller, factor_sizes, **options)
    factors = jnp.asarray(factors, jnp.int32)
    if factors.ndim != 2 or factors.shape[1] != len(factor_sizes):
        raise ValueError(
            f"factors must have shape [n, {len(factor_sizes)}], got {tuple(factors.shape)}"
        )
    return LABELLERS[labeller](key, factors, factor_sizes, **chosen)
