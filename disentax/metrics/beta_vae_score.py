"""BetaVAE score (Higgins et al. 2017), with disentanglement_lib's semantics and defaults.

One training point (``beta_vae.py: _generate_training_sample``): draw a factor index
``k`` uniformly, two batches of ``batch_size`` factor vectors ``f1``, ``f2`` with
``f2[:, k] = f1[:, k]``, render and encode both, and take the feature
``mean_batch |rep(x1) - rep(x2)|`` (an ``L``-vector) with label ``k``. A multinomial
logistic regression (scikit-learn's ``LogisticRegression()`` defaults: ``C = 1``,
lbfgs, 100 iterations, no feature scaling) is fit on ``num_train`` points; its accuracy
on them is ``train_accuracy`` and on ``num_eval`` fresh points ``eval_accuracy``.

Everything (sampling, rendering, encoding, the classifier fit) runs in one jitted
program when the dataset's ``observations`` are jittable (procedural and
device-resident datasets).

Deliberate differences: the classifier is :func:`disentax.metrics.estimators.
fit_logistic_regression` (L-BFGS with the same objective and budget, in float32);
points are drawn from JAX keys instead of a NumPy ``RandomState``, so the numbers match
the reference in distribution, not draw for draw.

References:
  Higgins et al., "beta-VAE: Learning Basic Visual Concepts with a Constrained
  Variational Framework", ICLR 2017.
  disentanglement_lib ``evaluation/metrics/beta_vae.py`` (``compute_beta_vae_sklearn``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

from disentax.metrics.estimators.logistic import fit_logistic_regression, predict_logistic_logits
from disentax.metrics.interventions import (
    as_jit_argument,
    check_interventional_args,
    chunking,
    map_chunks,
    split_representation_fn,
    unwrap_dataset,
)
from disentax.typing import Array, PRNGKey

__all__ = ["beta_vae_features", "beta_vae_score"]


def _features(key, dataset, dyn_fn, *, static_fn, batch_size, num_points, points_per_chunk):
    represent = static_fn if static_fn is not None else dyn_fn
    num_factors = len(dataset.factor_sizes)
    num_chunks, padded = chunking(num_points, points_per_chunk)

    def one_pair(k):
        k_index, k1, k2 = jax.random.split(k, 3)
        index = jax.random.randint(k_index, (), 0, num_factors)
        f1 = dataset.sample_factors(k1, batch_size)
        f2 = dataset.sample_factors(k2, batch_size)
        f2 = jnp.where(jnp.arange(num_factors) == index, f1, f2)
        return f1, f2, index

    def chunk_fn(keys):
        f1, f2, index = jax.vmap(one_pair)(keys)  # [C, B, F], [C, B, F], [C]
        factors = jnp.concatenate([f1, f2]).reshape(-1, num_factors)
        codes = represent(dataset.observations(factors))
        codes = codes.reshape(2, keys.shape[0], batch_size, -1)
        return jnp.mean(jnp.abs(codes[0] - codes[1]), axis=1), index

    features, labels = map_chunks(chunk_fn, jax.random.split(key, padded), num_chunks)
    return features[:num_points], labels[:num_points]


@functools.partial(
    jax.jit, static_argnames=("static_fn", "batch_size", "num_points", "points_per_chunk")
)
def _features_jit(key, dataset, dyn_fn, **kwargs):
    return _features(key, unwrap_dataset(dataset), dyn_fn, **kwargs)


def beta_vae_features(
    key: PRNGKey,
    dataset,
    representation_fn: Callable[[Array], Array],
    *,
    batch_size: int = 64,
    num_points: int = 10000,
    points_per_chunk: int = 16,
) -> tuple[Array, Array]:
    """The classifier's inputs: ``features [num_points, L]`` and labels ``[num_points]``.

    Args:
      key: typed PRNG key.
      dataset: any object implementing :class:`disentax.data.GroundTruthData` with a
        jittable ``observations``.
      representation_fn: ``images [M, H, W, C] -> codes [M, L]``, jittable.
      batch_size: pairs averaged into one feature (the reference's 64).
      num_points: number of features.
      points_per_chunk: points rendered and encoded together (memory:
        ``2 * points_per_chunk * batch_size`` images at a time).
    """
    check_interventional_args(
        key,
        dataset,
        batch_size=batch_size,
        num_points=num_points,
        points_per_chunk=points_per_chunk,
    )
    dyn_fn, static_fn = split_representation_fn(representation_fn)
    return _features_jit(
        key,
        as_jit_argument(dataset),
        dyn_fn,
        static_fn=static_fn,
        batch_size=int(batch_size),
        num_points=int(num_points),
        points_per_chunk=int(points_per_chunk),
    )


@functools.partial(
    jax.jit,
    static_argnames=(
        "static_fn",
        "batch_size",
        "num_train",
        "num_eval",
        "points_per_chunk",
        "num_steps",
    ),
)
def _score(
    key, dataset, dyn_fn, *, static_fn, batch_size, num_train, num_eval, points_per_chunk, num_steps
):
    dataset = unwrap_dataset(dataset)
    k_train, k_eval = jax.random.split(key)
    common = dict(static_fn=static_fn, batch_size=batch_size, points_per_chunk=points_per_chunk)
    x_train, y_train = _features(k_train, dataset, dyn_fn, num_points=num_train, **common)
    x_eval, y_eval = _features(k_eval, dataset, dyn_fn, num_points=num_eval, **common)
    num_factors = len(dataset.factor_sizes)
    params = fit_logistic_regression(
        x_train, y_train, num_classes=num_factors, l2=1.0, num_steps=num_steps
    )
    train_pred = jnp.argmax(predict_logistic_logits(params, x_train), axis=-1)
    eval_pred = jnp.argmax(predict_logistic_logits(params, x_eval), axis=-1)
    return {
        "train_accuracy": jnp.mean(train_pred == y_train),
        "eval_accuracy": jnp.mean(eval_pred == y_eval),
    }


def beta_vae_score(
    key: PRNGKey,
    dataset,
    representation_fn: Callable[[Array], Array],
    *,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    points_per_chunk: int = 16,
    num_steps: int = 100,
) -> dict[str, Array]:
    """BetaVAE score: accuracy of predicting the fixed factor from code differences.

    Args:
      key: typed PRNG key (``jax.random.key``).
      dataset: any object implementing :class:`disentax.data.GroundTruthData` with a
        jittable ``observations`` (a library dataset or, e.g., a plain Python class).
      representation_fn: jittable ``images [M, H, W, C] -> codes [M, L]``.
      batch_size: pairs per point (reference: 64).
      num_train: training points (reference: 10000).
      num_eval: evaluation points (reference: 5000).
      points_per_chunk: points rendered and encoded at a time.
      num_steps: L-BFGS iterations of the logistic regression (scikit-learn's 100).

    Returns:
      dict with scalar ``train_accuracy`` and ``eval_accuracy`` in [0, 1].

    Raises:
      TypeError / ValueError: a bad key, dataset, function or size (before any compile).

    Examples:
      >>> import jax
      >>> from disentax.data import Identity
      >>> from disentax.metrics.beta_vae_score import beta_vae_score
      >>> dataset = Identity((3, 4))  # observations are the scaled factors
      >>> flatten = lambda images: images.reshape(images.shape[0], -1)  # codes = observations
      >>> scores = beta_vae_score(
      ...     jax.random.key(0), dataset, flatten, batch_size=16, num_train=50, num_eval=50
      ... )
      >>> round(float(scores["eval_accuracy"]), 2)
      1.0
    """
    check_interventional_args(
        key,
        dataset,
        batch_size=batch_size,
        num_train=num_train,
        num_eval=num_eval,
        points_per_chunk=points_per_chunk,
        num_steps=num_steps,
    )
    dyn_fn, static_fn = split_representation_fn(representation_fn)
    return _score(
        key,
        as_jit_argument(dataset),
        dyn_fn,
        static_fn=static_fn,
        batch_size=int(batch_size),
        num_train=int(num_train),
        num_eval=int(num_eval),
        points_per_chunk=int(points_per_chunk),
        num_steps=int(num_steps),
    )
