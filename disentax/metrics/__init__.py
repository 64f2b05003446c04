"""disentax.metrics: disentanglement metrics as pure, jittable, vmappable JAX kernels.

Array conventions: ``codes [N, L]`` float, ``factors [N, F]`` int class indices,
batch-major. Static hyperparameters are keyword-only. Every kernel checks its input
before anything reaches XLA (shapes always, values when concrete) and can be called
under ``jax.jit`` and ``jax.vmap`` (e.g. over a leading model axis).
"""

from disentax.metrics.beta_vae_score import beta_vae_score
from disentax.metrics.dci import completeness, dci, dci_from_importance, disentanglement
from disentax.metrics.downstream import downstream_task
from disentax.metrics.factor_vae_score import factor_vae_score
from disentax.metrics.gbt import GBTFit, gradient_boosted_trees
from disentax.metrics.information import (
    discrete_entropy,
    discrete_mutual_info,
    histogram_discretize,
)
from disentax.metrics.irs import irs
from disentax.metrics.mig import mig, mig_sampled
from disentax.metrics.modularity import explicitness, modularity
from disentax.metrics.probes import (
    LinearParams,
    LogisticHeadsParams,
    LogisticParams,
    fit_lasso,
    fit_linear_regression,
    fit_logistic_regression,
    fit_logistic_regression_heads,
    minimize_lbfgs,
    predict_linear,
    predict_logistic_heads_proba,
    predict_logistic_logits,
    predict_logistic_proba,
)
from disentax.metrics.ranks import (
    average_ranks,
    roc_auc,
    roc_auc_probabilities,
    spearman_correlation,
)
from disentax.metrics.sap import sap, sap_score_matrix
from disentax.metrics.udr import relative_strength_disentanglement, udr
from disentax.metrics.unsupervised import (
    gaussian_total_correlation,
    gaussian_wasserstein_correlation,
    gaussian_wasserstein_correlation_norm,
    mutual_info_score,
    unsupervised_scores,
)

__all__ = [
    "GBTFit",
    "LinearParams",
    "LogisticHeadsParams",
    "LogisticParams",
    "average_ranks",
    "beta_vae_score",
    "completeness",
    "dci",
    "dci_from_importance",
    "discrete_entropy",
    "discrete_mutual_info",
    "disentanglement",
    "downstream_task",
    "explicitness",
    "factor_vae_score",
    "fit_lasso",
    "fit_linear_regression",
    "fit_logistic_regression",
    "fit_logistic_regression_heads",
    "gaussian_total_correlation",
    "gaussian_wasserstein_correlation",
    "gaussian_wasserstein_correlation_norm",
    "gradient_boosted_trees",
    "histogram_discretize",
    "irs",
    "mig",
    "mig_sampled",
    "minimize_lbfgs",
    "modularity",
    "mutual_info_score",
    "predict_linear",
    "predict_logistic_heads_proba",
    "predict_logistic_logits",
    "predict_logistic_proba",
    "relative_strength_disentanglement",
    "roc_auc",
    "roc_auc_probabilities",
    "sap",
    "sap_score_matrix",
    "spearman_correlation",
    "udr",
    "unsupervised_scores",
]
