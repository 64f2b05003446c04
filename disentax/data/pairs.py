"""Paired observations for weak supervision: the second member re-draws k factors of the first.

The reference's ``simple_dynamics`` (disentanglement_lib, ``methods/weak/train_weak_lib.py``,
Locatello et al. 2020) makes, for each pair independently:

1. ``k_observed = k``, or for ``k = -1`` an integer drawn uniformly from ``[1, F - 1]``
   (NumPy's ``randint(1, F)``: ``F`` itself is never drawn);
2. the number of factors re-drawn, uniformly one of ``1`` and ``k_observed`` (a fair coin:
   half of the pairs re-draw one factor whatever ``k`` is);
3. that many distinct factors, uniformly without replacement, each re-drawn uniformly over
   all its values (so it may land on the value it had: the pair then differs in fewer
   factors, possibly none);
4. the label: the last of the re-drawn factors in the order they were drawn, i.e. one of
   them uniformly.

Here every draw comes from the given key (the reference draws the new values from NumPy's
global generator, so its pairs are not reproducible from its seed); a batch is a pure
function of ``(data_key, step)`` like the unsupervised batches
(:mod:`disentax.data.sampling`): the first members are exactly the unsupervised batch of
the step, the re-draws come from the stream ``fold_in(fold_in(data_key, step), 2)`` and the
second images' own randomness (``takes_key`` datasets) from stream 3.

References:
  Locatello, Poole, Rätsch, Schölkopf, Bachem, Tschannen. "Weakly-Supervised
  Disentanglement Without Compromises", ICML 2020.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from disentax.data import sampling
from disentax.data.ground_truth import check_key, check_num
from disentax.typing import Array, PRNGKey

__all__ = [
    "PAIR_KEYS",
    "Pairs",
    "check_pair_dataset",
    "check_pair_k",
    "pair_batch_for_step",
    "redraw_factors",
    "sample_pairs",
]

_PAIR_STREAM = 2  # the re-draws of step t: fold_in(fold_in(data_key, t), 2)
_SECOND_OBSERVATION_STREAM = 3  # row keys of the second images (takes_key datasets)

#: The entries of a pair batch: ``images``, ``images_2 [N,H,W,C]`` and ``changed [N]``.
PAIR_KEYS = ("images", "images_2", "changed")


class Pairs(NamedTuple):
    """The factors of a batch of pairs.

    Attributes:
      factors: ``[N,F]`` int32, the first members.
      factors_2: ``[N,F]`` int32, the second members (``factors`` with some re-drawn).
      changed: ``[N]`` int32, the label: the index of the factor re-drawn last.
      redrawn: ``[N,F]`` bool, the factors re-drawn (a re-draw may keep the value).
    """

    factors: Array
    factors_2: Array
    changed: Array
    redrawn: Array


def check_pair_k(k, num_factors: int) -> int:
    """Checks the pairs' ``k`` against the number of factors ``F``; returns it as an int.

    Raises:
      TypeError: ``k`` is not an int.
      ValueError: ``k`` is 0 or outside ``[-1, F]``, or ``k = -1`` with a single factor
        (the random ``k`` is drawn from ``[1, F - 1]``).

    Examples:
      >>> from disentax.data.pairs import check_pair_k
      >>> check_pair_k(-1, 5)
      -1
      >>> check_pair_k(0, 5)
      Traceback (most recent call last):
      ...
      ValueError: k must be -1 (a random k per pair) or in [1, 5] (the number of factors), got 0
    """
    if isinstance(k, bool | np.bool_) or not isinstance(k, int | np.integer):
        raise TypeError(f"k must be an int (-1 or in [1, F]), got {type(k).__name__} {k!r}")
    k = int(k)
    if k == -1 and num_factors < 2:
        raise ValueError("k = -1 draws k from [1, F - 1] and needs at least 2 factors, got F = 1")
    if k != -1 and not 1 <= k <= num_factors:
        raise ValueError(
            f"k must be -1 (a random k per pair) or in [1, {num_factors}] (the number of "
            f"factors), got {k}"
        )
    return k


def check_pair_dataset(dataset) -> tuple[int, ...]:
    """The factor sizes of ``dataset``; ValueError when it has no ground-truth factors."""
    sizes = getattr(dataset, "factor_sizes", None)
    if not sizes or not callable(getattr(dataset, "sample_factors", None)):
        raise ValueError(
            f"pairs need a dataset with ground-truth factors (factor_sizes, sample_factors); "
            f"{type(dataset).__name__} has none"
        )
    return tuple(int(s) for s in sizes)


def redraw_factors(key: PRNGKey, factors: Array, factor_sizes, *, k: int) -> Pairs:
    """Second members of pairs: each row of ``factors`` with some factors re-drawn.

    Jittable; the semantics of the reference's ``simple_dynamics`` (module docstring), one
    independent draw per row.

    Args:
      key: typed PRNG key.
      factors: ``[N,F]`` int32, the first members.
      factor_sizes: the ``F`` factor sizes.
      k: -1 (random per pair) or the number of factors ``1..F`` (half of the pairs
        re-draw one factor, the other half ``k``).

    Returns:
      :class:`Pairs`.

    Examples:
      >>> import jax
      >>> import jax.numpy as jnp
      >>> from disentax.data.pairs import redraw_factors
      >>> factors = jnp.zeros((4, 3), jnp.int32)
      >>> pairs = redraw_factors(jax.random.key(0), factors, (2, 3, 4), k=1)
      >>> pairs.redrawn.sum(axis=1).tolist()  # k = 1: exactly one factor re-drawn
      [1, 1, 1, 1]
      >>> bool((pairs.redrawn[jnp.arange(4), pairs.changed]).all())
      True
    """
    sizes = tuple(int(s) for s in factor_sizes)
    num_factors = len(sizes)
    k = check_pair_k(k, num_factors)
    num = factors.shape[0]
    k_key, count_key, order_key, value_key = jax.random.split(key, 4)
    if k == -1:  # NumPy randint(1, F): uniform over [1, F - 1]
        k_observed = jax.random.randint(k_key, (num,), 1, num_factors, dtype=jnp.int32)
    else:
        k_observed = jnp.full((num,), k, jnp.int32)
    # choice([1, k_observed]): a fair coin between one factor and k_observed of them
    count = jnp.where(jax.random.bernoulli(count_key, 0.5, (num,)), k_observed, 1)
    # distinct factors drawn in order: a uniform permutation per row, its first `count`
    order = jax.vmap(lambda kk: jax.random.permutation(kk, num_factors))(
        jax.random.split(order_key, num)
    ).astype(jnp.int32)
    rank = jnp.argsort(order, axis=1)  # position of each factor in its row's draw order
    redrawn = rank < count[:, None]
    changed = jnp.take_along_axis(order, (count - 1)[:, None], axis=1)[:, 0]
    values = jax.random.randint(
        value_key, (num, num_factors), 0, jnp.asarray(sizes, jnp.int32), dtype=jnp.int32
    )
    factors = jnp.asarray(factors, jnp.int32)
    return Pairs(factors, jnp.where(redrawn, values, factors), changed, redrawn)


def sample_pairs(dataset, key: PRNGKey, num: int, *, k: int) -> Pairs:
    """``num`` pairs of factors of ``dataset``: first members uniform, then re-drawn.

    Examples:
      >>> import jax
      >>> from disentax.data import Identity
      >>> from disentax.data.pairs import sample_pairs
      >>> pairs = sample_pairs(Identity((3, 5)), jax.random.key(0), 6, k=-1)
      >>> pairs.factors.shape, pairs.factors_2.shape, pairs.changed.shape
      ((6, 2), (6, 2), (6,))
    """
    check_key(key)
    num = check_num(num)
    sizes = check_pair_dataset(dataset)
    k = check_pair_k(k, len(sizes))
    first_key, redraw_key = jax.random.split(key)
    return redraw_factors(redraw_key, dataset.sample_factors(first_key, num), sizes, k=k)


def _rows(x, shard):
    if shard is None:
        return x
    index, count = shard
    size = x.shape[0] // count
    return jax.lax.dynamic_slice_in_dim(x, index * size, size)


def pair_batch_for_step(
    dataset, data_key: PRNGKey, step, global_batch: int, shard=None, *, k: int
) -> dict[str, Array]:
    """The pair batch of ``step``: ``{"images", "images_2", "changed"}``; jittable.

    The first members are the unsupervised batch of the step
    (:func:`disentax.data.sampling.batch_for_step`); the re-draws come from the step's
    pair stream (module docstring).

    Args:
      dataset: a ground-truth dataset.
      data_key: the run's data key.
      step: int or traced int scalar.
      global_batch: ``N``, the pairs of the global batch.
      shard: None for the whole batch, or ``(index, count)``: rows
        ``[index * N/count, (index + 1) * N/count)`` (``index`` may be traced).
      k: see :func:`redraw_factors`.

    Returns:
      ``images, images_2 [n,H,W,C]`` and ``changed [n]`` int32 (``n = N`` or ``N/count``).

    Examples:
      >>> import jax
      >>> from disentax.data import Identity
      >>> from disentax.data.pairs import pair_batch_for_step
      >>> batch = pair_batch_for_step(Identity((3, 5)), jax.random.key(0), 7, 4, k=1)
      >>> {name: value.shape for name, value in batch.items()}
      {'images': (4, 1, 1, 2), 'images_2': (4, 1, 1, 2), 'changed': (4,)}
    """
    check_key(data_key, "data_key")
    global_batch = check_num(global_batch, "global_batch")
    sizes = check_pair_dataset(dataset)
    step_key = jax.random.fold_in(data_key, step)
    factors = sampling.sample_factors_for_step(dataset, data_key, step, global_batch)
    pairs = redraw_factors(
        jax.random.fold_in(step_key, _PAIR_STREAM), factors, sizes, k=check_pair_k(k, len(sizes))
    )
    images = {}
    for name, rows, stream in (
        ("images", pairs.factors, None),
        ("images_2", pairs.factors_2, _SECOND_OBSERVATION_STREAM),
    ):
        rows = _rows(rows, shard)
        if getattr(dataset, "takes_key", False):
            if stream is None:
                keys = sampling.row_keys_for_step(data_key, step, global_batch)
            else:
                keys = jax.random.split(jax.random.fold_in(step_key, stream), global_batch)
            images[name] = dataset.observations(rows, key=_rows(keys, shard))
        else:
            images[name] = dataset.observations(rows)
    return {**images, "changed": _rows(pairs.changed, shard)}
