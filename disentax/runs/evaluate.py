"""Evaluation of a run folder: ``evaluation.json``, optionally with a second worker process.

* :func:`evaluate_workdir` scores a run folder's checkpoint and writes ``evaluation.json``.
* :func:`default_workers` picks how many evaluation processes suit this machine.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import time
from collections.abc import Mapping, Sequence

import jax

import disentax
from disentax.evaluation.suite import (
    METRICS,
    evaluate,
    make_posterior_fn,
    make_representation_fn,
    resolve_eval_sizes,
)

__all__ = ["SECOND_WORKER_METRICS", "default_workers", "evaluate_workdir"]


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
            "import sys; from disentax.evaluation.workdir import _worker_main; "
            "_worker_main(sys.argv[1:])",
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
