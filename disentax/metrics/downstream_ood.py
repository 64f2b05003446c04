"""Downstream tasks under shift: the strong (out-of-distribution) and reduced tasks.

Both follow disentanglement_lib (``evaluation/metrics/strong_downstream_task.py`` and
``reduced_downstream_task.py``) with gradient-boosted trees as the predictor (the
predictor its test configs bind, ``@gradient_boosting_classifier``;
:func:`disentax.metrics.estimators.gradient_boosted_trees`).

**Strong downstream task** (:func:`strong_downstream_task`), for each training size ``n``:
``n`` training and ``num_test`` test points are drawn and one predictor per factor is fit
(``{n}:mean_train_accuracy``, ``{n}:mean_test_accuracy``). Then, for each target factor
``i`` and each of ``num_experiments`` repetitions, an *intervention*: another factor ``k``
is chosen uniformly, one value ``v`` of it uniformly, every training point gets ``k = v``
and every test point a value of ``k`` other than ``v`` (uniform per point); the points are
rendered and encoded again and a predictor of ``i`` is fit on the intervened training set
and scored on the intervened test set. Keys: ``{n}:mean_strong_train_accuracy``,
``{n}:mean_strong_test_accuracy`` (means over targets and repetitions) and
``{n}:strong_generalization_gap = 1 − strong_test / test``.

**Reduced downstream task** (:func:`reduced_downstream_task`): for each factor of interest
``j``, the latent with the largest GBT importance for ``j`` is removed, ``num_to_remove``
times (the importances recomputed on what is left each time, as the reference's
``factorwise_dci``); one predictor per factor is then fit on the reduced codes. Keys:
``{n}:train_accuracy_{i}_factor_of_interest_{j}`` and ``{n}:test_accuracy_{i}_...``
(accuracy on factor ``i`` with factor ``j``'s latents removed; ``n`` = training points).
disentax adds ``{n}:mean_removed_test_accuracy`` (mean over ``j`` of factor ``j``'s own
accuracy: how much of it leaks into the other latents) and ``{n}:mean_kept_test_accuracy``
(mean over ``i != j``).

Deliberate differences: a removed latent is replaced by a constant (the trees cannot split
on it) instead of deleted, so shapes stay static; an intervention only picks factors with
at least two values (the reference would fail on a one-valued factor); the trees split on
quantile bins (see the estimator); points come from JAX keys, so scores match the
reference in distribution, not draw for draw.

References:
  Locatello et al., Challenging Common Assumptions..., ICML 2019 (downstream tasks);
  Träuble et al., On Disentangled Representations Learned from Correlated Data, ICML 2021.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from disentax.metrics.checks import check_positive_int, check_train_test, class_counts
from disentax.metrics.encoding import encode_factors
from disentax.metrics.estimators.gbt import gradient_boosted_trees
from disentax.metrics.interventions import (
    as_jit_argument,
    check_interventional_args,
    split_representation_fn,
    unwrap_dataset,
)
from disentax.typing import Array, ArrayLike, PRNGKey

__all__ = ["intervene", "reduced_downstream_task", "strong_downstream_task"]


def intervene(key: PRNGKey, factors_train: Array, factors_test: Array, target, sizes):
    """One intervention for target factor ``target``: ``(train, test, factor, value)``.

    Another factor ``k`` (with at least two values) is drawn uniformly; the training
    points all get one value ``v`` of ``k``, the test points a value other than ``v``.
    Jittable (``target`` may be traced); ``sizes`` is static.
    """
    sizes = tuple(int(s) for s in sizes)
    num = len(sizes)
    candidates = [[k for k in range(num) if k != i and sizes[k] >= 2] for i in range(num)]
    table = np.array([c + [0] * (num - len(c)) for c in candidates], np.int32)
    counts = np.array([len(c) for c in candidates], np.int32)
    k_factor, k_value, k_test = jax.random.split(key, 3)
    index = jax.random.randint(k_factor, (), 0, jnp.asarray(counts)[target])
    factor = jnp.asarray(table)[target, index]
    size = jnp.asarray(sizes, jnp.int32)[factor]
    value = jax.random.randint(k_value, (), 0, size)
    shift = jax.random.randint(k_test, (factors_test.shape[0],), 0, size - 1)
    others = (value + 1 + shift) % size
    column = jnp.arange(num) == factor
    train = jnp.where(column, value, factors_train)
    test = jnp.where(column, others[:, None], factors_test)
    return train, test, factor, value


def _accuracy(predictions, labels):
    return jnp.mean(predictions == labels, axis=0)


def _strong_one_size(key, dataset, represent, n, *, num_test, num_experiments, chunk, gbt):
    sizes = tuple(int(k) for k in dataset.factor_sizes)
    num_factors = len(sizes)
    encode = functools.partial(encode_factors, dataset, represent, points_per_chunk=chunk)
    k_train, k_test, k_int = jax.random.split(key, 3)
    f_train = dataset.sample_factors(k_train, n)
    f_test = dataset.sample_factors(k_test, num_test)
    # Tasks: each factor without intervention, then each factor num_experiments times
    # with one. One tree program fits them all (one call site: one compilation; the
    # class count of the largest factor for every target, absent classes never predicted).
    targets = np.concatenate(
        [np.arange(num_factors), np.repeat(np.arange(num_factors), num_experiments)]
    )
    shifted = np.arange(targets.size) >= num_factors

    def task(args):
        target, k, shift = args
        train, test, _, _ = intervene(k, f_train, f_test, target, sizes)
        train, test = jnp.where(shift, train, f_train), jnp.where(shift, test, f_test)
        y_train = jnp.take(train, target, axis=1)[:, None]
        y_test = jnp.take(test, target, axis=1)
        out = gradient_boosted_trees(
            encode(train), y_train, encode(test), num_classes=(max(sizes),), **gbt
        )
        return (
            jnp.mean(out.train_predictions[:, 0] == y_train[:, 0]),
            jnp.mean(out.eval_predictions[:, 0] == y_test),
        )

    keys = jax.random.split(k_int, targets.size)
    acc_train, acc_test = jax.lax.map(
        task, (jnp.asarray(targets, jnp.int32), keys, jnp.asarray(shifted))
    )
    test_mean = jnp.mean(acc_test[:num_factors])
    strong_test = jnp.mean(acc_test[num_factors:])
    return {
        f"{n}:mean_train_accuracy": jnp.mean(acc_train[:num_factors]),
        f"{n}:mean_test_accuracy": test_mean,
        f"{n}:mean_strong_train_accuracy": jnp.mean(acc_train[num_factors:]),
        f"{n}:mean_strong_test_accuracy": strong_test,
        f"{n}:strong_generalization_gap": 1.0 - strong_test / test_mean,
    }


@functools.partial(
    jax.jit,
    static_argnames=("static_fn", "num_train", "num_test", "num_experiments", "chunk", "gbt"),
)
def _strong(key, dataset, dyn_fn, *, static_fn, num_train, num_test, num_experiments, chunk, gbt):
    dataset = unwrap_dataset(dataset)
    represent = static_fn if static_fn is not None else dyn_fn
    scores = {}
    for n in num_train:
        scores.update(
            _strong_one_size(
                jax.random.fold_in(key, n),
                dataset,
                represent,
                n,
                num_test=num_test,
                num_experiments=num_experiments,
                chunk=chunk,
                gbt=dict(gbt),
            )
        )
    return scores


def _gbt_options(num_stages, max_depth, num_bins) -> tuple:
    return (("num_stages", num_stages), ("max_depth", max_depth), ("num_bins", num_bins))


def strong_downstream_task(
    key: PRNGKey,
    dataset,
    representation_fn: Callable[[Array], Array],
    *,
    num_train: int | tuple[int, ...] = (10000,),
    num_test: int = 5000,
    num_experiments: int = 10,
    points_per_chunk: int = 500,
    num_stages: int = 100,
    max_depth: int = 3,
    num_bins: int = 32,
) -> dict[str, Array]:
    """Accuracy of factor predictors under an intervention that shifts another factor.

    Args:
      key: typed PRNG key.
      dataset: a :class:`disentax.data.GroundTruthData` with a jittable ``observations``
        and at least 2 factors, one of which (besides each target) has 2 or more values.
      representation_fn: jittable ``images [M, H, W, C] -> codes [M, L]``.
      num_train: training sizes ``n`` (an int or a tuple; the reference's list).
      num_test: test points.
      num_experiments: interventions per target factor (the reference's default 10).
      points_per_chunk: images rendered and encoded at a time.
      num_stages: boosting stages (scikit-learn's default 100).
      max_depth: tree depth (default 3).
      num_bins: the trees' histogram bins per code.

    Returns:
      dict of scalars keyed as the reference (see the module docstring).

    Examples:
      >>> import jax
      >>> from disentax.data import Identity
      >>> from disentax.metrics.downstream_ood import strong_downstream_task
      >>> flat = lambda images: images.reshape(images.shape[0], -1)  # the identity codes
      >>> scores = strong_downstream_task(jax.random.key(0), Identity((3, 4)), flat,
      ...     num_train=100, num_test=50, num_experiments=2, num_stages=5)
      >>> round(float(scores["100:mean_strong_test_accuracy"]), 2)
      1.0
    """
    sizes = (num_train,) if isinstance(num_train, int | np.integer) else tuple(num_train)
    check_interventional_args(
        key,
        dataset,
        num_test=num_test,
        num_experiments=num_experiments,
        points_per_chunk=points_per_chunk,
        **{f"num_train[{i}]": n for i, n in enumerate(sizes)},
    )
    if not sizes or min(sizes) < 2:
        raise ValueError(f"num_train must hold sizes >= 2, got {num_train!r}")
    factor_sizes = tuple(int(k) for k in dataset.factor_sizes)
    for i in range(len(factor_sizes)):
        if not any(k != i and factor_sizes[k] >= 2 for k in range(len(factor_sizes))):
            raise ValueError(
                f"dataset factor sizes {factor_sizes}: factor {i} has no other factor with "
                "2 or more values to intervene on"
            )
    dyn_fn, static_fn = split_representation_fn(representation_fn)
    return _strong(
        key,
        as_jit_argument(dataset),
        dyn_fn,
        static_fn=static_fn,
        num_train=tuple(int(n) for n in sizes),
        num_test=int(num_test),
        num_experiments=int(num_experiments),
        chunk=int(points_per_chunk),
        gbt=_gbt_options(num_stages, max_depth, num_bins),
    )


@functools.partial(jax.jit, static_argnames=("num_classes", "num_to_remove", "gbt"))
def _reduced(
    codes_train, factors_train, codes_test, factors_test, *, num_classes, num_to_remove, gbt
):
    num_codes = codes_train.shape[1]

    def per_factor(j):
        # num_to_remove removals, then the accuracies: every round is the same fit (one
        # call site, one compilation), the last one's predictions are the scores.
        def round_(removed, _):
            out = gradient_boosted_trees(
                jnp.where(removed, 0.0, codes_train),
                factors_train,
                jnp.where(removed, 0.0, codes_test),
                num_classes=num_classes,
                **dict(gbt),
            )
            top = jnp.argmax(jnp.where(removed, -jnp.inf, out.importance[:, j]))
            accuracies = (
                _accuracy(out.train_predictions, factors_train),
                _accuracy(out.eval_predictions, factors_test),
            )
            return removed | (jnp.arange(num_codes) == top), accuracies

        _, (acc_train, acc_test) = jax.lax.scan(
            round_, jnp.zeros((num_codes,), bool), None, length=num_to_remove + 1
        )
        return acc_train[-1], acc_test[-1]

    return jax.lax.map(per_factor, jnp.arange(len(num_classes)))  # ([F_interest, F], ...)


def reduced_downstream_task(
    codes_train: ArrayLike,
    factors_train: ArrayLike,
    codes_test: ArrayLike,
    factors_test: ArrayLike,
    *,
    num_to_remove: int = 1,
    num_classes: tuple[int, ...] | None = None,
    num_stages: int = 100,
    max_depth: int = 3,
    num_bins: int = 32,
) -> dict[str, Array]:
    """Accuracy of factor predictors after the most important latents of a factor are removed.

    Args:
      codes_train: ``[N, L]`` training codes.
      factors_train: ``[N, F]`` int training factors.
      codes_test: ``[M, L]`` test codes.
      factors_test: ``[M, F]`` int test factors.
      num_to_remove: latents removed per factor of interest (the reference's
        ``num_factors_to_remove``; its test config uses 1); fewer than ``L``.
      num_classes: static number of values per factor (default: ``max + 1`` of concrete
        factors).
      num_stages: boosting stages (scikit-learn's default 100).
      max_depth: tree depth (default 3).
      num_bins: the trees' histogram bins per code.

    Returns:
      dict of scalars keyed as the reference, plus ``{N}:mean_removed_test_accuracy`` and
      ``{N}:mean_kept_test_accuracy`` (see the module docstring).

    Examples:
      With identity codes, removing factor 0's code leaves it unpredictable while factor
      1 is still predicted perfectly:

      >>> import jax, jax.numpy as jnp
      >>> from disentax.metrics.downstream_ood import reduced_downstream_task
      >>> factors = jax.random.randint(jax.random.key(0), (400, 2), 0, 4)
      >>> codes = factors.astype(jnp.float32)
      >>> s = reduced_downstream_task(codes[:300], factors[:300], codes[300:], factors[300:],
      ...                             num_stages=5)
      >>> float(s["300:test_accuracy_1_factor_of_interest_0"])
      1.0
      >>> float(s["300:mean_kept_test_accuracy"])
      1.0
    """
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test
    )
    check_positive_int(num_to_remove, "num_to_remove")
    num_codes = codes_train.shape[1]
    if num_to_remove >= num_codes:
        raise ValueError(
            f"num_to_remove must be < L = {num_codes} (codes must remain), got {num_to_remove}"
        )
    num_classes = class_counts(num_classes, factors_train, factors_test)
    acc_train, acc_test = _reduced(
        codes_train,
        jnp.asarray(factors_train, jnp.int32),
        codes_test,
        jnp.asarray(factors_test, jnp.int32),
        num_classes=num_classes,
        num_to_remove=int(num_to_remove),
        gbt=_gbt_options(num_stages, max_depth, num_bins),
    )
    n, num_factors = codes_train.shape[0], len(num_classes)
    scores = {}
    for j in range(num_factors):
        for i in range(num_factors):
            scores[f"{n}:train_accuracy_{i}_factor_of_interest_{j}"] = acc_train[j, i]
            scores[f"{n}:test_accuracy_{i}_factor_of_interest_{j}"] = acc_test[j, i]
    own = np.eye(num_factors, dtype=bool)
    scores[f"{n}:mean_removed_test_accuracy"] = jnp.mean(jnp.diagonal(acc_test))
    scores[f"{n}:mean_kept_test_accuracy"] = jnp.sum(jnp.where(own, 0.0, acc_test)) / max(
        num_factors * (num_factors - 1), 1
    )
    return scores
