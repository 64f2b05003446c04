"""disentax.evaluation: representation functions from (model, params) and the metric suite.

* :func:`make_representation_fn` / :func:`make_posterior_fn`: a trained VAE as
  ``images -> codes`` (or ``images -> (mean, logvar)``), jittable.
* :func:`sample_codes`: factors drawn, rendered and encoded in one jitted program.
* :func:`evaluate` and its metric table :data:`METRICS`: every metric on one representation.
* :func:`evaluate_workdir`: the same for a run folder, writing ``evaluation.json``.
"""

from disentax.evaluation.suite import (
    EVAL_SIZES,
    METRICS,
    evaluate,
    make_posterior_fn,
    make_representation_fn,
    resolve_eval_sizes,
    sample_codes,
)
from disentax.evaluation.workdir import SECOND_WORKER_METRICS, default_workers, evaluate_workdir

__all__ = [
    "EVAL_SIZES",
    "METRICS",
    "SECOND_WORKER_METRICS",
    "default_workers",
    "evaluate",
    "evaluate_workdir",
    "make_posterior_fn",
    "make_representation_fn",
    "resolve_eval_sizes",
    "sample_codes",
]
