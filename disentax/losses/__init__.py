"""disentax.losses: numbers from arrays (pure jnp; no Flax, no config).

Per-example pieces (``bernoulli_nll``, ``gaussian_nll``, ``gaussian_kl``,
``gaussian_log_density``, ``total_correlation``, ``permute_dims``, DIP-VAE covariances)
and the objectives in ``OBJECTIVES`` (the six of the reference study), each an
``Objective``: the function with its declared hyperparameters (defaults, checks), its own
``aux`` keys and whether it ``needs_discriminator``.

Examples:
    >>> from disentax.losses import DEFAULT_HYPERPARAMETERS, OBJECTIVES
    >>> OBJECTIVES["beta_vae"].defaults == DEFAULT_HYPERPARAMETERS["beta_vae"] == {"beta": 4.0}
    True
    >>> OBJECTIVES["factor_vae"].needs_discriminator
    True
"""

from disentax.losses.declaration import ModelFns
from disentax.losses.divergence import (
    dip_covariance,
    dip_penalties,
    gaussian_kl,
    gaussian_log_density,
)
from disentax.losses.objectives import (
    COMMON_AUX,
    Objective,
    ObjectiveFn,
    annealed_vae,
    beta_tcvae,
    beta_vae,
    dip_vae_i,
    dip_vae_ii,
    factor_vae,
    factor_vae_discriminator_loss,
    objective,
)
from disentax.losses.reconstruction import (
    RECONSTRUCTIONS,
    bernoulli_nll,
    gaussian_nll,
    reconstruction_nll,
)
from disentax.losses.registry import DEFAULT_HYPERPARAMETERS, OBJECTIVES, validate_hyperparameters
from disentax.losses.semi_objectives import (
    SemiPass,
    s2_beta_tcvae,
    s2_beta_vae,
    s2_dip_vae,
    s2_factor_vae,
    supervised_vae,
)
from disentax.losses.semi_supervised import (
    ANNEALERS,
    SUPERVISED_REGULARISERS,
    Regulariser,
    anneal,
    check_regulariser_options,
    init_regulariser_params,
    supervised_cov,
    supervised_embed,
    supervised_l2,
    supervised_loss,
    supervised_xent,
)
from disentax.losses.total_correlation import (
    ESTIMATORS,
    mss_log_weights,
    permute_dims,
    total_correlation,
)
from disentax.losses.weak import AGGREGATIONS, group_vae, ml_vae

__all__ = [
    "AGGREGATIONS",
    "COMMON_AUX",
    "DEFAULT_HYPERPARAMETERS",
    "ESTIMATORS",
    "ModelFns",
    "OBJECTIVES",
    "Objective",
    "RECONSTRUCTIONS",
    "ObjectiveFn",
    "annealed_vae",
    "bernoulli_nll",
    "beta_tcvae",
    "beta_vae",
    "dip_covariance",
    "dip_penalties",
    "dip_vae_i",
    "dip_vae_ii",
    "factor_vae",
    "factor_vae_discriminator_loss",
    "gaussian_kl",
    "gaussian_log_density",
    "gaussian_nll",
    "group_vae",
    "ml_vae",
    "mss_log_weights",
    "objective",
    "permute_dims",
    "reconstruction_nll",
    "total_correlation",
    "validate_hyperparameters",
    "ANNEALERS",
    "SUPERVISED_REGULARISERS",
    "Regulariser",
    "anneal",
    "check_regulariser_options",
    "init_regulariser_params",
    "supervised_cov",
    "supervised_embed",
    "supervised_l2",
    "supervised_loss",
    "supervised_xent",
    "SemiPass",
    "s2_beta_tcvae",
    "s2_beta_vae",
    "s2_dip_vae",
    "s2_factor_vae",
    "supervised_vae",
]
