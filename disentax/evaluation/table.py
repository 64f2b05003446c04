"""The metric table: every metric of the suite, name -> :class:`Metric`.

Each entry holds the metric's array kernel (a thin wrapper of a :mod:`disentax.metrics`
kernel that names its outputs as the evaluation record does), what it scores (its kind),
its output keys and what it promises on known representations. The table is the one
registry of metrics: :func:`disentax.evaluation.evaluate` runs it, and the shared tests
(``tests/evaluation/test_metric_table.py``) check every entry against what it declares.

Adding a metric: its kernel module in :mod:`disentax.metrics`, its export in
``disentax/metrics/__init__.py`` and its entry here.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from disentax import metrics as M
from disentax.metrics.mig_chen2018 import chen2018_factor_columns
from disentax.typing import Array

__all__ = ["KINDS", "METRICS", "Metric"]

# What a metric scores, and so how :func:`evaluate` calls its ``score``:
#   "codes":          score(codes, factors, codes_test, factors_test, *, num_classes)
#                     on the shared train/test sets;
#   "posterior":      score(key, mean, logvar, factors) on num_train points of its own,
#                     or on the whole factor grid when the entry has ``grid_factors``;
#   "interventional": score(key, dataset, representation_fn, *, batch_size, num_train,
#                     num_eval, num_variance_estimate), drawing its own points.
KINDS = ("codes", "posterior", "interventional")


@dataclasses.dataclass(frozen=True)
class Metric:
    """One entry of the metric table.

    Attributes:
      score: the array kernel; its arguments follow ``kind`` (see :data:`KINDS`). It
        returns a flat dict of every output: the score keys and the matrices, jittable
        and vmappable over a leading model axis of its code arguments.
      kind: ``"codes"``, ``"posterior"`` or ``"interventional"``.
      headline: the output key of the score a table shows first.
      keys: the score keys ``score`` returns (``{n}`` stands for a number, e.g. a size).
      matrices: the keys of the matrices it returns (``[L, F]`` arrays, kept apart).
      identity: ``(low, high)`` bounds of the headline score of an identity
        representation (codes = factors), or None where no such promise holds.
      noise: ``(low, high)`` bounds of the headline score of codes independent of the
        factors, or None where no such promise holds.
      fold: for the kinds that draw their own points: the evaluation key is folded with
        ``fold`` (``fold`` and ``fold + 1`` for ``"posterior"``: points, then scoring).
      grid_factors: for ``"posterior"`` metrics of a published protocol that scores the
        whole factor grid: ``dataset -> factor columns`` the protocol scores. Every grid
        point is encoded once and ``score`` gets those columns (instead of ``num_train``
        random points and every column); :func:`evaluate` records the columns' names
        and the grid size under ``sizes[name]``.

    Example:
      >>> METRICS["mig"].kind, METRICS["mig"].headline
      ('codes', 'mig')
    """

    score: Callable[..., dict[str, Array]]
    kind: str
    headline: str
    keys: tuple[str, ...]
    matrices: tuple[str, ...] = ()
    identity: tuple[float, float] | None = None
    noise: tuple[float, float] | None = None
    fold: int | None = None
    grid_factors: Callable[[object], tuple[int, ...]] | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if not self.documents(self.headline):
            raise ValueError(f"headline {self.headline!r} must be one of keys {self.keys}")
        if (self.fold is None) != (self.kind == "codes"):
            raise ValueError(
                f"fold must be given exactly for the kinds that draw their own points, "
                f"got fold={self.fold!r} for kind {self.kind!r}"
            )
        if self.grid_factors is not None and self.kind != "posterior":
            raise ValueError(f"grid_factors is for kind 'posterior', got kind {self.kind!r}")

    def documents(self, key: str) -> bool:
        """Whether ``key`` is one of :attr:`keys` (``{n}`` matching any number)."""
        return any(_pattern(k).fullmatch(key) for k in self.keys)


def _pattern(key: str) -> re.Pattern:
    return re.compile(re.escape(key).replace(re.escape("{n}"), "[0-9]+"))


def _prefixed(prefix: str, values: Mapping) -> dict[str, Array]:
    return {f"{prefix}/{k}": v for k, v in values.items()}


def _mig(codes, factors, codes_test, factors_test, *, num_classes):
    bins = M.histogram_discretize(codes, num_bins=20)
    return {"mig": M.mig(codes, factors), "mutual_info": M.discrete_mutual_info(bins, factors)}


def _mig_sampled(key, mean, logvar, factors):
    return {"mig_sampled": M.mig_sampled(key, mean, logvar, factors)}


def _mig_chen2018(key, mean, logvar, factors):
    return {"mig_chen2018": M.mig_chen2018(key, mean, logvar, factors)}


def _chen2018_columns(dataset) -> tuple[int, ...]:
    return chen2018_factor_columns(getattr(dataset, "name", None), dataset.factor_names)


def _sap(codes, factors, codes_test, factors_test, *, num_classes):
    return {"sap": M.sap(codes, factors, codes_test, factors_test)}


def _dci(codes, factors, codes_test, factors_test, *, num_classes):
    out = M.dci(codes, factors, codes_test, factors_test, num_classes=num_classes)
    importance = out.pop("importance")
    out["informativeness"] = out["informativeness_test"]
    return {**_prefixed("dci", out), "dci_importance": importance}


def _modularity(codes, factors, codes_test, factors_test, *, num_classes):
    return {"modularity": M.modularity(codes, factors)}


def _explicitness(codes, factors, codes_test, factors_test, *, num_classes):
    # num_classes not passed: class counts come from the factors, as evaluate always did.
    return _prefixed("explicitness", M.explicitness(codes, factors, codes_test, factors_test))


def _irs(codes, factors, codes_test, factors_test, *, num_classes):
    out = M.irs(codes, factors)
    return {
        "irs": out["irs"],
        "irs/num_active_dims": out["num_active_dims"],
        "irs_matrix": out["irs_matrix"],
    }


# the keys of metrics.unsupervised_scores, of the mean codes and of one sample alike
_UNSUPERVISED_SCORES = (
    "gaussian_total_correlation",
    "gaussian_wasserstein_correlation",
    "gaussian_wasserstein_correlation_norm",
    "mutual_info_score",
)


def _unsupervised(codes, factors, codes_test, factors_test, *, num_classes):
    return _prefixed("unsupervised", M.unsupervised_scores(codes))


def _unsupervised_sampled(key, mean, logvar, factors):
    # one draw z ~ N(mean, exp(logvar)) per point: the sampled representation, whose
    # total correlation the regularisers act on (Locatello et al. 2019 score both)
    codes = mean + jnp.exp(0.5 * logvar) * jax.random.normal(key, jnp.shape(mean))
    return _prefixed("unsupervised_sampled", M.unsupervised_scores(codes))


def _downstream(codes, factors, codes_test, factors_test, *, num_classes):
    sizes = tuple(n for n in (10, 100, 1000, 10000) if n <= codes.shape[0])
    out = M.downstream_task(
        codes, factors, codes_test, factors_test, num_train=sizes, num_classes=num_classes
    )
    return _prefixed("downstream", out)


def _beta_vae(key, dataset, representation_fn, *, num_variance_estimate, **sizes):
    out = M.beta_vae_score(key, dataset, representation_fn, **sizes)
    return {"beta_vae_score": out["eval_accuracy"], **_prefixed("beta_vae_score", out)}


def _factor_vae(key, dataset, representation_fn, **sizes):
    out = M.factor_vae_score(key, dataset, representation_fn, **sizes)
    return {"factor_vae_score": out["eval_accuracy"], **_prefixed("factor_vae_score", out)}


def _fairness(key, dataset, representation_fn, *, num_train, num_eval, **unused):
    # num_eval // 50 base vectors per sensitive factor: the study's 100 at num_eval 5000
    out = M.fairness(
        key,
        dataset,
        representation_fn,
        num_train=num_train,
        num_test_points_per_class=max(1, num_eval // 50),
    )
    return {"fairness": out["mean_fairness:mean_pred:mean_sens"], **_prefixed("fairness", out)}


def _strong_downstream(key, dataset, representation_fn, *, num_train, num_eval, **unused):
    out = M.strong_downstream_task(
        key, dataset, representation_fn, num_train=num_train, num_test=num_eval
    )
    headline = out[f"{num_train}:mean_strong_test_accuracy"]
    return {"strong_downstream_task": headline, **_prefixed("strong_downstream_task", out)}


def _reduced_downstream(codes, factors, codes_test, factors_test, *, num_classes):
    out = M.reduced_downstream_task(
        codes, factors, codes_test, factors_test, num_classes=num_classes
    )
    headline = out[f"{codes.shape[0]}:mean_removed_test_accuracy"]
    return {"reduced_downstream_task": headline, **_prefixed("reduced_downstream_task", out)}


def _latent_correlation(codes, factors, codes_test, factors_test, *, num_classes):
    num_factors = factors.shape[1]
    if num_factors < 2:
        raise ValueError(f"latent_correlation needs at least 2 factors, got {num_factors}")
    out = M.latent_correlation(codes, factors)
    first, second = np.triu_indices(num_factors, 1)
    # The headline is the shared information: Pearson misses a balanced rotation of a
    # pair and saturates at 1 whenever two factors share their top latent.
    shared = out["shared_information"][first, second]
    pearson = out["correlation"][first, second]
    codes_corr = out["code_correlation"]
    off = ~np.eye(codes_corr.shape[0], dtype=bool)
    scores = {
        "latent_correlation": jnp.max(shared),
        "latent_correlation/mean": jnp.mean(shared),
        "latent_correlation/pearson": jnp.max(pearson),
        "latent_correlation/max_code_pair": jnp.max(jnp.where(off, codes_corr, 0.0)),
    }
    for k, (a, b) in enumerate(zip(first.tolist(), second.tolist(), strict=True)):
        scores[f"latent_correlation/factor{a}_factor{b}"] = shared[k]
        scores[f"latent_correlation/pearson/factor{a}_factor{b}"] = pearson[k]
    return scores


def _fairness_keys() -> tuple[str, ...]:
    keys = []
    for prefix in ("mean_fairness", "max_fairness"):
        keys += [f"{prefix}:pred{{n}}:sens{{n}}"]
        keys += [f"{prefix}:pred{{n}}:{a}_sens" for a in ("mean", "max")]
        keys += [f"{prefix}:sens{{n}}:{a}_pred" for a in ("mean", "max")]
        for first, second in (("sens", "pred"), ("pred", "sens")):
            keys += [
                f"{prefix}:{a}_{first}:{b}_{second}"
                for a in ("mean", "max")
                for b in ("mean", "max")
            ]
    return ("fairness", *(f"fairness/{k}" for k in keys))


_DOWNSTREAM_KEYS = tuple(
    f"downstream/{{n}}:{part}"
    for part in (
        "mean_train_accuracy",
        "mean_test_accuracy",
        "min_train_accuracy",
        "min_test_accuracy",
        "train_accuracy_factor_{n}",
        "test_accuracy_factor_{n}",
    )
)
_ACCURACIES = ("train_accuracy", "eval_accuracy")

# The metric table, in the order evaluate runs them. Promises (identity, noise) are
# checked with real numbers by the shared tests; None where the metric makes none.
# The three MIGs are three protocols, each compared only with anchors of its own:
#   mig           disentanglement_lib (Locatello et al. 2019): 20-bin histogram of the
#                 posterior means, all factors, the shared 10,000 random points;
#   mig_sampled   Chen et al.'s sampled estimator on 10,000 random points, all factors
#                 (no published anchor);
#   mig_chen2018  Chen et al. 2018 as published: the whole factor grid, their factors
#                 (dSprites without shape), 10,000 samples per entropy.
METRICS: dict[str, Metric] = {
    "mig": Metric(
        _mig, "codes", "mig", ("mig",), ("mutual_info",), identity=(0.9, 1.0), noise=(0, 0.1)
    ),
    "mig_sampled": Metric(
        _mig_sampled,
        "posterior",
        "mig_sampled",
        ("mig_sampled",),
        identity=(0.9, 1.0),
        noise=(0.0, 0.1),
        fold=3,
    ),
    "mig_chen2018": Metric(
        _mig_chen2018,
        "posterior",
        "mig_chen2018",
        ("mig_chen2018",),
        identity=(0.9, 1.0),
        noise=(0.0, 0.1),
        fold=7,
        grid_factors=_chen2018_columns,
    ),
    # One-vs-rest linear probes on one code cannot isolate a middle value of a factor:
    # SAP stays well below 1 on an identity representation of multi-valued factors.
    "sap": Metric(_sap, "codes", "sap", ("sap",), identity=(0.3, 1.0), noise=(0.0, 0.1)),
    "dci": Metric(
        _dci,
        "codes",
        "dci/disentanglement",
        tuple(
            f"dci/{k}"
            for k in (
                "disentanglement",
                "completeness",
                "informativeness_train",
                "informativeness_test",
                "informativeness",
            )
        ),
        ("dci_importance",),
        identity=(0.9, 1.0),
        noise=(0.0, 0.1),
    ),
    "modularity": Metric(_modularity, "codes", "modularity", ("modularity",), identity=(0.9, 1.0)),
    "explicitness": Metric(
        _explicitness,
        "codes",
        "explicitness/test",
        ("explicitness/train", "explicitness/test"),
        identity=(0.9, 1.0),
        noise=(0.4, 0.6),
    ),
    "irs": Metric(
        _irs, "codes", "irs", ("irs", "irs/num_active_dims"), ("irs_matrix",), identity=(0.9, 1.0)
    ),
    "unsupervised": Metric(
        _unsupervised,
        "codes",
        "unsupervised/gaussian_total_correlation",
        tuple(f"unsupervised/{k}" for k in _UNSUPERVISED_SCORES),
        noise=(0.0, 0.1),
    ),
    # the same four scores of one posterior sample per point, on their own random points
    "unsupervised_sampled": Metric(
        _unsupervised_sampled,
        "posterior",
        "unsupervised_sampled/gaussian_total_correlation",
        tuple(f"unsupervised_sampled/{k}" for k in _UNSUPERVISED_SCORES),
        noise=(0.0, 0.1),
        fold=11,
    ),
    "beta_vae_score": Metric(
        _beta_vae,
        "interventional",
        "beta_vae_score",
        ("beta_vae_score", *(f"beta_vae_score/{k}" for k in _ACCURACIES)),
        identity=(0.9, 1.0),
        fold=5,
    ),
    "factor_vae_score": Metric(
        _factor_vae,
        "interventional",
        "factor_vae_score",
        (
            "factor_vae_score",
            *(f"factor_vae_score/{k}" for k in (*_ACCURACIES, "num_active_dims")),
        ),
        identity=(0.9, 1.0),
        fold=6,
    ),
    "downstream": Metric(
        _downstream,
        "codes",
        "downstream/100:mean_test_accuracy",
        _DOWNSTREAM_KEYS,
        identity=(0.9, 1.0),
    ),
    # Locatello et al. 2019 (fairness); disentanglement_lib's out-of-distribution tasks;
    # latent_correlation shows the correlation Träuble et al. 2021 find the scores miss.
    "fairness": Metric(
        _fairness, "interventional", "fairness", _fairness_keys(), identity=(0.0, 0.05), fold=9
    ),
    "strong_downstream_task": Metric(
        _strong_downstream,
        "interventional",
        "strong_downstream_task",
        (
            "strong_downstream_task",
            *(
                f"strong_downstream_task/{{n}}:{k}"
                for k in (
                    "mean_train_accuracy",
                    "mean_test_accuracy",
                    "mean_strong_train_accuracy",
                    "mean_strong_test_accuracy",
                    "strong_generalization_gap",
                )
            ),
        ),
        identity=(0.9, 1.0),
        fold=10,
    ),
    "reduced_downstream_task": Metric(
        _reduced_downstream,
        "codes",
        "reduced_downstream_task",
        (
            "reduced_downstream_task",
            "reduced_downstream_task/{n}:train_accuracy_{n}_factor_of_interest_{n}",
            "reduced_downstream_task/{n}:test_accuracy_{n}_factor_of_interest_{n}",
            "reduced_downstream_task/{n}:mean_removed_test_accuracy",
            "reduced_downstream_task/{n}:mean_kept_test_accuracy",
        ),
    ),
    "latent_correlation": Metric(
        _latent_correlation,
        "codes",
        "latent_correlation",
        (
            "latent_correlation",
            "latent_correlation/mean",
            "latent_correlation/pearson",
            "latent_correlation/max_code_pair",
            "latent_correlation/factor{n}_factor{n}",
            "latent_correlation/pearson/factor{n}_factor{n}",
        ),
        identity=(0.0, 0.3),
    ),
}
