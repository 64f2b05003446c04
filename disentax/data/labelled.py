"""A fixed labelled subset of a ground-truth dataset, and each step's semi-supervised batch.

Semi-supervised training (Locatello et al., ICLR 2020) sees an unlimited stream of
unlabelled images and a small, fixed set of labelled ones. As in disentanglement_lib:

* the labelled subset is ``num_labels`` points of the factor grid, labelled once by a
  labeller (:mod:`disentax.data.labellers`); its first ``ceil(num_labels train_fraction)``
  rows are the training labels (the rest are held out, as the reference's
  ``train_test_split``);
* each step pairs a batch of ``N`` unlabelled images (the ordinary batch of the step) with
  ``N`` labelled rows taken in order from the training labels, cycling: step ``t`` takes
  rows ``(t N + i) mod num_train``, ``i < N`` (the reference zips the unlabelled stream
  with the repeated labelled set and batches both by ``N``).

Everything is a pure function of ``(data_key, step)``: the subset is drawn from
``fold_in(data_key, SUBSET_STREAM)`` (a step number no run reaches), so every step, host
and device recomputes the same subset, and a resumed run needs no data state. The subset's
points are distinct (a uniformly random subset of the grid, in random order) when the grid
has at most ``2**22`` points, drawn independently per factor otherwise (the reference
always draws independently; duplicates then have probability below ``n^2 / (2 |grid|)``).

:func:`labelled_batch` is the batch sampler (jittable; a shard renders only its rows);
:func:`check_labelled_options` validates its options before anything is compiled.

References:
    Locatello et al., "Disentangling Factors of Variation Using Few Labels", ICLR 2020;
    disentanglement_lib, ``methods/semi_supervised/train_semi_supervised_lib.py`` and
    ``semi_supervised_utils.py``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from disentax.data import labellers, sampling
from disentax.data.ground_truth import FactorSpace, check_num
from disentax.typing import Array, PRNGKey

__all__ = [
    "LABELLED_DEFAULTS",
    "LABELLED_KEYS",
    "SUBSET_STREAM",
    "LabelledSubset",
    "check_labelled_options",
    "labelled_batch",
    "labelled_rows",
    "labelled_subset",
    "num_train_labels",
]

#: ``fold_in(data_key, SUBSET_STREAM)`` draws the subset: above any int32 step number.
SUBSET_STREAM = 2**32 - 1
#: Grids up to this many points get a subset of distinct points (top-k of one score each).
_DISTINCT_MAX_POINTS = 2**22

#: The sampler's options and their defaults: the labelled-subset size and the fraction of
#: it trained on (the reference's test configuration: 100 labels, 0.9), then the labeller
#: and its options (``disentax.data.labellers.LABELLER_OPTIONS``).
LABELLED_DEFAULTS: dict[str, Any] = {
    "num_labels": 100,
    "train_fraction": 0.9,
    "labeller": "perfect",
    "num_bins": 5,
    "prob_random": 0.1,
    "num_observed_factors": 2,
}


#: The entries of a labelled batch (see :func:`labelled_batch`).
LABELLED_KEYS = ("images", "labelled_images", "labels", "label_sizes")


class LabelledSubset(NamedTuple):
    """The labelled subset: ``factors [n,F]``, ``labels [n,F']``, ``label_sizes [F']``.

    ``row_keys [n]`` are the images' own keys for datasets that take one (else None).
    """

    factors: Array
    labels: Array
    label_sizes: Array
    row_keys: Array | None


def _factor_sizes(dataset) -> tuple[int, ...]:
    sizes = tuple(getattr(dataset, "factor_sizes", None) or ())
    if not sizes:
        raise ValueError(
            f"semi-supervised training needs a dataset with ground-truth factors "
            f"(factor_sizes), got {type(dataset).__name__} without them"
        )
    return tuple(int(s) for s in sizes)


def num_train_labels(num_labels: int, train_fraction: float) -> int:
    """``ceil(num_labels train_fraction)``: the labelled rows trained on (at least 1).

    Examples:
        >>> from disentax.data.labelled import num_train_labels
        >>> num_train_labels(100, 0.9), num_train_labels(1, 0.5)
        (90, 1)
    """
    return max(1, int(math.ceil(num_labels * train_fraction)))


def check_labelled_options(dataset, **options: Any) -> dict[str, Any]:
    """Validates the labelled batch's options for ``dataset``; returns them, defaults filled.

    Args:
        dataset: a ground-truth dataset (it must have ``factor_sizes``).
        **options: any of ``LABELLED_DEFAULTS``: ``num_labels`` (a positive int, at most
            the number of grid points), ``train_fraction`` (in (0, 1]), ``labeller`` and
            its options.

    Raises:
        ValueError: a dataset without factors, an unknown option or labeller, or a value
            out of range (naming the option and what was expected).

    Examples:
        >>> from disentax.data import Identity
        >>> from disentax.data.labelled import check_labelled_options
        >>> check_labelled_options(Identity((3, 5)), num_labels=16)
        Traceback (most recent call last):
        ...
        ValueError: num_labels must be at most the dataset's 15 grid points, got 16
    """
    unknown = sorted(set(options) - set(LABELLED_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown labelled-batch options {unknown}; known: {LABELLED_DEFAULTS}")
    chosen = {**LABELLED_DEFAULTS, **options}
    sizes = _factor_sizes(dataset)
    num_labels = chosen["num_labels"]
    if isinstance(num_labels, bool) or not isinstance(num_labels, int | np.integer):
        raise ValueError(f"num_labels must be a positive int, got {num_labels!r}")
    if num_labels < 1:
        raise ValueError(f"num_labels must be a positive int, got {num_labels}")
    if num_labels > math.prod(sizes):
        raise ValueError(
            f"num_labels must be at most the dataset's {math.prod(sizes)} grid points, "
            f"got {num_labels}"
        )
    fraction = chosen["train_fraction"]
    if isinstance(fraction, bool) or not isinstance(fraction, int | float | np.number):
        raise ValueError(f"train_fraction must be a number in (0, 1], got {fraction!r}")
    if not 0 < fraction <= 1:
        raise ValueError(f"train_fraction must be in (0, 1], got {fraction}")
    labellers.check_labeller(chosen["labeller"], sizes, **chosen)
    return chosen


def _draw_points(key: PRNGKey, sizes: tuple[int, ...], num: int) -> Array:
    space = FactorSpace(sizes)
    # top-k of one score per point: O(grid) per step (docs/performance/semi_supervision.md)
    if space.num_points <= _DISTINCT_MAX_POINTS:
        scores = jax.random.uniform(key, (space.num_points,))
        return space.factors(jax.lax.top_k(scores, num)[1])
    maxval = jnp.asarray(sizes, jnp.int32)
    return jax.random.randint(key, (num, len(sizes)), 0, maxval, jnp.int32)


def labelled_subset(dataset, data_key: PRNGKey, **options: Any) -> LabelledSubset:
    """The run's labelled subset: its points, their labels and the images' keys; jittable.

    Drawn from ``fold_in(data_key, SUBSET_STREAM)`` (the same for every step): the points
    from one of its subkeys, the labeller's randomness from another, the images' keys
    (datasets with ``takes_key``) from a third.

    Args:
        dataset: a ground-truth dataset.
        data_key: the run's data key (may be traced).
        **options: see :func:`check_labelled_options`.

    Examples:
        >>> import jax
        >>> from disentax.data import Identity
        >>> from disentax.data.labelled import labelled_subset
        >>> subset = labelled_subset(Identity((3, 5)), jax.random.key(0), num_labels=15)
        >>> sorted(subset.factors.tolist()) == [[a, b] for a in range(3) for b in range(5)]
        True
    """
    chosen = check_labelled_options(dataset, **options)
    sizes = _factor_sizes(dataset)
    point_key, label_key, image_key = jax.random.split(
        jax.random.fold_in(data_key, SUBSET_STREAM), 3
    )
    factors = _draw_points(point_key, sizes, chosen["num_labels"])
    labels, label_sizes = labellers.label(label_key, factors, sizes, **chosen)
    row_keys = None
    if getattr(dataset, "takes_key", False):
        row_keys = jax.random.split(image_key, chosen["num_labels"])
    return LabelledSubset(factors, labels, label_sizes, row_keys)


def _mulmod(a: Array, b: int, n: int) -> Array:
    """``(a b) mod n`` for traced ``0 <= a < n`` and static ``b``, without int32 overflow."""
    result = jnp.zeros_like(a)
    b %= n
    while b:  # double-and-add over the bits of b: every intermediate stays below 2n
        if b & 1:
            result = (result + a) % n
        a = (a + a) % n
        b >>= 1
    return result


def labelled_rows(step, global_batch: int, num_train: int) -> Array:
    """Rows ``(step N + i) mod num_train``, ``i < N``, of the training labels; jittable.

    Examples:
        >>> from disentax.data.labelled import labelled_rows
        >>> labelled_rows(1, 4, 6).tolist()  # the second batch of 4 cycles through 6 rows
        [4, 5, 0, 1]
    """
    step = jnp.asarray(step, jnp.int32) % num_train
    start = _mulmod(step, global_batch, num_train)
    return (start + jnp.arange(global_batch, dtype=jnp.int32)) % num_train


def _shard_rows(rows: Array, shard) -> Array:
    if shard is None:
        return rows
    index, count = shard
    size = rows.shape[0] // count
    return jax.lax.dynamic_slice_in_dim(rows, index * size, size)


def _unlabelled_images(dataset, data_key, step, global_batch, shard) -> Array:
    if shard is None:
        return sampling.batch_for_step(dataset, data_key, step, global_batch)[0]
    index, count = shard
    size = global_batch // count
    factors = sampling.sample_factors_for_step(dataset, data_key, step, global_batch)
    factors = jax.lax.dynamic_slice_in_dim(factors, index * size, size)
    if getattr(dataset, "takes_key", False):
        keys = sampling.row_keys_for_step(data_key, step, global_batch)
        keys = jax.lax.dynamic_slice_in_dim(keys, index * size, size)
        return dataset.observations(factors, key=keys)
    return dataset.observations(factors)


def labelled_batch(
    dataset, data_key: PRNGKey, step, global_batch: int, shard=None, **options: Any
) -> dict[str, Array]:
    """The semi-supervised batch of ``step``: unlabelled images and labelled rows; jittable.

    Args:
        dataset: a ground-truth dataset (procedural or device-resident inside ``jit``).
        data_key: the run's data key.
        step: the step number (may be traced).
        global_batch: ``N``, the rows of each entry.
        shard: None for the whole batch, or ``(index, count)``: rows
            ``[index N / count, (index + 1) N / count)`` of every entry.
        **options: see :func:`check_labelled_options`.

    Returns:
        ``{"images": [N,H,W,C]`` (the step's ordinary batch), ``"labelled_images":
        [N,H,W,C]``, ``"labels": [N,F']`` int32, ``"label_sizes": [N,F']`` int32 (each
        label's number of values, repeated per row)``}``.

    Examples:
        >>> import jax
        >>> from disentax.data import Identity
        >>> from disentax.data.labelled import labelled_batch
        >>> batch = labelled_batch(Identity((3, 5)), jax.random.key(0), 0, 4, num_labels=10)
        >>> {k: v.shape for k, v in batch.items()}  # doctest: +NORMALIZE_WHITESPACE
        {'images': (4, 1, 1, 2), 'labelled_images': (4, 1, 1, 2), 'labels': (4, 2),
         'label_sizes': (4, 2)}
    """
    global_batch = check_num(global_batch, "global_batch")
    chosen = check_labelled_options(dataset, **options)
    subset = labelled_subset(dataset, data_key, **chosen)
    num_train = num_train_labels(chosen["num_labels"], chosen["train_fraction"])
    rows = _shard_rows(labelled_rows(step, global_batch, num_train), shard)
    factors = subset.factors[rows]
    if subset.row_keys is None:
        labelled_images = dataset.observations(factors)
    else:
        labelled_images = dataset.observations(factors, key=subset.row_keys[rows])
    labels = subset.labels[rows]
    return {
        "images": _unlabelled_images(dataset, data_key, step, global_batch, shard),
        "labelled_images": labelled_images,
        "labels": labels,
        "label_sizes": jnp.broadcast_to(subset.label_sizes, labels.shape),
    }
