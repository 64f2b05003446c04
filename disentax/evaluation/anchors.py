"""Published scores to compare a run with, each labelled by the protocol that produced it.

A published number only compares with a disentax score computed by the same protocol:
two MIGs circulate under one name (the histogram MIG of disentanglement_lib, key
``mig``; Chen et al.'s sampled MIG over the whole factor grid without dSprites' shape,
key ``mig_chen2018``), and the vote-based scores depend on their vote counts. Each
:class:`Anchor` therefore names the evaluation key it compares with (``metric``) and says
how the number was obtained (``protocol``); a table or report puts an anchor only beside
the score of that key.

Sources:
  Lin et al., "InfoGAN-CR and ModelCentrality: Self-supervised Model Training and
  Selection for Disentangling GANs", ICML 2020, Table 1: the best result reported per
  method on dSprites, compiled from the methods' papers; its MIG column follows Chen et
  al. (2018)'s sampled-MIG protocol (β-TCVAE's 0.45 is Chen et al.'s own number), and a
  FactorVAE (γ = 40) re-run is reported in the same table.
  Locatello et al., ICML 2019, report distributions over 50 seeds (no single values), so
  no histogram-MIG (``mig``) anchor is listed; their study is reproduced by the study
  runner instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["ANCHORS", "PROTOCOLS", "TITLES", "Anchor", "anchors_for", "labelled"]

_LIN2020 = "Lin et al. 2020, Table 1"
_LIN2020_BEST = "best reported result of the method, as compiled by Lin et al. 2020"
_CHEN_MIG = "Chen et al. 2018 sampled MIG: whole factor grid, shape left out"


#: The protocol behind each evaluation key that shares a name with another (the MIGs):
#: tables and reports label these keys so that no two are confused.
PROTOCOLS = {
    "mig": "histogram MIG of disentanglement_lib, codes in 20 equal-width bins",
    "mig_sampled": "Chen et al.'s sampled estimator on random points and every factor",
    "mig_chen2018": "Chen et al. 2018 protocol: whole factor grid, dSprites without shape",
}

#: Short column titles of the same keys, for tables that must tell the MIGs apart.
TITLES = {
    "mig": "MIG, histogram (dislib)",
    "mig_sampled": "MIG, sampled (all factors)",
    "mig_chen2018": "MIG, Chen 2018 protocol",
}


def labelled(key: str) -> str:
    """``key`` followed by its protocol when :data:`PROTOCOLS` has one (for table rows).

    Example:
      >>> labelled("mig_chen2018")
      'mig_chen2018 (Chen et al. 2018 protocol: whole factor grid, dSprites without shape)'
      >>> labelled("sap")
      'sap'
    """
    return f"{key} ({PROTOCOLS[key]})" if key in PROTOCOLS else key


@dataclasses.dataclass(frozen=True)
class Anchor:
    """A published score and what it compares with.

    Attributes:
      source: the publication (and table) the value is read from.
      dataset: the disentax dataset it was measured on (``"dsprites"``: the published
        dSprites grid; disentax's procedural ``dsprites`` renders the same grid).
      objective: the objective's name in ``disentax.losses.OBJECTIVES``.
      hyperparameters: the objective's values when the source fixes them, else None
        (the best over the source's own grid).
      label: the method as the source names it.
      metric: the ``evaluation.json`` key whose score this value compares with.
      value: the published value.
      protocol: how the value was obtained (estimator, factors, sizes).
    """

    source: str
    dataset: str
    objective: str
    hyperparameters: Mapping[str, Any] | None
    label: str
    metric: str
    value: float
    protocol: str


def _lin2020(label, objective, hyper, factor_vae_score, mig):
    protocol = _LIN2020_BEST
    return (
        Anchor(_LIN2020, "dsprites", objective, hyper, label, "factor_vae_score",
               factor_vae_score, f"FactorVAE score, {protocol}"),
        Anchor(_LIN2020, "dsprites", objective, hyper, label, "mig_chen2018", mig,
               f"{_CHEN_MIG}; {protocol}"),
    )  # fmt: skip


#: Every published score disentax compares with.
ANCHORS: tuple[Anchor, ...] = (
    *_lin2020("VAE", "beta_vae", {"beta": 1.0}, 0.63, 0.10),
    *_lin2020("β-VAE", "beta_vae", None, 0.63, 0.21),
    *_lin2020("FactorVAE", "factor_vae", None, 0.82, 0.15),
    *_lin2020("β-TCVAE", "beta_tcvae", None, 0.62, 0.45),
    *(
        Anchor(
            _LIN2020,
            "dsprites",
            "factor_vae",
            {"gamma": 40.0},
            "FactorVAE (γ = 40)",
            metric,
            value,
            "a re-run reported by Lin et al. 2020 with their implementation"
            + ("; MIG by " + _CHEN_MIG if metric == "mig_chen2018" else ""),
        )
        for metric, value in (
            ("factor_vae_score", 0.82),
            ("dci/disentanglement", 0.74),
            ("sap", 0.56),
            ("mig_chen2018", 0.43),
            ("beta_vae_score", 0.84),
        )
    ),
)


def anchors_for(
    objective: str | None = None,
    dataset: str | None = None,
    *,
    metric: str | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
) -> list[Anchor]:
    """The anchors that compare with a run (each argument None matches everything).

    Args:
      objective: the run's objective name.
      dataset: the run's dataset name; the procedural ``dsprites`` and the file reader's
        ``dsprites_file`` are the same grid and match each other.
      metric: an ``evaluation.json`` key.
      hyperparameters: the run's objective hyperparameters: an anchor that fixes values
        (e.g. the plain VAE's β = 1) matches only a run with those values.

    Returns:
      The matching anchors, in :data:`ANCHORS` order.

    Example:
      >>> [(a.label, a.value) for a in anchors_for("beta_tcvae", "dsprites",
      ...                                          metric="mig_chen2018")]
      [('β-TCVAE', 0.45)]
      >>> anchors_for("beta_vae", metric="mig_chen2018", hyperparameters={"beta": 1.0})[0].label
      'VAE'
    """
    datasets = {dataset} if dataset is None else {dataset, *_SAME_GRID.get(dataset, ())}
    found = [
        a
        for a in ANCHORS
        if (objective is None or a.objective == objective)
        and (dataset is None or a.dataset in datasets)
        and (metric is None or a.metric == metric)
        and _fits(a, hyperparameters)
    ]
    # An anchor that fixes the run's values (the plain VAE's β = 1) replaces the method's
    # best-over-its-grid anchor of the same metric.
    fixed = {(a.objective, a.metric) for a in found if a.hyperparameters is not None}
    if hyperparameters is None:
        return found
    return [
        a for a in found if a.hyperparameters is not None or (a.objective, a.metric) not in fixed
    ]


def _fits(anchor: Anchor, hyperparameters: Mapping[str, Any] | None) -> bool:
    """Whether a run with ``hyperparameters`` (None: any) has the anchor's fixed values."""
    if hyperparameters is None or anchor.hyperparameters is None:
        return True
    return all(
        k in hyperparameters and np.isclose(float(hyperparameters[k]), v)
        for k, v in anchor.hyperparameters.items()
    )


# Datasets that render the same published grid.
_SAME_GRID = {"dsprites_file": ("dsprites",), "tfds_dsprites": ("dsprites",)}
