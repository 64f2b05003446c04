"""disentax.metrics: disentanglement metrics as pure, jittable, vmappable JAX kernels.

Array conventions: ``codes [N, L]`` float, ``factors [N, F]`` int class indices,
batch-major. Static hyperparameters are keyword-only.
"""

from disentax.metrics.probes import (
    LinearParams,
    LogisticParams,
    fit_lasso,
    fit_linear_regression,
    fit_logistic_regression,
    predict_linear,
    predict_logistic_logits,
    predict_logistic_proba,
)

__all__ = [
    "LinearParams",
    "LogisticParams",
    "fit_lasso",
    "fit_linear_regression",
    "fit_logistic_regression",
    "predict_linear",
    "predict_logistic_logits",
    "predict_logistic_proba",
]
