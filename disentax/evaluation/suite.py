"""Scoring a representation: representation functions, train/test sets, every metric.

* :func:`make_representation_fn` turns a trained VAE into ``images -> codes`` (the
  posterior mean by default, a posterior sample with ``mode="sampled"``), as a
  ``jax.tree_util.Partial`` so the parameters are arguments of jitted programs.
* :func:`sample_codes` draws factors, renders and encodes them in one jitted program.
* :func:`evaluate` draws the reference-sized train and test sets (10,000 / 5,000 points,
  as disentanglement_lib's study configs) and runs the requested metrics, timing each.

Metric names (:data:`METRICS`): ``mig``, ``mig_sampled``, ``sap``, ``dci``,
``modularity``, ``explicitness``, ``irs``, ``unsupervised``, ``beta_vae_score``,
``factor_vae_score``, ``downstream``. Scores are flat ``/``-joined keys, e.g.
``dci/disentanglement``; ``beta_vae_score`` and ``factor_vae_score`` hold the evaluation
accuracy (their train accuracy and details sit under ``beta_vae_score/...``). UDR needs
several models and is not part of a single-run evaluation.

References:
  Locatello et al., ICML 2019 (disentanglement_lib ``evaluation/evaluate.py`` and the
  study's ``metric_configs``: every metric with ``evaluation.random_seed = 0``).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from disentax import metrics as M
from disentax.metrics.interventions import (
    check_interventional_args,
    chunking,
    map_chunks,
    split_representation_fn,
)
from disentax.typing import Array, PRNGKey

__all__ = [
    "EVAL_SIZES",
    "METRICS",
    "evaluate",
    "make_posterior_fn",
    "make_representation_fn",
    "resolve_eval_sizes",
    "sample_codes",
]


@dataclasses.dataclass(frozen=True)
class _Encoder:
    """Static part of a representation function: the model and what to return."""

    model: object
    mode: str

    def __call__(self, params, key, images):
        from disentax.models.vae import encode

        mean, logvar = encode(self.model, params, images)
        if self.mode == "mean":
            return mean
        if self.mode == "posterior":
            return mean, logvar
        # One fixed-noise draw per image: the noise key is folded with a hash of the
        # pixels, so the same image always gets the same sample.
        flat = images.reshape(images.shape[0], -1)
        weights = jax.random.uniform(jax.random.key(17), (flat.shape[1],), jnp.float32)
        hashes = jax.lax.bitcast_convert_type(flat @ weights, jnp.uint32)
        noise = jax.vmap(lambda h: jax.random.normal(jax.random.fold_in(key, h), mean.shape[1:]))
        return mean + jnp.exp(0.5 * logvar) * noise(hashes)


def make_representation_fn(model, params, *, mode: str = "mean", key: PRNGKey | None = None):
    """``images [M, H, W, C] -> codes [M, L]`` of a VAE, as a jittable pytree callable.

    Args:
      model: a :class:`disentax.models.VAE`.
      params: its parameters.
      mode: ``"mean"`` (the posterior mean, the study's default) or ``"sampled"``
        (``mean + exp(logvar / 2) * eps``, with ``eps`` a fixed function of ``key`` and
        the image, so repeated calls agree).
      key: PRNG key of the ``"sampled"`` noise (default ``jax.random.key(0)``).

    Returns:
      A ``jax.tree_util.Partial``: call it on images; pass it to jitted functions.
    """
    if mode not in ("mean", "sampled"):
        raise ValueError(f"mode must be 'mean' or 'sampled', got {mode!r}")
    key = jax.random.key(0) if key is None else key
    return jax.tree_util.Partial(_Encoder(model, mode), params, key)


def make_posterior_fn(model, params):
    """``images -> (mean [M, L], logvar [M, L])`` of a VAE (for ``mig_sampled``)."""
    return jax.tree_util.Partial(_Encoder(model, "posterior"), params, jax.random.key(0))


@functools.partial(jax.jit, static_argnames=("static_fn", "num", "points_per_chunk"))
def _sample_codes(key, dataset, dyn_fn, *, static_fn, num, points_per_chunk):
    represent = static_fn if static_fn is not None else dyn_fn
    num_chunks, padded = chunking(num, points_per_chunk)

    def chunk_fn(keys):
        factors = jax.vmap(lambda k: dataset.sample_factors(k, 1)[0])(keys)
        return represent(dataset.observations(factors)), factors

    codes, factors = map_chunks(chunk_fn, jax.random.split(key, padded), num_chunks)
    return jax.tree_util.tree_map(lambda a: a[:num], codes), factors[:num]


def sample_codes(key, dataset, representation_fn, num: int, *, points_per_chunk: int = 1000):
    """``(codes [num, L], factors [num, F])`` of ``num`` random points, one jitted program.

    ``codes`` is whatever ``representation_fn`` returns per image (a tuple for
    :func:`make_posterior_fn`).
    """
    check_interventional_args(key, dataset, num=num, points_per_chunk=points_per_chunk)
    dyn_fn, static_fn = split_representation_fn(representation_fn)
    return _sample_codes(
        key,
        dataset,
        dyn_fn,
        static_fn=static_fn,
        num=int(num),
        points_per_chunk=int(points_per_chunk),
    )


def _scalars(prefix: str, values: dict) -> dict[str, Array]:
    return {f"{prefix}/{k}": v for k, v in values.items()}


def _run_dci(s):
    out = M.dci(s.codes_train, s.factors_train, s.codes_test, s.factors_test, num_classes=s.sizes)
    s.matrices["dci_importance"] = out.pop("importance")
    out["informativeness"] = out["informativeness_test"]
    return _scalars("dci", out)


def _run_mig(s):
    bins = M.histogram_discretize(s.codes_train, num_bins=20)
    s.matrices["mutual_info"] = M.discrete_mutual_info(bins, s.factors_train)
    return {"mig": M.mig(s.codes_train, s.factors_train)}


def _run_mig_sampled(s):
    if s.posterior_fn is None:
        return None
    (mean, logvar), factors = sample_codes(
        jax.random.fold_in(s.key, 3), s.dataset, s.posterior_fn, s.num_train
    )
    return {"mig_sampled": M.mig_sampled(jax.random.fold_in(s.key, 4), mean, logvar, factors)}


def _run_irs(s):
    out = M.irs(s.codes_train, s.factors_train)
    s.matrices["irs_matrix"] = out.pop("irs_matrix")
    return {"irs": out["irs"], "irs/num_active_dims": out["num_active_dims"]}


def _run_beta_vae(s):
    sizes = {k: v for k, v in s.interventional.items() if k != "num_variance_estimate"}
    out = M.beta_vae_score(jax.random.fold_in(s.key, 5), s.dataset, s.representation_fn, **sizes)
    return {"beta_vae_score": out["eval_accuracy"], **_scalars("beta_vae_score", out)}


def _run_factor_vae(s):
    out = M.factor_vae_score(
        jax.random.fold_in(s.key, 6), s.dataset, s.representation_fn, **s.interventional
    )
    return {"factor_vae_score": out["eval_accuracy"], **_scalars("factor_vae_score", out)}


# Name -> function of the evaluation state returning {key: scalar} (None: skipped).
METRICS: dict[str, Callable] = {
    "mig": _run_mig,
    "mig_sampled": _run_mig_sampled,
    "sap": lambda s: {"sap": M.sap(s.codes_train, s.factors_train, s.codes_test, s.factors_test)},
    "dci": _run_dci,
    "modularity": lambda s: {"modularity": M.modularity(s.codes_train, s.factors_train)},
    "explicitness": lambda s: _scalars(
        "explicitness",
        M.explicitness(s.codes_train, s.factors_train, s.codes_test, s.factors_test),
    ),
    "irs": _run_irs,
    "unsupervised": lambda s: _scalars("unsupervised", M.unsupervised_scores(s.codes_train)),
    "beta_vae_score": _run_beta_vae,
    "factor_vae_score": _run_factor_vae,
    "downstream": lambda s: _scalars(
        "downstream",
        M.downstream_task(
            s.codes_train,
            s.factors_train,
            s.codes_test,
            s.factors_test,
            num_train=tuple(n for n in (10, 100, 1000, 10000) if n <= s.num_train),
            num_classes=s.sizes,
        ),
    ),
}


@dataclasses.dataclass
class _State:
    key: PRNGKey
    dataset: object
    representation_fn: Callable
    posterior_fn: Callable | None
    num_train: int
    sizes: tuple[int, ...]
    interventional: dict
    codes_train: Array = None
    factors_train: Array = None
    codes_test: Array = None
    factors_test: Array = None
    matrices: dict = dataclasses.field(default_factory=dict)


# Metrics that draw their own points (keys folded from the evaluation key) instead of
# scoring the shared train/test sets; when only these run, the sets are not drawn.
OWN_POINTS = frozenset({"mig_sampled", "beta_vae_score", "factor_vae_score"})


def _num_codes(dataset, representation_fn) -> int:
    """``L`` of ``representation_fn`` on ``dataset`` (shapes only; nothing is computed)."""

    def one(key):
        return representation_fn(dataset.observations(dataset.sample_factors(key, 1)))

    return int(jax.eval_shape(one, jax.random.key(0)).shape[1])


_INTERVENTIONAL_SIZES = {
    "batch_size": 64,
    "num_train": 10000,
    "num_eval": 5000,
    "num_variance_estimate": 10000,
}

# Named sizes of the BetaVAE/FactorVAE scores. "reference" is the study's (about 1.9M and
# 1M encoded images: seconds on an accelerator, ~20 CPU-minutes on a CPU core); "quick"
# keeps the reference batch (64) and variance estimate but votes 500 train / 300 eval
# times, about 0.16M images in all. "auto" is "reference" on accelerators, "quick" on CPU.
# The sizes used are recorded in evaluation.json.
EVAL_SIZES = {
    "reference": {},
    "quick": {"num_train": 500, "num_eval": 300},
}


def resolve_eval_sizes(name: str) -> dict:
    """``interventional_sizes`` overrides of a named preset (``auto``/``reference``/``quick``)."""
    if name == "auto":
        name = "quick" if jax.default_backend() == "cpu" else "reference"
    if name not in EVAL_SIZES:
        raise ValueError(f"eval_sizes must be one of {['auto', *EVAL_SIZES]}, got {name!r}")
    return dict(EVAL_SIZES[name])


def _to_json(value):
    array = np.asarray(value)
    if array.ndim == 0:
        return array.item()
    return array.tolist()


def evaluate(
    key: PRNGKey,
    dataset,
    representation_fn: Callable[[Array], Array],
    *,
    metrics: Sequence[str] | None = None,
    num_train: int = 10000,
    num_test: int = 5000,
    posterior_fn: Callable | None = None,
    interventional_sizes: Mapping[str, int] | None = None,
) -> dict:
    """Scores ``representation_fn`` on ``dataset`` with the requested metrics.

    The train and test sets (``num_train`` / ``num_test`` random points, factors and
    codes) are drawn once from ``key`` and shared by the array metrics; the
    interventional scores (BetaVAE, FactorVAE) and ``mig_sampled`` draw their own points
    from keys folded from ``key``, at the reference sizes.

    Args:
      key: typed PRNG key.
      dataset: :class:`disentax.data.GroundTruthData` with jittable observations.
      representation_fn: jittable ``images -> codes [M, L]``.
      metrics: names from :data:`METRICS` (default: all).
      num_train: training points (reference: 10000).
      num_test: test points (reference: 5000).
      posterior_fn: ``images -> (mean, logvar)`` for ``mig_sampled`` (skipped without).
      interventional_sizes: overrides of the BetaVAE/FactorVAE sizes ``batch_size``,
        ``num_train``, ``num_eval``, ``num_variance_estimate`` (default: the
        reference's 64 / 10000 / 5000 / 10000).

    Returns:
      dict with ``metrics`` (name -> float), ``matrices`` (``mutual_info`` and
      ``dci_importance`` ``[L, F]`` when those metrics ran, ``irs_matrix``), ``seconds``
      (per metric, plus ``sampling``; wall clock including compilation), ``sizes``,
      ``skipped`` (metrics that could not run, with the reason).
    """
    names = list(METRICS) if metrics is None else list(metrics)
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: {sorted(METRICS)}")
    check_interventional_args(key, dataset, num_train=num_train, num_test=num_test)
    interventional = dict(_INTERVENTIONAL_SIZES)
    extra = set(interventional_sizes or {}) - set(interventional)
    if extra:
        raise ValueError(f"interventional_sizes: unknown keys {sorted(extra)}")
    interventional.update(interventional_sizes or {})
    state = _State(
        key=key,
        dataset=dataset,
        representation_fn=representation_fn,
        posterior_fn=posterior_fn,
        num_train=int(num_train),
        sizes=tuple(int(k) for k in dataset.factor_sizes),
        interventional=interventional,
    )
    seconds = {}
    if any(name not in OWN_POINTS for name in names):
        start = time.perf_counter()
        state.codes_train, state.factors_train = sample_codes(
            jax.random.fold_in(key, 1), dataset, representation_fn, num_train
        )
        state.codes_test, state.factors_test = sample_codes(
            jax.random.fold_in(key, 2), dataset, representation_fn, num_test
        )
        jax.block_until_ready((state.codes_train, state.codes_test))
        seconds["sampling"] = time.perf_counter() - start
        num_codes = int(state.codes_train.shape[1])
    else:  # only metrics that draw their own points: the shared sets are not needed
        num_codes = _num_codes(dataset, representation_fn)
    scores, skipped = {}, {}
    for name in names:
        start = time.perf_counter()
        try:
            out = METRICS[name](state)
        except ValueError as err:  # degenerate-but-valid input, e.g. constant codes
            skipped[name] = str(err)
            continue
        if out is None:
            skipped[name] = "needs posterior_fn (mean and logvar)"
            continue
        out = jax.block_until_ready(out)
        seconds[name] = time.perf_counter() - start
        scores.update({k: _to_json(v) for k, v in out.items()})
    return {
        "metrics": scores,
        "matrices": {k: _to_json(v) for k, v in state.matrices.items()},
        "seconds": seconds,
        "sizes": {
            "num_train": int(num_train),
            "num_test": int(num_test),
            "num_codes": num_codes,
            "factor_sizes": list(state.sizes),
            "interventional": interventional,
        },
        "skipped": skipped,
    }
