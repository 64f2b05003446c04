"""disentax.evaluation: representation functions from (model, params) and the metric suite.

* :func:`make_representation_fn` / :func:`make_posterior_fn`: a trained VAE as
  ``images -> codes`` (or ``images -> (mean, logvar)``), jittable.
* :func:`sample_codes`: factors drawn, rendered and encoded in one jitted program.
* :data:`METRICS`: the metric table, name -> :class:`Metric` (kernel, kind, keys,
  promises); the one registry of metrics.
* :func:`evaluate`: every requested metric of the table on one representation.
* :func:`evaluate_group`: :func:`evaluate` of S models of one architecture at once, their
  parameters stacked on a model axis (vmapped programs).
* :func:`evaluate_without_factors`: what :func:`evaluate` does for images without known
  factors (CelebA): factor metrics skipped, :func:`attribute_probes` on labels, and
  :func:`reconstruction_scores` of a trained VAE.
* :data:`ANCHORS` / :func:`anchors_for`: published scores, each with the evaluation key
  and protocol it compares with.

Example:
  >>> from disentax import evaluation
  >>> sorted(evaluation.METRICS)[:3]
  ['beta_vae_score', 'dci', 'downstream']
"""

from disentax.evaluation.anchors import (
    ANCHORS,
    PROTOCOLS,
    TITLES,
    Anchor,
    anchors_for,
    labelled,
)
from disentax.evaluation.group import evaluate_group
from disentax.evaluation.representation import (
    make_posterior_fn,
    make_representation_fn,
    sample_codes,
)
from disentax.evaluation.suite import EVAL_SIZES, Scored, evaluate, resolve_eval_sizes
from disentax.evaluation.table import KINDS, METRICS, Metric
from disentax.evaluation.unlabelled import (
    attribute_probes,
    evaluate_without_factors,
    reconstruction_scores,
)

__all__ = [
    "ANCHORS",
    "Anchor",
    "EVAL_SIZES",
    "KINDS",
    "METRICS",
    "PROTOCOLS",
    "TITLES",
    "Metric",
    "Scored",
    "anchors_for",
    "attribute_probes",
    "evaluate",
    "evaluate_group",
    "evaluate_without_factors",
    "labelled",
    "make_posterior_fn",
    "make_representation_fn",
    "reconstruction_scores",
    "resolve_eval_sizes",
    "sample_codes",
]
