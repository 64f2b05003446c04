"""Modularity and explicitness (Ridgeway & Zemel 2018), as in disentanglement_lib.

* ``modularity``: with ``m [L, F]`` the mutual information between histogram-binned codes
  and the factors, per code ``delta_i = (sum_k m_ik^2 - max_k m_ik^2) / (max_k m_ik^2 (F - 1))``
  and ``score_i = 1 - delta_i`` (0 for a code with no information, e.g. a constant code);
  the result is the unweighted mean over codes (noise codes count, scoring ~0.5-0.7).
  A factor that takes a single value carries no information and is left out of ``F``
  (the reference counts it; the two agree otherwise). With one informative factor every
  informative code scores 1.
* ``explicitness``: codes standardised with the train mean and standard deviation
  (``ddof=0``; a constant code is left at 0 rather than divided by zero), one multinomial
  logistic regression per factor on all codes (scikit-learn defaults ``C=1``, lbfgs,
  ``max_iter=100``, ``tol=1e-4``; all factors' probes are fitted side by side by
  ``estimators.fit_logistic_regression_heads``, each with its own L-BFGS memory, line search
  and stopping test), then the one-vs-rest ROC AUC of each class's predicted probability
  (exact, from ranks with ties counted one half), macro-averaged over classes, averaged
  over factors, on the train and on the test split. Classes are those seen in training
  that also occur (and are not the only class) in the evaluated split; the reference
  requires the two sets to coincide and fails otherwise. A factor with no such class
  (e.g. a single value) is left out of the average.

References:
  Ridgeway & Zemel, "Learning Deep Disentangled Embeddings With the F-Statistic Loss",
  NeurIPS 2018.
  Locatello et al., ICML 2019 (disentanglement_lib ``modularity_explicitness.py``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from disentax.metrics.checks import (
    CLASS_INDEX_HINT,
    check_codes,
    check_factors,
    check_memory,
    check_same_num_points,
    check_train_test,
    class_counts,
    single_valued_factors,
)
from disentax.metrics.estimators.logistic import (
    logistic_heads_lbfgs,
    predict_logistic_heads_proba,
)
from disentax.metrics.estimators.ranks import roc_auc_probabilities
from disentax.metrics.information import (
    binned_mutual_info,
    check_histogram_bins,
    entropies,
    equal_width_bins,
)
from disentax.typing import Array, ArrayLike

__all__ = ["explicitness", "modularity", "modularity_from_mutual_info"]


def modularity_from_mutual_info(mutual_info: Array, informative: Array) -> Array:
    """Modularity from ``mutual_info [L, F]`` and the ``[F]`` mask of factors to count."""
    squared = jnp.where(informative[None, :], mutual_info**2, 0.0)
    largest = squared.max(axis=1)
    num_factors = jnp.sum(informative)
    spread = (squared.sum(axis=1) - largest) / jnp.where(
        largest > 0, largest * jnp.maximum(num_factors - 1, 1), 1.0
    )
    return jnp.mean(jnp.where(largest > 0, 1.0 - spread, 0.0))


def modularity(codes: ArrayLike, factors: ArrayLike, *, num_bins: int = 20) -> Array:
    """Modularity score of Ridgeway & Zemel with histogram mutual information.

    Args:
      codes: ``[N, L]`` codes.
      factors: ``[N, F]`` int factor values.
      num_bins: static number of equal-width bins per code.

    Returns:
      scalar in ``[0, 1]``; one code informative about two equally-informative factors
      of ``F = 10`` gets ``1 - 1/9``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.metrics.modularity import modularity
      >>> factors = jnp.stack([jnp.arange(600) % 3, jnp.arange(600) % 4], axis=1)
      >>> codes = factors.astype(jnp.float32)  # each code depends on one factor
      >>> round(float(modularity(codes, factors)), 2)
      1.0
    """
    codes = check_codes(codes)
    factors = check_factors(factors)
    check_same_num_points(("codes", codes), ("factors", factors))
    check_histogram_bins(num_bins, codes.shape[0])
    single_valued_factors(factors, metric="modularity")
    return _modularity(codes, factors, num_bins=int(num_bins))


@functools.partial(jax.jit, static_argnames=("num_bins",))
def _modularity(codes: Array, factors: Array, *, num_bins: int) -> Array:
    bins = equal_width_bins(codes, num_bins=num_bins)
    mutual_info = binned_mutual_info(bins, factors, num_bins=num_bins)
    return modularity_from_mutual_info(mutual_info, entropies(factors) > 0)


def explicitness(
    codes_train: ArrayLike,
    factors_train: ArrayLike,
    codes_test: ArrayLike,
    factors_test: ArrayLike,
    *,
    num_classes: int | tuple[int, ...] | None = None,
    num_steps: int = 100,
) -> dict[str, Array]:
    """Explicitness: macro one-vs-rest ROC AUC of per-factor logistic regressions.

    Args:
      codes_train: ``[N, L]`` training codes.
      factors_train: ``[N, F]`` int training factors.
      codes_test: ``[M, L]`` test codes.
      factors_test: ``[M, F]`` int test factors.
      num_classes: static number of classes, one int for all factors or one per factor
        (each above the factor's values); read from concrete factors when omitted,
        required when the factors are traced (``jax.jit`` over them).
      num_steps: static L-BFGS iteration budget (all probes are fitted in one run of
        ``estimators.fit_logistic_regression_heads``; each stops at scikit-learn's
        tolerance).

    Returns:
      ``{"train": scalar, "test": scalar}`` mean AUROCs in ``[0, 1]`` (1 = perfectly
      explicit, ~0.5 = uninformative codes).

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.metrics import explicitness
      >>> factors = jnp.stack([jnp.arange(600) % 3, jnp.arange(600) % 4], axis=1)
      >>> codes = factors.astype(jnp.float32)  # the identity representation
      >>> scores = explicitness(codes, factors, codes, factors)
      >>> round(float(scores["train"]), 2), round(float(scores["test"]), 2)
      (1.0, 1.0)
    """
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test
    )
    single_valued_factors(factors_train, metric="explicitness", name="factors_train")
    counts = class_counts(num_classes, factors_train, factors_test)
    num_points = codes_train.shape[0] + codes_test.shape[0]
    check_memory(
        24 * sum(counts) * num_points,
        what="explicitness",
        cause=(
            f"class counts {counts} (num_classes, or read from factors_train and "
            f"factors_test) make {sum(counts)} probability columns over {num_points} points; "
            f"{CLASS_INDEX_HINT}"
        ),
    )
    return _explicitness(
        codes_train,
        factors_train,
        codes_test,
        factors_test,
        class_counts=counts,
        num_steps=int(num_steps),
    )


def _explicitness_scores(x, labels, params, class_counts):
    """Mean over factors of the macro one-vs-rest AUROC of the heads' probabilities."""
    num_points = labels.shape[0]
    local = np.concatenate([np.arange(k) for k in class_counts]).astype(np.int32)
    proba = predict_logistic_heads_proba(params, x)  # [N, C]
    positive = labels[:, params.head] == local[None, :]  # [N, C]
    count = positive.sum(0)
    usable = params.class_present & (count > 0) & (count < num_points)
    # One AUC per column; sorting rows of [C, N] (contiguous) is faster than columns.
    aucs = jax.vmap(roc_auc_probabilities)(positive.T, proba.T)
    num_heads = len(class_counts)
    per_head = jax.ops.segment_sum(jnp.where(usable, aucs, 0.0), params.head, num_heads)
    num_usable = jax.ops.segment_sum(usable.astype(jnp.float32), params.head, num_heads)
    valid = num_usable >= 1
    macro = per_head / jnp.maximum(num_usable, 1.0)
    return jnp.sum(jnp.where(valid, macro, 0.0)) / jnp.sum(valid)


@functools.partial(jax.jit, static_argnames=("class_counts", "num_steps"))
def _explicitness(codes_train, factors_train, codes_test, factors_test, *, class_counts, num_steps):
    mean = codes_train.mean(0)
    std = codes_train.std(0)
    std = jnp.where(std > 0, std, 1.0)
    x_train = (codes_train - mean) / std
    x_test = (codes_test - mean) / std
    params = logistic_heads_lbfgs(
        x_train,
        factors_train,
        jnp.float32(1.0),
        class_counts=class_counts,
        num_steps=num_steps,
        tol=1e-4,
    )
    return {
        "train": _explicitness_scores(x_train, factors_train, params, class_counts),
        "test": _explicitness_scores(x_test, factors_test, params, class_counts),
    }
