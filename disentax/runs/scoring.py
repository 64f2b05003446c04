"""Evaluation of a run folder: its evaluation record, optionally with a second process.

* :func:`evaluate` scores a run folder's checkpoint with :func:`disentax.evaluation.evaluate`
  and writes the folder's evaluation record.
* :func:`default_workers` picks how many evaluation processes suit this machine.

The second process ends with this one: Linux kills it when its parent dies, and SIGTERM
or SIGHUP here first ends it, then this process. Its output and result go to anonymous
temporary files, so nothing is left behind whatever ends the job.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence

import jax

import disentax
from disentax import evaluation
from disentax.runs import terminal
from disentax.runs.folder import RunFolder
from disentax.runs.loading import LoadedRun, load
from disentax.runs.lock import holds_workdir
from disentax.train.runtime import print_line, unwind_on_termination

__all__ = ["SECOND_WORKER_METRICS", "default_workers", "evaluate"]


# The metrics a second worker process takes (``evaluate(workers=2)``): the interventional
# BetaVAE score and ``mig_sampled`` draw their own points, so that worker skips the shared
# train/test sets, and they are a large share of a CPU evaluation (see the performance notes).
SECOND_WORKER_METRICS = ("beta_vae_score", "mig_sampled", "mig_chen2018")
# Left out of a default (all-metric) evaluation at the quick sizes: it encodes and scores
# the whole factor grid (minutes of CPU on dSprites); name it in `metrics` to run it.
FULL_GRID_METRICS = ("mig_chen2018",)
# Also left out at the quick sizes: the shifted downstream tasks fit a tree probe per
# factor and per intervention (minutes of CPU each); name them in `metrics` to run them.
SLOW_PROBE_METRICS = ("strong_downstream_task", "reduced_downstream_task")


def default_workers() -> int:
    """Evaluation processes for this machine: 2 on a multi-core CPU backend, else 1.

    XLA:CPU runs one program at a time on one core per device, so a second process uses
    the second core.
    """
    if jax.default_backend() != "cpu" or jax.process_count() > 1:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return 2 if cores >= 2 else 1


@holds_workdir("evaluate")
def evaluate(
    workdir: str | os.PathLike,
    *,
    metrics: Sequence[str] | None = None,
    step: int | None = None,
    seed: int = 0,
    num_train: int = 10000,
    num_test: int = 5000,
    interventional_sizes: Mapping[str, int] | None = None,
    eval_sizes: str | None = "auto",
    workers: int = 1,
) -> dict:
    """Evaluates the run in ``workdir`` and writes its evaluation record.

    Args:
      workdir: a run folder written by ``disentax train``.
      metrics: names from :data:`disentax.evaluation.METRICS` (default: all).
      step: checkpoint step (default: the newest).
      seed: evaluation seed (the study's ``evaluation.random_seed = 0``).
      num_train: shared training points of the array metrics (reference: 10000).
      num_test: shared test points (reference: 5000).
      interventional_sizes: BetaVAE/FactorVAE sizes as in
        :func:`disentax.evaluation.evaluate`; when given, ``eval_sizes`` is not used.
      eval_sizes: a named preset of :data:`disentax.evaluation.EVAL_SIZES` used when
        ``interventional_sizes`` is not given: ``"auto"`` (default: quick on a CPU,
        reference elsewhere), ``"reference"`` (about 1.9M and 1M encoded images: seconds
        on an accelerator, many minutes on a CPU), ``"quick"``; None: the reference
        sizes. At the quick sizes the default metric set leaves out
        :data:`FULL_GRID_METRICS` and :data:`SLOW_PROBE_METRICS`.
      workers: 2 scores :data:`SECOND_WORKER_METRICS` in a second Python process (on the
        same backend) while this one scores the rest; the scores are those of one process
        (each metric's points come from its own key). :func:`default_workers` picks 2 on
        a multi-core CPU. If the second process fails, its metrics run here.

    Prints (standard output) a line as it starts, one per metric as it ends (headline
    score and time), and one when the record is written.

    Returns:
      The record written: ``step``, ``metrics``, ``matrices``, ``seconds``, ``sizes``,
      ``skipped``, ``seed``, ``representation``, ``version``, ``workers`` (how many
      processes scored, and the second one's metrics and wall seconds). When the folder
      already held a record of the same checkpoint, seed and sizes, the scores of the
      metrics not scored now are kept from it and named under ``kept_from_earlier``.

    Raises:
      FileNotFoundError: no run (stored config or checkpoint) in ``workdir``, or the
        ``step`` asked for cannot be read (without ``step``, unreadable checkpoints are
        passed over for the newest readable one).
      ValueError: an unknown metric name, preset or size; or every metric was skipped
        (nothing is written).
    """
    names, interventional_sizes = resolve_metrics(metrics, interventional_sizes, eval_sizes)
    folder = RunFolder(workdir)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1 (2: a second process), got {workers!r}")
    sizes = {
        "seed": int(seed),
        "num_train": num_train,
        "num_test": num_test,
        "interventional_sizes": interventional_sizes,
    }
    start = time.perf_counter()
    second = [m for m in names if m in SECOND_WORKER_METRICS] if workers > 1 else []
    asked, helper = list(names), None
    with unwind_on_termination():  # SIGTERM/SIGHUP: the second process ends first
        if second and len(second) < len(names):
            # step None: each process falls back past unreadable checkpoints alike
            helper = _Worker(
                {"workdir": str(folder.path), "metrics": second, "step": step, **sizes}
            )
            names = [m for m in names if m not in second]
        try:
            run = load(folder.path, step=step)
            votes = terminal.describe_votes(interventional_sizes)
            say(
                terminal.evaluation_line(
                    folder.path,
                    run.step,
                    asked,
                    votes=votes,
                    processes=1 if helper is None else 2,
                )
            )
            scoring = {**sizes, "progress_fn": _say_metric}
            result = _score(run, names, **scoring)
            workers_record = {"processes": 1}
            if helper is not None:
                workers_record = _collect(
                    helper, run.step, result, functools.partial(_score, run, **scoring)
                )
        finally:
            if helper is not None:
                helper.stop()
    if result["skipped"] and not result["metrics"]:
        reasons = "; ".join(f"{name}: {why}" for name, why in result["skipped"].items())
        raise ValueError(
            f"evaluation of {folder.path} (checkpoint {run.step}) scored nothing, every "
            f"metric was skipped ({reasons}); {folder.EVALUATION} was not written"
        )
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
    record = _with_earlier_scores(folder, record, asked)
    path = folder.write_json(folder.evaluation, record)
    say(f"evaluation done in {terminal.duration(result['seconds']['total'])}: {path}")
    return record


def resolve_metrics(
    metrics: Sequence[str] | None,
    interventional_sizes: Mapping[str, int] | None,
    eval_sizes: str | None,
) -> tuple[list[str], Mapping[str, int] | None]:
    """The metric names and BetaVAE/FactorVAE sizes an evaluation of a run folder scores.

    Without ``metrics``, every metric of the table; at the quick sizes less the
    :data:`FULL_GRID_METRICS` and :data:`SLOW_PROBE_METRICS` (named ones always run).

    Raises:
      ValueError: an unknown metric name or size preset.
    """
    quick = False
    if interventional_sizes is None and eval_sizes is not None:
        interventional_sizes = evaluation.resolve_eval_sizes(eval_sizes)
        quick = interventional_sizes == evaluation.EVAL_SIZES["quick"]
    names = list(evaluation.METRICS) if metrics is None else list(metrics)
    if metrics is None and quick:
        names = [m for m in names if m not in FULL_GRID_METRICS + SLOW_PROBE_METRICS]
    unknown = [m for m in names if m not in evaluation.METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: {sorted(evaluation.METRICS)}")
    return names, interventional_sizes


# The sizes two records must share for their scores to sit in one record.
_SHARED_SIZES = ("num_train", "num_test", "interventional")


def _owned_by(key: str, names: Sequence[str], matrices: bool) -> bool:
    """Whether ``key`` of a record is an output of one of the metrics ``names``."""
    for name in names:
        entry = evaluation.METRICS.get(name)
        if key == name or key.startswith(name + "/"):
            return True
        if matrices and entry is not None and key in entry.matrices:
            return True
    return False


def _with_earlier_scores(folder: RunFolder, record: dict, asked: Sequence[str]) -> dict:
    """``record`` with the earlier record's scores of the metrics it did not score.

    Scoring a few metrics again (``disentax evaluate --metrics X``) must not lose the
    others: when the folder's record scored the same checkpoint with the same seed and
    sizes, its other metrics are kept and named under ``kept_from_earlier``. A record
    of another checkpoint, seed or sizes is replaced (said in a line).
    """
    try:
        earlier = folder.read_json(folder.evaluation)
    except ValueError as err:
        say(f"  replacing an unreadable {folder.EVALUATION}: {err}")
        return record
    if not isinstance(earlier, dict) or not isinstance(earlier.get("metrics"), dict):
        return record
    same = (
        earlier.get("step") == record["step"]
        and earlier.get("seed") == record["seed"]
        and earlier.get("representation") == record["representation"]
        and all(
            (earlier.get("sizes") or {}).get(k) == (record.get("sizes") or {}).get(k)
            for k in _SHARED_SIZES
        )
    )
    if not same:
        say(
            f"  replacing the record of checkpoint {earlier.get('step')} (another "
            "checkpoint, seed or sizes: its scores do not mix with these)"
        )
        return record
    timed = set(earlier.get("seconds", {})) | set(earlier.get("skipped", {}))
    kept = sorted(timed - set(asked) - {"total", "sampling"})
    if not kept:
        return record
    merged = dict(record)
    for part in ("metrics", "matrices"):
        old = {
            k: v
            for k, v in (earlier.get(part) or {}).items()
            if not _owned_by(k, asked, matrices=part == "matrices")
        }
        merged[part] = {**old, **record[part]}
    for part in ("seconds", "skipped"):
        old = {k: v for k, v in (earlier.get(part) or {}).items() if k in kept}
        merged[part] = {**old, **record[part]}
    merged["sizes"] = {**(earlier.get("sizes") or {}), **(record.get("sizes") or {})}
    merged["kept_from_earlier"] = kept
    say(f"  kept the earlier scores of this checkpoint for {', '.join(kept)}")
    return merged


def say(text: str) -> None:
    """Prints one line of the job on standard output (a closed pipe is no error)."""
    print_line(text, file=sys.stdout)


def _say_metric(name: str, outcome, seconds: float, note: str = "") -> None:
    say(terminal.metric_line(name, outcome, seconds, note=note))


def _score(
    run: LoadedRun, names, *, seed, num_train, num_test, interventional_sizes, progress_fn=None
) -> dict:
    """:func:`disentax.evaluation.evaluate` of a loaded run's posterior mean.

    A dataset without ground-truth factors also gets the reconstruction error.
    """
    result = evaluation.evaluate(
        jax.random.key(seed),
        run.dataset,
        evaluation.make_representation_fn(run.model, run.params),
        metrics=names,
        num_train=num_train,
        num_test=num_test,
        posterior_fn=evaluation.make_posterior_fn(run.model, run.params),
        interventional_sizes=interventional_sizes,
        progress_fn=progress_fn,
    )
    if not getattr(run.dataset, "has_factors", True):
        from disentax.evaluation.unlabelled import reconstruction_scores

        kind = run.config.get("reconstruction", "bernoulli")
        key = jax.random.fold_in(jax.random.key(seed), 3)
        scores = reconstruction_scores(
            key, run.dataset, run.model, run.params, kind=kind, num=num_test
        )
        result["metrics"].update(scores)
    return result


def _collect(helper, step: int, result: dict, score_here) -> dict:
    """Merges the second process's part into ``result``; returns the ``workers`` record.

    If the second process failed, or scored another checkpoint than ``step``, its metrics
    are scored here.
    """
    if helper.running():
        say(f"  waiting for the second process ({', '.join(helper.metrics)})")
    other = helper.result()
    if other is not None and other.pop("step", step) != step:
        print_line(
            f"evaluation: the second process read another checkpoint than step {step}; "
            f"scoring {helper.metrics} in this process instead"
        )
        other = None
    record = {
        "processes": 2,
        "second_process": {
            "metrics": helper.metrics,
            "seconds": helper.seconds,
            "failed": other is None,
        },
    }
    if other is None:  # the second process failed (reported): score its part here
        other = score_here(helper.metrics)
    else:
        for name in helper.metrics:
            outcome = other["skipped"].get(name) or other["metrics"]
            seconds = other["seconds"].get(name, 0.0)
            _say_metric(name, outcome, seconds, note="second process")
    _merge(result, other)
    return record


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
        # anonymous files (no name on disk): nothing is left behind, even after a kill -9
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 -- closed by stop()
        self._out = tempfile.TemporaryFile()  # noqa: SIM115 -- closed by stop()
        out = self._out.fileno()
        command = [
            sys.executable,
            "-c",
            "import sys; from disentax.runs.scoring import _worker_main; "
            "_worker_main(sys.argv[1:])",
            json.dumps({**args, "out": out, "parent": os.getpid()}),
        ]
        self._proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            pass_fds=(out,),
        )

    def result(self) -> dict | None:
        """Waits for the process; its partial result, or None (reported) if it failed."""
        code = self._proc.wait()
        self.seconds = time.perf_counter() - self._start
        if code == 0:
            self._out.seek(0)
            try:
                return json.loads(self._out.read().decode("utf-8"))
            except ValueError:
                pass
        if code < 0:
            why = f"ended by signal {-code}"
        else:
            self._log.seek(0)
            lines = self._log.read().decode(errors="replace").strip().splitlines()
            why = f"exit status {code}" + (f": {lines[-1][:300]}" if lines else "")
        print_line(
            f"evaluation: the second process scoring {self.metrics} failed ({why}); "
            "scoring them in this process instead"
        )
        return None

    def running(self) -> bool:
        """Whether the process has not ended yet."""
        return self._proc.poll() is None

    def stop(self) -> None:
        """Ends the process if it still runs; closes (and so deletes) its files."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except Exception:  # noqa: BLE001 -- still running: end it
                self._proc.kill()
                self._proc.wait()
        self._log.close()
        self._out.close()


def _end_with_parent(parent: int) -> None:
    """Has Linux kill this process when its parent dies (``prctl(PR_SET_PDEATHSIG)``)."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the parent's stop() still ends it
            pass
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _worker_main(argv: Sequence[str]) -> None:
    """Entry of the second evaluation process: scores ``metrics`` and writes JSON."""
    args = json.loads(argv[0])
    _end_with_parent(args["parent"])
    from disentax import _allocator

    # this process is ours: reuse XLA's temporary buffers, whichever thread allocates them
    _allocator.configure_host_allocator(default="one_arena")
    run = load(args["workdir"], step=args["step"])
    result = _score(
        run,
        args["metrics"],
        seed=args["seed"],
        num_train=args["num_train"],
        num_test=args["num_test"],
        interventional_sizes=args["interventional_sizes"],
    )
    # read by the parent only after this process exits with status 0
    with os.fdopen(args["out"], "w", encoding="utf-8") as out:
        json.dump({**result, "step": int(run.step)}, out)
