"""The hyperparameters every semi-supervised objective declares, with their checks.

:data:`SUPERVISED_HYPER`: the supervised regulariser, its weight and annealer and the
regulariser's options; :data:`LABELLED_HYPER`: the labelled batch's options (batch
hyperparameters, the reference's test settings; the dataset-dependent bounds are checked by
``disentax.data.labelled``). Their use: :mod:`disentax.losses.semi_objectives`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from disentax.losses.declaration import nonnegative, one_of, positive
from disentax.losses.semi_supervised import (
    ANNEALERS,
    SUPERVISED_REGULARISERS,
    check_regulariser_options,
)

__all__ = ["LABELLED_HYPER", "LABELLER_NAMES", "SUPERVISED_HYPER"]


def _sigma(key: str, value: Any) -> None:
    """Check: a finite number > 0 (the embed regulariser's temperature)."""
    check_regulariser_options("embed", **{key: value})


def _bool(key: str, value: Any) -> None:
    """Check: True or False."""
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be True or False, got {value!r}")


def _count(key: str, value: Any) -> None:
    """Check: a positive int."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{key} must be a positive int, got {value!r}")


def _real(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float | np.number)


def _fraction(key: str, value: Any) -> None:
    """Check: a number in (0, 1]."""
    if not (_real(value) and 0 < value <= 1):
        raise ValueError(f"{key} must be in (0, 1], got {value!r}")


def _probability(key: str, value: Any) -> None:
    """Check: a probability in [0, 1]."""
    if not (_real(value) and 0 <= value <= 1):
        raise ValueError(f"{key} must be a probability in [0, 1], got {value!r}")


#: The labellers' names (``disentax.data.labellers.LABELLERS``; losses do not import data).
LABELLER_NAMES = ("perfect", "binned", "noisy", "permuted", "partial")

#: The supervised part: its weight, annealer, regulariser and the regulariser's options.
SUPERVISED_HYPER = {
    "gamma_sup": (4.0, nonnegative),
    "annealer": ("fixed", one_of(tuple(ANNEALERS))),
    "iteration_threshold": (1, positive),
    "regulariser": ("xent", one_of(tuple(SUPERVISED_REGULARISERS))),
    "learn_scale": (True, _bool),
    "sigma": (1.0, _sigma),
    "learn_sigma": (False, _bool),
    "use_order": (False, _bool),
}
#: The labelled batch's options (batch hyperparameters), the reference's test settings;
#: the dataset-dependent bounds are checked by ``disentax.data.labelled``.
LABELLED_HYPER = {
    "num_labels": (100, _count),
    "train_fraction": (0.9, _fraction),
    "labeller": ("perfect", one_of(LABELLER_NAMES)),
    "num_bins": (5, _count),
    "prob_random": (0.1, _probability),
    "num_observed_factors": (2, _count),
}
