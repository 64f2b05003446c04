"""Downstream task: accuracy of simple predictors of each factor from few training points.

disentanglement_lib ``evaluation/metrics/downstream_task.py`` (in the Locatello et al.
study): for every training size ``n`` in ``num_train = (10, 100, 1000, 10000)``, fit one
predictor per factor on ``n`` points and report its train and test accuracy (5000 test
points): ``"{n}:mean_train_accuracy"``, ``"{n}:mean_test_accuracy"``,
``"{n}:min_train_accuracy"``, ``"{n}:min_test_accuracy"`` and per factor
``"{n}:train_accuracy_factor_{j}"``, ``"{n}:test_accuracy_factor_{j}"`` (the reference's
keys).

Predictors:

* ``"logistic"``: multinomial logistic regression with a fixed L2 strength
  (:func:`disentax.metrics.estimators.fit_logistic_regression`, ``l2 = 1/C``). The
  reference
  uses ``LogisticRegressionCV(Cs=10, cv=5)``, which picks ``C`` by cross-validation; a
  fixed ``C`` (default 1, scikit-learn's default) is the deliberate difference here.
* ``"gbt"``: :func:`disentax.metrics.estimators.gradient_boosted_trees` (scikit-learn's
  ``GradientBoostingClassifier()`` semantics); at ``n = 10000`` it is DCI's predictor, so
  ``"10000:mean_test_accuracy"`` equals DCI's ``informativeness_test`` on the same data.

Deliberate difference: the reference draws a fresh train and test set for every size;
here the ``n`` training points are the first ``n`` rows of ``codes_train`` (nested
subsets of one draw) and all sizes share one test set.

References:
  Locatello et al., ICML 2019, Sec. 6 (downstream performance).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from disentax.metrics.checks import (
    CLASS_INDEX_HINT,
    check_memory,
    check_train_test,
    is_concrete,
)
from disentax.metrics.estimators.gbt import gradient_boosted_trees
from disentax.metrics.estimators.logistic import fit_logistic_regression, predict_logistic_logits
from disentax.typing import Array, ArrayLike

__all__ = ["downstream_task"]

_PREDICTORS = ("logistic", "gbt")


def _logistic_accuracies(x_train, y_train, x_test, y_test, *, num_classes, l2, num_steps):
    """Per-factor train/test accuracies ``[F]`` of one logistic probe per factor."""

    def one_factor(y_tr, y_te):
        params = fit_logistic_regression(
            x_train, y_tr, num_classes=num_classes, l2=l2, num_steps=num_steps
        )
        acc_tr = jnp.mean(jnp.argmax(predict_logistic_logits(params, x_train), -1) == y_tr)
        acc_te = jnp.mean(jnp.argmax(predict_logistic_logits(params, x_test), -1) == y_te)
        return acc_tr, acc_te

    return jax.vmap(one_factor, in_axes=(1, 1))(y_train, y_test)


def downstream_task(
    codes_train: ArrayLike,
    factors_train: ArrayLike,
    codes_test: ArrayLike,
    factors_test: ArrayLike,
    *,
    num_train: tuple[int, ...] = (10, 100, 1000, 10000),
    predictor: str = "logistic",
    num_classes: tuple[int, ...] | None = None,
    l2: float = 1.0,
    num_steps: int = 100,
) -> dict[str, Array]:
    """Train/test accuracy of per-factor predictors fit on ``n`` points, for each ``n``.

    Args:
      codes_train: ``[N, L]`` codes, ``N >= max(num_train)``.
      factors_train: ``[N, F]`` int factors.
      codes_test: ``[M, L]`` test codes (reference: 5000).
      factors_test: ``[M, F]`` test factors.
      num_train: training sizes (static).
      predictor: ``"logistic"`` or ``"gbt"``.
      num_classes: static number of values per factor; by default ``max + 1`` over both
        splits (needs concrete factors).
      l2: L2 strength ``1/C`` of the logistic probe.
      num_steps: L-BFGS iterations of the logistic probe.

    Returns:
      dict of scalars keyed as the reference (see the module docstring).

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.metrics import downstream_task
      >>> factors = jnp.stack([jnp.arange(600) % 3, jnp.arange(600) % 4], axis=1)
      >>> codes = factors.astype(jnp.float32)  # the identity representation
      >>> scores = downstream_task(codes, factors, codes, factors, num_train=(100,))
      >>> round(float(scores["100:mean_test_accuracy"]), 2)
      1.0
    """
    if predictor not in _PREDICTORS:
        raise ValueError(f"predictor must be one of {_PREDICTORS}, got {predictor!r}")
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test
    )
    sizes = tuple(int(n) for n in num_train)
    if not sizes or min(sizes) < 2 or max(sizes) > codes_train.shape[0]:
        raise ValueError(
            f"num_train sizes must lie in [2, N={codes_train.shape[0]}] (rows of "
            f"codes_train), got {num_train}"
        )
    if num_classes is None:
        if not (is_concrete(factors_train) and is_concrete(factors_test)):
            raise ValueError("num_classes must be given when the factors are traced")
        top = np.maximum(np.asarray(factors_train).max(0), np.asarray(factors_test).max(0))
        num_classes = tuple(int(v) + 1 for v in top)
    num_classes = tuple(int(k) for k in num_classes)
    if len(num_classes) != factors_train.shape[1]:
        raise ValueError(
            f"num_classes must hold one count per factor ({factors_train.shape[1]}), "
            f"got {num_classes}"
        )

    if predictor == "logistic":
        widest, num_factors = max(num_classes), len(num_classes)
        check_memory(
            4 * num_factors * widest * (6 * max(sizes) + 2 * codes_test.shape[0]),
            what="downstream_task",
            cause=(
                f"num_classes = {num_classes} (given, or read from the factors): each "
                f"factor's probe has {widest} logits per point; {CLASS_INDEX_HINT}"
            ),
        )
    scores: dict[str, Array] = {}
    for n in sizes:
        x, y = codes_train[:n], factors_train[:n]
        if predictor == "logistic":
            acc_train, acc_test = _logistic_accuracies(
                x,
                y,
                codes_test,
                factors_test,
                num_classes=max(num_classes),
                l2=l2,
                num_steps=num_steps,
            )
        else:
            fit = gradient_boosted_trees(x, y, codes_test, num_classes=num_classes)
            acc_train = jnp.mean(fit.train_predictions == y, axis=0)
            acc_test = jnp.mean(fit.eval_predictions == factors_test, axis=0)
        scores[f"{n}:mean_train_accuracy"] = jnp.mean(acc_train)
        scores[f"{n}:mean_test_accuracy"] = jnp.mean(acc_test)
        scores[f"{n}:min_train_accuracy"] = jnp.min(acc_train)
        scores[f"{n}:min_test_accuracy"] = jnp.min(acc_test)
        for j in range(len(num_classes)):
            scores[f"{n}:train_accuracy_factor_{j}"] = acc_train[j]
            scores[f"{n}:test_accuracy_factor_{j}"] = acc_test[j]
    return scores
