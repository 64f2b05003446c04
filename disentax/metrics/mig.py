"""Mutual Information Gap (MIG): disentanglement_lib's histogram form and the sampled form.

* ``mig``: the histogram form of disentanglement_lib (Locatello et al. 2019), used by
  nearly every later paper: codes are discretised into equal-width bins, factors are used
  as given, ``MIG = mean_k (I_(1)k - I_(2)k) / H(v_k)`` with the two largest mutual
  informations of factor ``k`` over codes. With 20 bins a factor with more than 20 values
  cannot reach 1 (e.g. ``log 20 / log 40 = 0.81`` for dSprites orientation).
* ``mig_sampled``: Chen et al.'s estimator from the encoder's Gaussian posterior
  ``q(z|x) = N(mean, exp(logvar))``: ``I(z_j; v_k) = H(z_j) - H(z_j | v_k)`` with the
  aggregate posterior ``q(z_j) = 1/N sum_n q(z_j | x_n)`` estimated over the whole set and
  ``q(z_j | v_k = v)`` over the points sharing that factor value, on the points and
  factors it is given.

Neither is the number Chen et al. publish: their protocol (the full factor grid, dSprites
without shape, 10,000 samples per entropy) is :func:`disentax.metrics.mig_chen2018`.
Published anchors compare only with their own form: disentanglement_lib / Locatello et
al. 2019 MIG values with ``mig``; Chen et al. 2018 (and the papers that ran their code)
with ``mig_chen2018``; ``mig_sampled`` (all factors, random points) has no published
anchor. The histogram form measures the codes' means, the sampled forms the stochastic
codes, and their normalisations differ.

Degenerate input: a factor that takes a single value has ``H(v_k) = 0``; it is excluded
from the average (a warning names it when the input is concrete; a ``ValueError`` if no
factor has two values). A constant code has zero mutual information with every factor.

References:
  Chen, Li, Grosse & Duvenaud, "Isolating Sources of Disentanglement in Variational
  Autoencoders", NeurIPS 2018.
  Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning of
  Disentangled Representations", ICML 2019 (disentanglement_lib ``mig.py``).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from disentax.metrics.checks import (
    check_codes,
    check_factors,
    check_num_bins,
    check_positive_int,
    check_same_num_points,
    single_valued_factors,
)
from disentax.metrics.information import (
    binned_mutual_info,
    check_histogram_bins,
    entropies,
    equal_width_bins,
)
from disentax.typing import Array, ArrayLike, PRNGKey

__all__ = ["mig", "mig_from_mutual_info", "mig_sampled"]

# Densities are summed as exp(log q - shift), shift = max(the sample's own log density,
# the largest log density any point can give - 60): no term exceeds e^60, so sums over up
# to e^28 points cannot overflow, and the own term (in every sum of its sample) keeps a
# sum from underflowing unless a latent's log-variances span over ~200 nats.
_SHIFT_MARGIN = 60.0


def _check_two_codes(codes: Array, name: str) -> None:
    if codes.shape[1] < 2:
        raise ValueError(
            f"{name} must have at least 2 codes (columns) for a gap, got {codes.shape}"
        )


def mig_from_mutual_info(mutual_info: Array, factor_entropy: Array) -> Array:
    """``mean_k (top1_i m[i, k] - top2_i m[i, k]) / H_k`` over factors with ``H_k > 0``.

    Args:
      mutual_info: ``[L, F]`` mutual information between codes and factors (``L >= 2``).
      factor_entropy: ``[F]`` factor entropies.

    Returns:
      scalar; ``NaN`` only if no factor has positive entropy (checked before XLA by the
      public metrics when the input is concrete).
    """
    top2 = jax.lax.top_k(mutual_info.T, 2)[0]  # [F, 2]
    valid = factor_entropy > 0
    gap = (top2[:, 0] - top2[:, 1]) / jnp.where(valid, factor_entropy, 1.0)
    return jnp.sum(jnp.where(valid, gap, 0.0)) / jnp.sum(valid)


def mig(codes: ArrayLike, factors: ArrayLike, *, num_bins: int = 20) -> Array:
    """Histogram-discretised MIG (disentanglement_lib's ``discrete_mig``).

    Args:
      codes: ``[N, L]`` codes (``L >= 2``), e.g. posterior means.
      factors: ``[N, F]`` int factor values (used as given, not binned).
      num_bins: static number of equal-width bins per code.

    Returns:
      scalar MIG in ``[0, 1]``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from disentax.metrics.mig import mig
      >>> factors = jnp.stack([jnp.arange(600) % 3, jnp.arange(600) % 4], axis=1)
      >>> codes = factors.astype(jnp.float32)  # the identity representation
      >>> round(float(mig(codes, factors)), 2)
      1.0
      >>> noise = jax.random.normal(jax.random.key(0), (600, 2))  # independent of the factors
      >>> bool(mig(noise, factors) < 0.05)
      True
      >>> scores = jax.vmap(mig, in_axes=(0, None))(jnp.stack([codes, noise]), factors)
      >>> scores.shape, (scores > 0.5).tolist()  # one score per model
      ((2,), [True, False])
    """
    codes = check_codes(codes)
    factors = check_factors(factors)
    check_same_num_points(("codes", codes), ("factors", factors))
    check_histogram_bins(num_bins, codes.shape[0])
    _check_two_codes(codes, "codes")
    single_valued_factors(factors, metric="MIG")
    return _mig(codes, factors, num_bins=int(num_bins))


@functools.partial(jax.jit, static_argnames=("num_bins",))
def _mig(codes: Array, factors: Array, *, num_bins: int) -> Array:
    bins = equal_width_bins(codes, num_bins=num_bins)
    mutual_info = binned_mutual_info(bins, factors, num_bins=num_bins)
    return mig_from_mutual_info(mutual_info, entropies(factors))


def mig_sampled(
    key: PRNGKey,
    mean: ArrayLike,
    logvar: ArrayLike,
    factors: ArrayLike,
    *,
    num_samples: int = 1000,
    samples_per_chunk: int = 256,
    points_per_chunk: int = 2048,
) -> Array:
    """Chen et al.'s sampled MIG estimator over every factor column of a labelled set.

    This is *not* Chen et al.'s published protocol (that is
    :func:`disentax.metrics.mig_chen2018`: the full factor grid, their factor selection,
    10,000 samples per entropy): it scores every column of ``factors`` on whatever points
    it is given (the evaluation suite gives it 10,000 random points). Its values compare
    with neither the published Chen-MIG anchors (e.g. β-TCVAE on dSprites) nor
    disentanglement_lib's histogram MIG (:func:`mig`).

    ``num_samples`` points ``s`` are drawn without replacement from the ``N`` points and
    one ``z_s ~ N(mean_s, exp(logvar_s))`` each. Then, per latent ``j``,
    ``H(z_j) = -mean_s log(1/N sum_n q(z_sj | x_n))`` and, per factor ``k``,
    ``H(z_j | v_k) = -mean_s log(1/N_v sum_{n: v_nk = v_sk} q(z_sj | x_n))`` (the sample
    mean weights each factor value by its frequency); ``I = H(z_j) - H(z_j | v_k)`` and
    ``MIG = mean_k (I_(1)k - I_(2)k) / H(v_k)``, ``H(v_k)`` the empirical factor entropy.

    Memory is bounded by chunking (:func:`mixture_entropies`): ``samples_per_chunk``
    samples at a time (``lax.map``) against the points of their factor values
    ``points_per_chunk`` at a time (a loop), so besides the inputs and ``[F + 1, N]`` sort
    orders the peak holds ``samples_per_chunk * points_per_chunk * L`` floats, whatever
    ``num_samples`` and ``N``. Each conditional sum runs over the points of one factor
    value only, so the cost is ``O(num_samples * N * L)`` for the marginal plus less for
    the factors. The chunk sizes change the result only by float32 rounding.

    Args:
      key: PRNG key for the sample choice and the reparameterised samples.
      mean: ``[N, L]`` posterior means (``L >= 2``).
      logvar: ``[N, L]`` posterior log-variances.
      factors: ``[N, F]`` int factor values.
      num_samples: static number of Monte-Carlo points (``<= N``).
      samples_per_chunk: static number of samples scored at once.
      points_per_chunk: static number of points a chunk of samples meets at once.

    Returns:
      scalar MIG estimate (MI estimates are clipped at 0).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> factors = jnp.stack([jnp.arange(400) % 4, jnp.arange(400) // 100], axis=1)
      >>> mean = jnp.concatenate([factors.astype(jnp.float32), jnp.zeros((400, 1))], 1)
      >>> logvar = jnp.full((400, 3), -8.0)
      >>> bool(mig_sampled(jax.random.key(0), mean, logvar, factors, num_samples=100) > 0.9)
      True
    """
    mean, logvar, factors = check_posterior(mean, logvar, factors)
    check_num_bins(num_samples, mean.shape[0], name="num_samples")
    check_positive_int(samples_per_chunk, "samples_per_chunk")
    check_positive_int(points_per_chunk, "points_per_chunk")
    single_valued_factors(factors, metric="MIG")
    return _mig_sampled(
        key,
        mean,
        logvar,
        factors,
        num_samples=int(num_samples),
        samples_per_chunk=int(samples_per_chunk),
        points_per_chunk=int(points_per_chunk),
    )


def check_posterior(mean, logvar, factors) -> tuple[Array, Array, Array]:
    """Checks ``mean``, ``logvar`` ``[N, L]`` (``L >= 2``) and ``factors [N, F]``."""
    mean = check_codes(mean, name="mean")
    logvar = check_codes(logvar, name="logvar")
    factors = check_factors(factors)
    check_same_num_points(("mean", mean), ("logvar", logvar), ("factors", factors))
    if mean.shape != logvar.shape:
        raise ValueError(
            f"mean and logvar must have the same shape, got {mean.shape}, {logvar.shape}"
        )
    _check_two_codes(mean, "mean")
    return mean, logvar, factors


def with_marginal(factors: Array) -> Array:
    """``[N, F + 1]``: a constant column 0 (its one value: the marginal), then ``factors``."""
    return jnp.concatenate([jnp.zeros((factors.shape[0], 1), factors.dtype), factors], axis=1)


class Samples(NamedTuple):
    """Which samples enter each column's entropy, sorted by value, and their weights.

    Attributes:
      ids: ``[K, M]`` rows of ``z``, sorted by their value in each column ``k``.
      values: ``[K, M]`` their values (ascending over the first ``count[k]`` entries).
      weights: ``[K, M]`` weight of each sample's ``-log q(z_s | v_sk)`` in ``H(z | v_k)``.
      count: ``[K]`` how many entries of each row are samples (the rest is padding).
    """

    ids: Array
    values: Array
    weights: Array
    count: Array


class Points(NamedTuple):
    """The mixture components of each column, grouped by value.

    Attributes:
      order: ``[K, N]`` the points sorted (stably) by their value in column ``k``.
      values: ``[K, N]`` their values, ascending.
    """

    order: Array
    values: Array


def mixture_entropies(
    z: Array,
    own: Array,
    mean: Array,
    logvar: Array,
    samples: Samples,
    points: Points,
    *,
    samples_per_chunk: int,
    points_per_chunk: int,
) -> Array:
    """``H(z_j | v_k) = sum_s w_s (-log (1/N_v sum_{n: v_nk = v_sk} q(z_sj | x_n)))``, ``[K, L]``.

    The Monte-Carlo entropy of the Gaussian mixture of the points sharing each sample's
    factor value, for every column ``k`` of ``K`` (a constant column gives ``H(z_j)``).
    Chunked for bounded memory: ``lax.map`` over chunks of ``samples_per_chunk`` samples of
    one column, each meeting the points whose value lies between its first and last
    sample's value ``points_per_chunk`` at a time (``lax.fori_loop``); the peak holds
    ``samples_per_chunk * points_per_chunk * L`` floats.

    Args:
      z: ``[S, L]`` samples.
      own: ``[S]`` the point each sample was drawn from (its term keeps sums from
        underflowing).
      mean: ``[N, L]`` posterior means of the points.
      logvar: ``[N, L]`` posterior log-variances.
      samples: the samples of each column (:class:`Samples`, ``K`` rows).
      points: the points of each column (:class:`Points`, ``K`` rows).
      samples_per_chunk: static samples scored at once.
      points_per_chunk: static points met at once.

    Returns:
      ``[K, L]`` weighted sums of ``-log q(z_sj | v_sk)`` over each column's samples.
    """
    log_scale = -0.5 * (jnp.log(2 * jnp.pi) + logvar)  # log q = log_scale - inv_2var d^2
    inv_2var = 0.5 * jnp.exp(-logvar)
    own_log_q = log_scale[own] - inv_2var[own] * (z - mean[own]) ** 2
    shift = jnp.maximum(own_log_q, log_scale.max(0) - _SHIFT_MARGIN)  # [S, L]
    # Where each sample's value begins and ends in its column's sorted points.
    low = jax.vmap(functools.partial(jnp.searchsorted, side="left"))(points.values, samples.values)
    high = jax.vmap(functools.partial(jnp.searchsorted, side="right"))(
        points.values, samples.values
    )
    pad = ((0, 0), (0, samples_per_chunk))
    rows = tuple(jnp.pad(a, pad) for a in (samples.ids, samples.weights, low, high))
    order = jnp.pad(points.order, ((0, 0), (0, points_per_chunk)))
    num_columns, width = samples.ids.shape
    num_chunks = -(-width // samples_per_chunk)
    column = jnp.repeat(jnp.arange(num_columns), num_chunks)
    chunk = jnp.tile(jnp.arange(num_chunks), num_columns)
    per_item = functools.partial(
        _chunk_entropy,
        params=(z, shift, mean, log_scale, inv_2var),
        rows=rows,
        count=samples.count,
        order=order,
        samples_per_chunk=samples_per_chunk,
        points_per_chunk=points_per_chunk,
    )
    sums = jax.lax.map(per_item, (column, chunk))  # [K * C, L]
    return sums.reshape(num_columns, num_chunks, -1).sum(1)


def _chunk_entropy(
    item, *, params, rows, count, order, samples_per_chunk, points_per_chunk
) -> Array:
    """``sum_s w_s (-log q(z_s | v_sk))`` ``[L]`` of one chunk of one column's samples."""
    z, shift, mean, log_scale, inv_2var = params
    column, chunk = item
    first = chunk * samples_per_chunk

    def row(a, start, size):
        return jax.lax.dynamic_slice(a, (column, start), (1, size))[0]

    ids, weights, low, high = (row(a, first, samples_per_chunk) for a in rows)
    real = first + jnp.arange(samples_per_chunk) < count[column]
    z_s, shift_s = z[ids], shift[ids]  # [c, L]
    # The chunk meets the points of the values from its first to its last sample's.
    start = low[0]
    stop = jnp.where(real, high, 0).max()
    trips = jnp.where(real[0], -(-(stop - start) // points_per_chunk), 0)

    def step(i, total):
        position = start + i * points_per_chunk + jnp.arange(points_per_chunk)
        same = (position >= low[:, None]) & (position < high[:, None])  # [c, n]: same value
        points = row(order, start + i * points_per_chunk, points_per_chunk)
        # [c, L, n]: the sum runs over the fastest axis, one exponential per term; the
        # other values' points enter as exp(-inf) (a select after exp is slower on CPU).
        log_q = (
            log_scale[points].T[None]
            - shift_s[:, :, None]
            + jnp.where(same, 0.0, -jnp.inf)[:, None, :]
            - inv_2var[points].T[None] * (z_s[:, :, None] - mean[points].T[None]) ** 2
        )
        return total + jnp.exp(log_q).sum(2)

    total = jax.lax.fori_loop(0, trips, step, jnp.zeros(z_s.shape))
    group_size = jnp.maximum(high - low, 1).astype(jnp.float32)
    log_q_z = jnp.log(total) + shift_s - jnp.log(group_size)[:, None]
    return jnp.where(real[:, None], -weights[:, None] * log_q_z, 0.0).sum(0)


@functools.partial(
    jax.jit, static_argnames=("num_samples", "samples_per_chunk", "points_per_chunk")
)
def _mig_sampled(
    key, mean, logvar, factors, *, num_samples: int, samples_per_chunk: int, points_per_chunk: int
) -> Array:
    n = mean.shape[0]
    pick_key, noise_key = jax.random.split(key)
    picks = jax.random.permutation(pick_key, n)[:num_samples]
    noise = jax.random.normal(noise_key, (num_samples, mean.shape[1]))
    z = mean[picks] + jnp.exp(0.5 * logvar[picks]) * noise  # [S, L]
    columns = with_marginal(factors)  # [N, F + 1]
    point_order = jnp.argsort(columns, axis=0, stable=True).T  # [F + 1, N]
    points = Points(point_order, jnp.take_along_axis(columns.T, point_order, axis=1))
    sample_columns = columns[picks].T  # [F + 1, S]
    sample_order = jnp.argsort(sample_columns, axis=1, stable=True)
    samples = Samples(
        ids=sample_order,
        values=jnp.take_along_axis(sample_columns, sample_order, axis=1),
        weights=jnp.full(sample_order.shape, 1.0 / num_samples),
        count=jnp.full((columns.shape[1],), num_samples),
    )
    entropy = mixture_entropies(
        z,
        picks,
        mean,
        logvar,
        samples,
        points,
        samples_per_chunk=samples_per_chunk,
        points_per_chunk=points_per_chunk,
    )  # [F + 1, L]: H(z_j), then H(z_j | v_k)
    mutual_info = entropy[0][:, None] - entropy[1:].T  # [L, F]
    return mig_from_mutual_info(jnp.maximum(mutual_info, 0.0), entropies(factors))
