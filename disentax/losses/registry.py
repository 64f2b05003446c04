"""``OBJECTIVES``: every training objective by name, one :class:`Objective` per entry.

An entry carries everything other code needs to know about its objective: the function,
its hyperparameters (defaults and checks), its own ``aux`` keys and whether it needs a
discriminator (``OBJECTIVES[name].needs_discriminator``). Lists of objectives elsewhere
(configs, studies, tests) derive from this dict.
"""

from collections.abc import Mapping
from typing import Any

from disentax.losses.objectives import (
    Objective,
    annealed_vae,
    beta_tcvae,
    beta_vae,
    dip_vae_i,
    dip_vae_ii,
    factor_vae,
)
from disentax.losses.semi_objectives import (
    s2_beta_tcvae,
    s2_beta_vae,
    s2_dip_vae,
    s2_factor_vae,
    supervised_vae,
)
from disentax.losses.weak import group_vae, ml_vae

#: Objective name -> :class:`Objective`, the names a config's ``objective.name`` takes.
OBJECTIVES: dict[str, Objective] = {
    "beta_vae": beta_vae,
    "annealed_vae": annealed_vae,
    "beta_tcvae": beta_tcvae,
    "factor_vae": factor_vae,
    "dip_vae_i": dip_vae_i,
    "dip_vae_ii": dip_vae_ii,
    "group_vae": group_vae,  # weakly supervised: pairs (disentax.losses.weak)
    "ml_vae": ml_vae,
    "s2_beta_vae": s2_beta_vae,  # semi-supervised: labels (disentax.losses.semi_objectives)
    "s2_beta_tcvae": s2_beta_tcvae,
    "s2_factor_vae": s2_factor_vae,
    "s2_dip_vae": s2_dip_vae,
    "supervised_vae": supervised_vae,
}

# Derived from the entries: name -> default hyperparameters.
DEFAULT_HYPERPARAMETERS: dict[str, dict[str, Any]] = {
    name: entry.defaults for name, entry in OBJECTIVES.items()
}


def validate_hyperparameters(name: str, hyper: Mapping[str, Any]) -> None:
    """Raises ValueError naming the objective or hyperparameter that is not acceptable.

    Checks that ``name`` is in ``OBJECTIVES``, then what its entry declares
    (:meth:`Objective.validate`): every key is one of its hyperparameters and every
    concrete value passes that hyperparameter's check (β, γ, ``c_max``, ``lambda_od``,
    ``lambda_d_factor`` finite and >= 0; ``iteration_threshold`` > 0; ``estimator`` in
    ("mws", "mss"); ``dataset_size`` None or a positive integer). Traced values (inside
    ``jit``/``vmap``) are not checked.

    Examples:
        >>> from disentax.losses import validate_hyperparameters
        >>> validate_hyperparameters("beta_vae", {"beta": -1.0})
        Traceback (most recent call last):
        ...
        ValueError: beta must be finite and >= 0, got -1.0
    """
    if name not in OBJECTIVES:
        raise ValueError(f"objective must be one of {sorted(OBJECTIVES)}, got {name!r}")
    OBJECTIVES[name].validate(hyper)
