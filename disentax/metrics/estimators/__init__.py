"""disentax.metrics.estimators: the jittable estimators the metrics share.

The small supervised models and statistics that the metrics fit or compute on codes, each
a pure function of arrays that runs under ``jax.jit`` and ``jax.vmap`` with static sizes:

* ``lbfgs``: a general L-BFGS minimiser with a fixed iteration budget;
* ``logistic``: multinomial logistic regression (one probe, or one per label column);
* ``linear``: least squares / ridge in closed form, Lasso by coordinate descent;
* ``gbt``: gradient-boosted decision trees, all factors and classes in one program
  (``trees``: their histogram building blocks);
* ``ranks``: tie-averaged ranks, exact ROC AUC, Spearman correlation;
* ``svm``: scikit-learn's balanced ``LinearSVC`` on one feature (SAP's probe).

They are public as ``disentax.metrics.estimators.<name>`` (not re-exported by
``disentax.metrics``, whose names are the metrics themselves).

Examples:
  >>> import numpy as np
  >>> from disentax.metrics import estimators
  >>> x = np.array([[0.0], [1.0], [2.0], [3.0]], np.float32)
  >>> params = estimators.fit_logistic_regression(x, np.array([0, 0, 1, 1]), num_classes=2)
  >>> estimators.predict_logistic_proba(params, x).argmax(axis=1).tolist()
  [0, 0, 1, 1]
"""

from disentax.metrics.estimators.gbt import (
    GBTFit,
    apply_bins,
    gradient_boosted_trees,
    quantile_bin_edges,
)
from disentax.metrics.estimators.lbfgs import minimize_lbfgs, minimize_lbfgs_batched
from disentax.metrics.estimators.linear import (
    LinearParams,
    fit_lasso,
    fit_linear_regression,
    predict_linear,
)
from disentax.metrics.estimators.logistic import (
    LogisticHeadsParams,
    LogisticParams,
    fit_logistic_regression,
    fit_logistic_regression_heads,
    predict_logistic_heads_proba,
    predict_logistic_logits,
    predict_logistic_proba,
)
from disentax.metrics.estimators.ranks import (
    average_ranks,
    roc_auc,
    roc_auc_probabilities,
    spearman_correlation,
)
from disentax.metrics.estimators.svm import linear_svc_1d_accuracy

__all__ = [
    "GBTFit",
    "LinearParams",
    "LogisticHeadsParams",
    "LogisticParams",
    "apply_bins",
    "average_ranks",
    "fit_lasso",
    "fit_linear_regression",
    "fit_logistic_regression",
    "fit_logistic_regression_heads",
    "gradient_boosted_trees",
    "linear_svc_1d_accuracy",
    "minimize_lbfgs",
    "minimize_lbfgs_batched",
    "predict_linear",
    "predict_logistic_heads_proba",
    "predict_logistic_logits",
    "predict_logistic_proba",
    "quantile_bin_edges",
    "roc_auc",
    "roc_auc_probabilities",
    "spearman_correlation",
]
