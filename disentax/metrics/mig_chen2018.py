"""MIG under Chen et al.'s published protocol (the numbers their paper and its followers quote).

Chen et al. (2018) defined the MIG and published it with one protocol, read here from
their code (rtqichen/beta-tcvae, ``disentanglement_metrics.py`` and
``metric_helpers/mi_metric.py``):

* the **whole factor grid** is encoded (dSprites: all 737,280 images) and one sample
  ``z_n ~ q(z | x_n)`` is drawn per image, once;
* ``H(z_j) = -mean_s log(1/N sum_n q(z_sj | x_n))`` over 10,000 of those samples drawn
  without replacement, the sum over every point of the grid;
* for each factor ``k`` and value ``v``, ``H(z_j | v_k = v)`` the same estimate within the
  points with ``v_k = v``: ``min(10,000, N_v)`` samples of those points, the sum over
  those points only; ``H(z_j | v_k)`` is their average over the (uniform) values;
* ``I = H(z_j) - H(z_j | v_k)`` clipped at 0, normalised by ``log(size_k)`` (the entropy of
  a uniform factor), and ``MIG = mean_k (I_(1)k - I_(2)k)``;
* **scored factors**: dSprites scale, orientation, posX, posY -- not shape (their
  ``factor_entropies = [6, 40, 32, 32]``); 3D faces azimuth, elevation, lighting -- not the
  face identity.

Published numbers that use it: Chen et al. 2018's own MIG values (e.g. β-TCVAE on
dSprites around 0.45) and those of papers that ran their code (e.g. Lin et al. 2020,
InfoGAN-CR, Table 1). It is a different quantity from :func:`disentax.metrics.mig`
(disentanglement_lib's 20-bin histogram MIG of posterior means on 10,000 random points,
all factors; Locatello et al. 2019 and its followers) and from
:func:`disentax.metrics.mig_sampled` (Chen's estimator on whatever points and factors it
is given): compare each only with anchors of its own protocol.

:func:`mig_chen2018` is the estimator on arrays: the caller passes the grid's posteriors
and the scored factor columns. :data:`CHEN2018_FACTORS` holds the factor selection per
dataset and :func:`chen2018_factor_columns` applies it; the evaluation entry
``mig_chen2018`` (:mod:`disentax.evaluation`) encodes the grid and does both.

On any set of points (not only a full grid) the kernel weights each value's conditional
entropy by its frequency ``N_v / N`` and normalises by the empirical factor entropy; on a
full grid both equal Chen et al.'s ``1 / size_k`` and ``log(size_k)``.

References:
  Chen, Li, Grosse & Duvenaud, "Isolating Sources of Disentanglement in Variational
  Autoencoders", NeurIPS 2018 (code: github.com/rtqichen/beta-tcvae).
  Lin, Thekumparampil, Fanti & Oh, "InfoGAN-CR and ModelCentrality", ICML 2020.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from disentax.metrics.checks import check_positive_int, single_valued_factors
from disentax.metrics.information import entropies
from disentax.metrics.mig import (
    Points,
    Samples,
    check_posterior,
    mig_from_mutual_info,
    mixture_entropies,
    with_marginal,
)
from disentax.typing import Array, ArrayLike, PRNGKey

__all__ = ["CHEN2018_FACTORS", "CHEN2018_NUM_SAMPLES", "chen2018_factor_columns", "mig_chen2018"]

_DSPRITES = ("scale", "orientation", "posX", "posY")

#: Dataset name -> the factors Chen et al. score on it (by ``factor_names``). Their code
#: scores dSprites without shape; every reader of the dSprites grid gets that rule.
#: Datasets not listed (Chen et al. published none of them) score all their factors.
CHEN2018_FACTORS: dict[str, tuple[str, ...]] = {
    "dsprites": _DSPRITES,
    "dsprites_file": _DSPRITES,
    "tfds_dsprites": _DSPRITES,
}

#: Samples per entropy estimate in Chen et al.'s code (``estimate_entropies(n_samples=10000)``).
CHEN2018_NUM_SAMPLES = 10_000


def chen2018_factor_columns(dataset_name: str | None, factor_names: Sequence[str]) -> tuple:
    """The factor columns Chen et al.'s protocol scores on a dataset.

    Args:
      dataset_name: the dataset's name (e.g. ``"dsprites"``); None for an unnamed one.
      factor_names: the dataset's factor names, one per factor column.

    Returns:
      tuple of column indices: those of :data:`CHEN2018_FACTORS` ``[dataset_name]``, or
      every column for a dataset not listed there.

    Raises:
      ValueError: a listed dataset lacks one of the factors the protocol scores.

    Examples:
      >>> chen2018_factor_columns("dsprites", ("shape", "scale", "orientation", "posX", "posY"))
      (1, 2, 3, 4)
      >>> chen2018_factor_columns("shapes3d", ("floor_hue", "wall_hue"))
      (0, 1)
    """
    names = tuple(factor_names)
    scored = CHEN2018_FACTORS.get(dataset_name)
    if scored is None:
        return tuple(range(len(names)))
    missing = [name for name in scored if name not in names]
    if missing:
        raise ValueError(
            f"dataset {dataset_name!r}: Chen et al.'s protocol scores factors {scored}, "
            f"but the dataset has no factor {missing} (its factors: {names})"
        )
    return tuple(names.index(name) for name in scored)


def mig_chen2018(
    key: PRNGKey,
    mean: ArrayLike,
    logvar: ArrayLike,
    factors: ArrayLike,
    *,
    num_samples: int = CHEN2018_NUM_SAMPLES,
    samples_per_chunk: int = 256,
    points_per_chunk: int = 2048,
) -> Array:
    """Chen et al.'s MIG estimator, as in their code, on every point and factor given.

    Pass the posteriors of the whole factor grid and only the factor columns the protocol
    scores (:func:`chen2018_factor_columns`) to reproduce the published numbers; the
    evaluation entry ``mig_chen2018`` does so. See the module docstring for the estimator.

    ``key`` draws one ``z_n ~ N(mean_n, exp(logvar_n))`` per point, then, independently
    for the marginal and for each factor, which points' samples enter each entropy
    estimate. Cost ``O(num_samples * N * L * (F + 1))`` (each factor's values split the
    points, so a factor costs about as much as the marginal). Memory is bounded by
    chunking (:func:`disentax.metrics.mig.mixture_entropies`): besides the inputs and
    ``[F + 1, N]`` sort orders it holds ``samples_per_chunk * points_per_chunk * L``
    floats, whatever ``num_samples`` and ``N``.

    Args:
      key: PRNG key of the samples and of the choice of samples.
      mean: ``[N, L]`` posterior means (``L >= 2``).
      logvar: ``[N, L]`` posterior log-variances.
      factors: ``[N, F]`` int factor values of the scored factors.
      num_samples: static samples per entropy estimate (Chen et al.: 10,000; a factor
        value with fewer points uses all of them).
      samples_per_chunk: static samples scored at once.
      points_per_chunk: static points a chunk of samples meets at once.

    Returns:
      scalar MIG estimate.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> grid = jnp.stack(jnp.meshgrid(jnp.arange(4), jnp.arange(5), indexing="ij"), -1)
      >>> factors = grid.reshape(-1, 2)
      >>> mean = jnp.concatenate([factors.astype(jnp.float32), jnp.zeros((20, 1))], 1)
      >>> logvar = jnp.full((20, 3), -8.0)
      >>> bool(mig_chen2018(jax.random.key(0), mean, logvar, factors) > 0.9)
      True
    """
    mean, logvar, factors = check_posterior(mean, logvar, factors)
    check_positive_int(num_samples, "num_samples")
    check_positive_int(samples_per_chunk, "samples_per_chunk")
    check_positive_int(points_per_chunk, "points_per_chunk")
    single_valued_factors(factors, metric="MIG")
    return _mig_chen2018(
        key,
        mean,
        logvar,
        factors,
        num_samples=int(num_samples),
        samples_per_chunk=int(samples_per_chunk),
        points_per_chunk=int(points_per_chunk),
    )


def _column_samples(column_key, values: Array, num_samples: int):
    """One column's points in random order grouped by value, and its samples.

    Returns ``(order [N], sorted values [N], sample positions [N], weights [N], count)``:
    the first ``min(num_samples, N_v)`` points of each value (random, without
    replacement) are its samples, listed first (``count`` of them) in ``positions``,
    with weight ``(N_v / N) / min(num_samples, N_v)`` (Chen et al.'s average over values).
    """
    n = values.shape[0]
    perm = jax.random.permutation(column_key, n)
    order = perm[jnp.argsort(values[perm], stable=True)]
    ordered = values[order]
    begin = jnp.searchsorted(ordered, ordered, side="left")
    size = jnp.searchsorted(ordered, ordered, side="right") - begin  # N_v of each point
    chosen = jnp.arange(n) - begin < num_samples
    positions = jnp.argsort(~chosen, stable=True)  # the chosen first, in order
    taken = jnp.minimum(size, num_samples)
    weights = (size / n) / taken
    return order, ordered, positions, weights[positions], chosen.sum()


@functools.partial(
    jax.jit, static_argnames=("num_samples", "samples_per_chunk", "points_per_chunk")
)
def _mig_chen2018(key, mean, logvar, factors, *, num_samples, samples_per_chunk, points_per_chunk):
    n = mean.shape[0]
    noise_key, order_key = jax.random.split(key)
    z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(noise_key, mean.shape)  # one per point
    columns = with_marginal(factors)  # [N, F + 1]
    keys = jax.random.split(order_key, columns.shape[1])
    order, ordered, positions, weights, count = jax.vmap(
        functools.partial(_column_samples, num_samples=num_samples), in_axes=(0, 1)
    )(keys, columns)
    samples = Samples(
        ids=jnp.take_along_axis(order, positions, axis=1),
        values=jnp.take_along_axis(ordered, positions, axis=1),
        weights=weights,
        count=count,
    )
    entropy = mixture_entropies(
        z,
        jnp.arange(n),
        mean,
        logvar,
        samples,
        Points(order, ordered),
        samples_per_chunk=samples_per_chunk,
        points_per_chunk=points_per_chunk,
    )  # [F + 1, L]: H(z_j), then H(z_j | v_k)
    mutual_info = jnp.maximum(entropy[0][:, None] - entropy[1:].T, 0.0)  # [L, F]
    return mig_from_mutual_info(mutual_info, entropies(factors))
