"""Scoring a representation: representation functions, train/test sets, every metric.

* :func:`make_representation_fn` turns a trained VAE into ``images -> codes`` (the
  posterior mean by default, a posterior sample with ``mode="sampled"``), as a
  ``jax.tree_util.Partial`` so the parameters are arguments of jitted programs.
* :func:`sample_codes` draws factors, renders and encodes them in one jitted program.
* :func:`evaluate` draws the reference-sized train and test sets (10,000 / 5,000 points,
  as disentanglement_lib's study configs) and runs the requested metrics, timing each.
* :func:`evaluate_workdir` does that for a run folder and writes ``evaluation.json``.

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
import json
import os
import pathlib
import sys
import time
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import disentax
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
    "evaluate_workdir",
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


# The metrics a second worker process takes (``evaluate_workdir(workers=2)``): the
# interventional BetaVAE score and ``mig_sampled`` draw their own points, so that worker
# skips the shared train/test sets; on the 2-core development machine they are about half
# of a default run's evaluation (49 + 8 of 129 s, evaluation.json of a `disentax train`).
SECOND_WORKER_METRICS = ("beta_vae_score", "mig_sampled")


def default_workers() -> int:
    """Evaluation processes for this machine: 2 on a CPU backend with 2 or more cores
    (XLA:CPU runs one program at a time on one core per device), else 1."""
    if jax.default_backend() != "cpu" or jax.process_count() > 1:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return 2 if cores >= 2 else 1


def evaluate_workdir(
    workdir,
    *,
    metrics: Sequence[str] | None = None,
    step: int | None = None,
    seed: int = 0,
    num_train: int = 10000,
    num_test: int = 5000,
    interventional_sizes: Mapping[str, int] | None = None,
    eval_sizes: str | None = None,
    workers: int = 1,
) -> dict:
    """Evaluates the run in ``workdir`` and writes ``workdir/evaluation.json``.

    Args:
      workdir: a run folder written by ``disentax train``.
      metrics: names from :data:`METRICS` (default: all).
      step: checkpoint step (default: the newest).
      seed: evaluation seed (the study's ``evaluation.random_seed = 0``).
      num_train, num_test, interventional_sizes: as in :func:`evaluate` (default: the
        reference sizes; the BetaVAE/FactorVAE scores encode about 1.9M and 1M images
        there, seconds on an accelerator but many minutes on a CPU).
      eval_sizes: a named preset of :data:`EVAL_SIZES` (``"auto"``, ``"reference"``,
        ``"quick"``) used when ``interventional_sizes`` is not given.
      workers: 2 scores :data:`SECOND_WORKER_METRICS` in a second Python process (on the
        same backend) while this one scores the rest; the scores are those of one process
        (each metric's points come from its own key). :func:`default_workers` picks 2 on
        a multi-core CPU. If the second process fails, its metrics run here.

    Returns:
      The record written: ``step``, ``metrics``, ``matrices``, ``seconds``, ``sizes``,
      ``skipped``, ``seed``, ``representation``, ``version``, ``workers`` (how many
      processes scored, and the second one's metrics and wall seconds).

    Raises:
      FileNotFoundError: no run (config or checkpoint) in ``workdir``.
    """
    from disentax.train import load_run

    if interventional_sizes is None and eval_sizes is not None:
        interventional_sizes = resolve_eval_sizes(eval_sizes)
    workdir = pathlib.Path(workdir)
    names = list(METRICS) if metrics is None else list(metrics)
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: {sorted(METRICS)}")
    start = time.perf_counter()
    helper = None
    if workers > 1:
        if step is None:
            step = _latest_step(workdir)
        second = [m for m in names if m in SECOND_WORKER_METRICS]
        if second and len(second) < len(names):
            args = {
                "workdir": str(workdir.absolute()),
                "metrics": second,
                "step": step,
                "seed": seed,
                "num_train": num_train,
                "num_test": num_test,
                "interventional_sizes": interventional_sizes,
            }
            helper = _Worker(args)
            names = [m for m in names if m not in second]
    try:
        run = load_run(workdir, step=step)
        representation_fn = make_representation_fn(run.model, run.params)
        posterior_fn = make_posterior_fn(run.model, run.params)

        def here(which):
            return evaluate(
                jax.random.key(seed),
                run.dataset,
                representation_fn,
                metrics=which,
                num_train=num_train,
                num_test=num_test,
                posterior_fn=posterior_fn,
                interventional_sizes=interventional_sizes,
            )

        result = here(names)
        workers_record = {"processes": 1}
        if helper is not None:
            other = helper.result()
            workers_record = {
                "processes": 2,
                "second_process": {
                    "metrics": helper.metrics,
                    "seconds": helper.seconds,
                    "failed": other is None,
                },
            }
            if other is None:  # the second process failed (reported): score its part here
                other = here(helper.metrics)
            _merge(result, other)
    finally:
        if helper is not None:
            helper.stop()
    result["seconds"]["total"] = time.perf_counter() - start
    record = {
        "step": int(run.step),
        **result,
        "seed": int(seed),
        "representation": "mean",
        "version": disentax.__version__,
        "jax_version": jax.__version__,
        "device": jax.devices()[0].device_kind,
        "workers": workers_record,
    }
    tmp = workdir / "evaluation.json.tmp"
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, workdir / "evaluation.json")
    return record


def _latest_step(workdir: pathlib.Path) -> int | None:
    """The newest checkpoint step (None: let ``load_run`` report the missing run)."""
    folder = workdir / "checkpoints"
    if not folder.is_dir():
        return None
    from disentax.train.checkpoint import Checkpoints

    checkpoints = Checkpoints(folder, read_only=True)
    try:
        return checkpoints.latest_step()
    finally:
        checkpoints.close()


def _merge(result: dict, other: dict) -> None:
    """Adds the second process's metrics, matrices, seconds and skips to ``result``."""
    for part in ("metrics", "matrices", "seconds", "skipped"):
        result[part].update(other[part])
    if "sampling" in other["seconds"]:
        result["seconds"]["sampling"] = other["seconds"]["sampling"]


class _Worker:
    """A second ``python`` process scoring some metrics of a run folder (CPU workers)."""

    def __init__(self, args: dict):
        import subprocess
        import tempfile

        self.metrics = list(args["metrics"])
        self.seconds = None  # the process's wall seconds, from start to exit
        self._start = time.perf_counter()
        self._dir = tempfile.TemporaryDirectory(prefix="disentax-eval-")
        self._out = pathlib.Path(self._dir.name) / "result.json"
        self._log = open(pathlib.Path(self._dir.name) / "log.txt", "w+b")  # noqa: SIM115
        command = [
            sys.executable,
            "-c",
            "import sys; from disentax.evaluation import _worker_main; _worker_main(sys.argv[1:])",
            json.dumps({**args, "out": str(self._out)}),
        ]
        self._proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )

    def result(self) -> dict | None:
        """Waits for the process; its partial result, or None (reported) if it failed."""
        code = self._proc.wait()
        self.seconds = time.perf_counter() - self._start
        if code == 0 and self._out.is_file():
            return json.loads(self._out.read_text(encoding="utf-8"))
        self._log.seek(0)
        tail = self._log.read().decode(errors="replace")[-2000:]
        print(
            f"evaluation: the second process scoring {self.metrics} failed (exit status "
            f"{code}); scoring them in this process instead. Its output:\n{tail}",
            file=sys.stderr,
            flush=True,
        )
        return None

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except Exception:  # noqa: BLE001 -- still running: end it
                self._proc.kill()
                self._proc.wait()
        self._log.close()
        self._dir.cleanup()


def _worker_main(argv: Sequence[str]) -> None:
    """Entry of the second evaluation process: scores ``metrics`` and writes JSON."""
    from disentax.runtime import configure_host_allocator
    from disentax.train import load_run

    # this process is ours: reuse XLA's temporary buffers, whichever thread allocates them
    configure_host_allocator(default="one_arena")
    args = json.loads(argv[0])
    run = load_run(args["workdir"], step=args["step"])
    result = evaluate(
        jax.random.key(args["seed"]),
        run.dataset,
        make_representation_fn(run.model, run.params),
        metrics=args["metrics"],
        num_train=args["num_train"],
        num_test=args["num_test"],
        posterior_fn=make_posterior_fn(run.model, run.params),
        interventional_sizes=args["interventional_sizes"],
    )
    out = pathlib.Path(args["out"])
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result), encoding="utf-8")
    os.replace(tmp, out)
