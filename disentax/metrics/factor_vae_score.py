"""FactorVAE score (Kim & Mnih 2018), with disentanglement_lib's semantics and defaults.

1. Global scale: encode ``num_variance_estimate`` random observations; per code the
   variance (``ddof=1``); a code is active when its standard deviation is at least
   ``prune_threshold`` (the study's 0.05).
2. One vote (``factor_vae.py: _generate_training_sample``): draw a factor index ``k``
   uniformly and ``batch_size`` factor vectors sharing the value of factor ``k`` (that of
   the first vector); encode them; the vote is the active code with the smallest
   ``var_local / var_global`` (``ddof=1``) and goes to ``votes[k, code]``.
3. Majority-vote classifier: code ``j`` predicts ``argmax_k votes_train[k, j]``;
   ``train_accuracy = sum_j votes_train[argmax_k, j] / num_train``; the same classifier
   scores ``num_eval`` fresh votes (``eval_accuracy``). No active code: all scores 0.

Reference bug, fixed here: disentanglement_lib reports
``num_active_dims = len(active_dims)``, the length of the boolean mask, i.e. always the
number of codes ``L``. ``num_active_dims`` here is the number of active codes.

Deliberate differences: points come from JAX keys (the reference uses one NumPy
``RandomState``), so the numbers match the reference in distribution, not draw for
draw; a code with zero global variance is never active (with ``prune_threshold=0`` the
reference would divide by zero).

References:
  Kim & Mnih, "Disentangling by Factorising", ICML 2018.
  disentanglement_lib ``evaluation/metrics/factor_vae.py`` (``compute_factor_vae``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

from disentax.metrics.interventions import (
    as_jit_argument,
    check_interventional_args,
    chunking,
    map_chunks,
    split_representation_fn,
    unwrap_dataset,
)
from disentax.typing import Array, PRNGKey

__all__ = ["factor_vae_score", "factor_vae_votes"]


def _global_variance(key, dataset, represent, *, num_points, points_per_chunk):
    num_chunks, padded = chunking(num_points, points_per_chunk)

    def chunk_fn(keys):
        factors = jax.vmap(lambda k: dataset.sample_factors(k, 1)[0])(keys)
        return represent(dataset.observations(factors))

    codes = map_chunks(chunk_fn, jax.random.split(key, padded), num_chunks)[:num_points]
    return jnp.var(codes, axis=0, ddof=1)


def _votes(
    key, dataset, represent, global_var, active, *, batch_size, num_points, points_per_chunk
):
    """``[num_points]`` factor indices and ``[num_points]`` voted codes."""
    num_factors = len(dataset.factor_sizes)
    num_chunks, padded = chunking(num_points, points_per_chunk)
    safe_var = jnp.where(active, global_var, 1.0)

    def one_point(k):
        k_index, k_factors = jax.random.split(k)
        index = jax.random.randint(k_index, (), 0, num_factors)
        factors = dataset.sample_factors(k_factors, batch_size)
        return jnp.where(jnp.arange(num_factors) == index, factors[:1], factors), index

    def chunk_fn(keys):
        factors, index = jax.vmap(one_point)(keys)  # [C, B, F], [C]
        codes = represent(dataset.observations(factors.reshape(-1, num_factors)))
        codes = codes.reshape(keys.shape[0], batch_size, -1)
        ratio = jnp.var(codes, axis=1, ddof=1) / safe_var
        return index, jnp.argmin(jnp.where(active, ratio, jnp.inf), axis=-1)

    index, vote = map_chunks(chunk_fn, jax.random.split(key, padded), num_chunks)
    return index[:num_points], vote[:num_points]


def _vote_matrix(index, vote, num_factors, num_codes):
    flat = index * num_codes + vote
    counts = jnp.zeros(num_factors * num_codes, jnp.int32).at[flat].add(1)
    return counts.reshape(num_factors, num_codes)


@functools.partial(
    jax.jit,
    static_argnames=(
        "static_fn",
        "batch_size",
        "num_train",
        "num_eval",
        "num_variance_estimate",
        "points_per_chunk",
    ),
)
def _score(
    key,
    dataset,
    dyn_fn,
    prune_threshold,
    *,
    static_fn,
    batch_size,
    num_train,
    num_eval,
    num_variance_estimate,
    points_per_chunk,
):
    represent = static_fn if static_fn is not None else dyn_fn
    dataset = unwrap_dataset(dataset)
    k_var, k_train, k_eval = jax.random.split(key, 3)
    global_var = _global_variance(
        k_var,
        dataset,
        represent,
        num_points=num_variance_estimate,
        points_per_chunk=points_per_chunk * batch_size,
    )
    active = (jnp.sqrt(global_var) >= prune_threshold) & (global_var > 0)
    common = dict(batch_size=batch_size, points_per_chunk=points_per_chunk)
    num_factors, num_codes = len(dataset.factor_sizes), global_var.shape[0]
    train = _votes(k_train, dataset, represent, global_var, active, num_points=num_train, **common)
    evals = _votes(k_eval, dataset, represent, global_var, active, num_points=num_eval, **common)
    votes_train = _vote_matrix(*train, num_factors, num_codes)
    votes_eval = _vote_matrix(*evals, num_factors, num_codes)
    classifier = jnp.argmax(votes_train, axis=0)  # [L]: the factor each code predicts
    columns = jnp.arange(num_codes)
    train_acc = jnp.sum(votes_train[classifier, columns]) / num_train
    eval_acc = jnp.sum(votes_eval[classifier, columns]) / num_eval
    any_active = jnp.any(active)
    return {
        "train_accuracy": jnp.where(any_active, train_acc, 0.0),
        "eval_accuracy": jnp.where(any_active, eval_acc, 0.0),
        "num_active_dims": jnp.sum(active).astype(jnp.int32),
    }


def factor_vae_score(
    key: PRNGKey,
    dataset,
    representation_fn: Callable[[Array], Array],
    *,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
    prune_threshold: float = 0.05,
    points_per_chunk: int = 16,
) -> dict[str, Array]:
    """FactorVAE score: majority-vote accuracy of the least-varying code per fixed factor.

    Args:
      key: typed PRNG key (``jax.random.key``).
      dataset: any object implementing :class:`disentax.data.GroundTruthData` with a
        jittable ``observations`` (a library dataset or, e.g., a plain Python class).
      representation_fn: jittable ``images [M, H, W, C] -> codes [M, L]``.
      batch_size: points per vote (reference: 64).
      num_train: votes that build the classifier (reference: 10000).
      num_eval: fresh votes that score it (reference: 5000).
      num_variance_estimate: points of the global variance (reference: 10000).
      prune_threshold: minimum standard deviation of an active code (study: 0.05); may
        be a traced scalar.
      points_per_chunk: votes rendered and encoded at a time.

    Returns:
      dict with scalar ``train_accuracy``, ``eval_accuracy`` (0 when no code is active)
      and ``num_active_dims`` (the true count; see the module docstring).

    Raises:
      TypeError / ValueError: a bad key, dataset, function, size or threshold.

    Examples:
      >>> import jax
      >>> from disentax.data import Identity
      >>> from disentax.metrics.factor_vae_score import factor_vae_score
      >>> dataset = Identity((3, 4))  # observations are the scaled factors
      >>> flatten = lambda images: images.reshape(images.shape[0], -1)  # codes = observations
      >>> scores = factor_vae_score(
      ...     jax.random.key(0), dataset, flatten,
      ...     batch_size=16, num_train=50, num_eval=50, num_variance_estimate=200,
      ... )
      >>> round(float(scores["eval_accuracy"]), 2), int(scores["num_active_dims"])
      (1.0, 2)
    """
    check_interventional_args(
        key,
        dataset,
        batch_size=batch_size,
        num_train=num_train,
        num_eval=num_eval,
        num_variance_estimate=num_variance_estimate,
        points_per_chunk=points_per_chunk,
    )
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 (a variance needs two points), got {batch_size}")
    if num_variance_estimate < 2:
        raise ValueError(f"num_variance_estimate must be >= 2, got {num_variance_estimate}")
    if not isinstance(prune_threshold, jax.core.Tracer) and not prune_threshold >= 0:
        raise ValueError(f"prune_threshold must be >= 0, got {prune_threshold!r}")
    dyn_fn, static_fn = split_representation_fn(representation_fn)
    return _score(
        key,
        as_jit_argument(dataset),
        dyn_fn,
        jnp.asarray(prune_threshold, jnp.float32),
        static_fn=static_fn,
        batch_size=int(batch_size),
        num_train=int(num_train),
        num_eval=int(num_eval),
        num_variance_estimate=int(num_variance_estimate),
        points_per_chunk=int(points_per_chunk),
    )


def factor_vae_votes(votes_train: Array, votes_eval: Array) -> tuple[Array, Array]:
    """Majority-vote accuracies from vote matrices ``[F, L]`` (train and eval).

    The classifier maps code ``j`` to ``argmax_k votes_train[k, j]`` (first maximum, as
    ``np.argmax``). Exposed for tests and for votes computed elsewhere.
    """
    votes_train = jnp.asarray(votes_train)
    votes_eval = jnp.asarray(votes_eval)
    classifier = jnp.argmax(votes_train, axis=0)
    columns = jnp.arange(votes_train.shape[1])
    train = jnp.sum(votes_train[classifier, columns]) / jnp.sum(votes_train)
    evals = jnp.sum(votes_eval[classifier, columns]) / jnp.sum(votes_eval)
    return train, evals
