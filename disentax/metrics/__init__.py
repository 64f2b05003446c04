"""disentax.metrics: disentanglement metrics as pure, jittable, vmappable JAX kernels.

Array conventions: ``codes [N, L]`` float, ``factors [N, F]`` int class indices,
batch-major. Static hyperparameters are keyword-only. Every kernel checks its input
before anything reaches XLA (shapes always, values when concrete) and can be called
under ``jax.jit`` and ``jax.vmap`` (e.g. over a leading model axis).

The estimators the metrics share (L-BFGS, logistic and linear probes, gradient-boosted
trees, rank statistics) live in :mod:`disentax.metrics.estimators`.
"""

from disentax.metrics import estimators
from disentax.metrics.beta_vae_score import beta_vae_score
from disentax.metrics.dci import completeness, dci, dci_from_importance, disentanglement
from disentax.metrics.downstream import downstream_task
from disentax.metrics.downstream_ood import reduced_downstream_task, strong_downstream_task
from disentax.metrics.factor_vae_score import factor_vae_score
from disentax.metrics.fairness import fairness, fairness_scores, inter_group_fairness
from disentax.metrics.information import (
    discrete_entropy,
    discrete_mutual_info,
    histogram_discretize,
)
from disentax.metrics.irs import irs
from disentax.metrics.latent_correlation import latent_correlation
from disentax.metrics.mig import mig, mig_sampled
from disentax.metrics.mig_chen2018 import mig_chen2018
from disentax.metrics.modularity import explicitness, modularity
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
    "beta_vae_score",
    "completeness",
    "dci",
    "dci_from_importance",
    "discrete_entropy",
    "discrete_mutual_info",
    "disentanglement",
    "downstream_task",
    "estimators",
    "explicitness",
    "factor_vae_score",
    "fairness",
    "fairness_scores",
    "gaussian_total_correlation",
    "gaussian_wasserstein_correlation",
    "gaussian_wasserstein_correlation_norm",
    "histogram_discretize",
    "inter_group_fairness",
    "irs",
    "latent_correlation",
    "mig",
    "mig_chen2018",
    "mig_sampled",
    "modularity",
    "reduced_downstream_task",
    "mutual_info_score",
    "relative_strength_disentanglement",
    "sap",
    "sap_score_matrix",
    "strong_downstream_task",
    "udr",
    "unsupervised_scores",
]
