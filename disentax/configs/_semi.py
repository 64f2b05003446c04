"""The settings every shipped semi-supervised config shares (not a config itself).

The supervised part's defaults are the reference's test configuration (Locatello et al.,
ICLR 2020; docs/guides/semi_supervision.md); the network, optimizer, batch and steps are
the unsupervised study's (``disentax.configs._base``).
"""

import ml_collections

from disentax.configs._base import base_config

# the supervised regulariser and its weight's schedule
SUPERVISED = {
    "gamma_sup": 4.0,
    "annealer": "fixed",
    "iteration_threshold": 1,
    "regulariser": "xent",
    "learn_scale": True,
    "sigma": 1.0,
    "learn_sigma": False,
    "use_order": False,
}
# the labelled subset and its labeller
LABELLED = {
    "num_labels": 100,
    "train_fraction": 0.9,
    "labeller": "perfect",
    "num_bins": 5,
    "prob_random": 0.1,
    "num_observed_factors": 2,
}


def semi_config(objective: dict, *, supervised: bool = True) -> ml_collections.ConfigDict:
    """The reference settings training a semi-supervised ``objective``.

    Args:
        objective: ``{"name": ..., <the unsupervised model's hyperparameters>}``.
        supervised: include the regulariser's weight and schedule (``gamma_sup``,
            ``annealer``, ``iteration_threshold``); the fully supervised VAE has none.

    Returns:
        The ``ConfigDict``.
    """
    weights = ("gamma_sup", "annealer", "iteration_threshold")
    shared = {k: v for k, v in SUPERVISED.items() if supervised or k not in weights}
    return base_config({**objective, **shared, **LABELLED})
