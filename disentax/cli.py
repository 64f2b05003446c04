"""The ``disentax`` command: ``train | evaluate | traverse | study | config | bench | data``.

Argument parsing is argparse (sub-commands, usage, exit status 2 on bad input); the
run configuration follows the JAX ecosystem convention of ``ml_collections``:
``--config PATH`` names a Python file whose ``get_config()`` returns a ``ConfigDict``
and ``--config.KEY=VALUE`` overrides single fields (parsed by
``ml_collections.config_flags``, which type-checks each value against the config).

This module only parses and dispatches: the jobs are :mod:`disentax.runs` (the only code
that reads a training config or a run folder) and ``disentax.data`` for ``data list/show``.
It also sets the process's host allocator (a private detail of the command: the
``DISENTAX_HOST_ALLOCATOR`` environment variable chooses the mode, see
``disentax/_allocator.py``).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import signal
import sys
from collections.abc import Sequence

import disentax

_SUBCOMMANDS = ("train", "evaluate", "traverse", "study", "config", "bench", "data")


def _split_config_args(argv: Sequence[str]) -> tuple[list[str], str | None, list[str]]:
    """Separates ``--config PATH`` and ``--config.KEY=VALUE`` from the other arguments."""
    rest: list[str] = []
    overrides: list[str] = []
    config: str | None = None
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--config."):
            if "=" not in arg and i + 1 < len(args):
                overrides.append(f"{arg}={args[i + 1]}")
                i += 1
            else:
                overrides.append(arg)
        elif arg == "--config":
            if i + 1 >= len(args):
                rest.append(arg)  # argparse reports the missing value
            else:
                config = args[i + 1]
                i += 1
        elif arg.startswith("--config="):
            config = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        i += 1
    return rest, config, overrides


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``disentax`` command (sub-commands and options)."""
    parser = argparse.ArgumentParser(
        prog="disentax",
        description="Disentangled representation learning in JAX.",
    )
    parser.add_argument("--version", action="version", version=f"disentax {disentax.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(_SUBCOMMANDS) + "}")
    sub.required = True

    def add_config_args(p: argparse.ArgumentParser, default: str) -> None:
        p.add_argument(
            "--config",
            default=default,
            help=f"config file (.py with get_config()) or shipped config name (default: {default})",
        )
        p.add_argument(
            "--config.KEY",
            dest="_config_override_help",
            metavar="VALUE",
            help="override one config field, e.g. --config.num_steps=1000",
        )

    train = sub.add_parser(
        "train",
        help="train a model (resumes from the workdir if it holds one)",
        description="Train a model, then (config.evaluate) score it and write its pictures "
        "and report.html. Resumes from the workdir's newest checkpoint if it holds one.",
        epilog=_configs_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_args(train, "default")
    train.add_argument("--workdir", default=None, help="run folder (default: runs/<config name>)")
    train.add_argument(
        "--restart",
        action="store_true",
        help="start over when no checkpoint of the workdir can be read (they are set aside)",
    )
    train.add_argument("--coordinator", default=None, help="multi-host: coordinator host:port")
    train.add_argument("--num_processes", type=int, default=None, help="multi-host: process count")
    train.add_argument("--process_id", type=int, default=None, help="multi-host: this process")

    evaluate = sub.add_parser("evaluate", help="score a trained run; writes its scores")
    evaluate.add_argument("--workdir", required=True, help="run folder holding checkpoints")
    evaluate.add_argument("--metrics", default=None, help="comma-separated metric names (all)")
    evaluate.add_argument("--step", type=int, default=None, help="checkpoint step (latest)")
    evaluate.add_argument(
        "--sizes",
        choices=("auto", "reference", "quick"),
        default="auto",
        help="BetaVAE/FactorVAE score sizes: quick on a CPU and reference elsewhere (auto, "
        "default), 500/300 votes (quick), or the study's (reference, ~20 CPU-minutes on a CPU)",
    )
    evaluate.add_argument(
        "--workers",
        default="auto",
        help="processes scoring the metrics: 1, 2 (the BetaVAE score and mig_sampled in a "
        "second process), or auto (2 on a CPU with 2 or more cores; default)",
    )

    traverse = sub.add_parser("traverse", help="latent traversals, plots and the run report")
    traverse.add_argument("--workdir", required=True, help="run folder holding checkpoints")
    traverse.add_argument("--step", type=int, default=None, help="checkpoint step (latest)")
    traverse.add_argument(
        "--latents", default=None, help="comma-separated latent indices to show (all)"
    )

    study = sub.add_parser(
        "study",
        help="a grid of models: train, evaluate and analyse (resumable)",
        description="run: plan the spec's grid, train its groups (each one program, the "
        "models split over the devices), evaluate every model and write the analysis "
        "(DIR/analysis: study.csv, study.parquet, figures, study.html); run again, it resumes. "
        "status DIR: what is done. analyse DIR: redo the analysis.",
    )
    study.add_argument("action", choices=("run", "status", "analyse"), help="what to do")
    study.add_argument("dir", nargs="?", default=None, help="study folder (status, analyse)")
    add_config_args(study, "tiny")
    study.add_argument("--workdir", default=None, help="study folder (default: runs/<spec>)")

    config = sub.add_parser(
        "config",
        help="list the shipped configs, or show every key of one with its default",
        description="list: the shipped configs (--config NAME of `disentax train`), one line "
        "each. show NAME: every key of a config (a shipped name or a .py file) with the value "
        "a run would use and its meaning; --config.KEY=VALUE overrides apply as in train.",
    )
    config.add_argument("action", choices=("list", "show"), help="list: names; show: keys")
    config.add_argument("name", nargs="?", default="default", help="config name or .py file")

    bench = sub.add_parser("bench", help="run microbenchmarks; JSON results")
    bench.add_argument("name", nargs="?", default=None, help="benchmark name or prefix (all)")
    bench.add_argument("--out", default=None, help="write the JSON results here")
    bench.add_argument("--workdir", default=None, help="folder for benchmark scratch files")
    bench.add_argument(
        "--list", action="store_true", help="list the benchmarks (a line each) and exit"
    )

    data = sub.add_parser("data", help="inspect ground-truth datasets")
    data.add_argument(
        "action", choices=("show", "list"), help="show: sample grid; list: names, a line each"
    )
    data.add_argument("name", nargs="?", default="dsprites", help="dataset name")
    data.add_argument("--workdir", default=".", help="folder for the sample grid PNG")
    data.add_argument("--data_dir", default=None, help="folder of published dataset files")
    data.add_argument("--num", type=int, default=64, help="number of samples in the grid")
    data.add_argument("--seed", type=int, default=0, help="sampling seed")
    return parser


def _configs_epilog() -> str:
    """The shipped configs, a line each, and where to see their keys (train's --help)."""
    from disentax.runs import describe

    try:
        shipped = describe.shipped_configs()
    except FileNotFoundError as err:
        return f"shipped configs: none found ({err})"
    width = max(map(len, shipped), default=0)
    lines = ["shipped configs (--config NAME):"]
    lines += [f"  {name:<{width}}  {summary}" for name, summary in shipped.items()]
    lines += [
        "",
        "every key of a config, with its default and meaning: disentax config show NAME",
        "e.g. disentax train --config beta_vae --config.num_steps=2000 --config.objective.beta=8",
    ]
    return "\n".join(lines)


class _UsageError(ValueError):
    """Bad command-line input (a config override, an environment setting): exit status 2."""


def _cmd_train(args, config_name: str | None, overrides: list[str]) -> int:
    from disentax import parallel, runs

    config_name = config_name or "default"
    try:
        config = runs.load_config(config_name, overrides)
    except ValueError as err:
        raise _UsageError(str(err)) from err
    name = pathlib.Path(config_name).stem
    workdir = args.workdir or os.path.join("runs", name)
    parallel.initialize_distributed(
        coordinator=args.coordinator,
        num_processes=args.num_processes,
        process_id=args.process_id,
    )
    runs.run(config, workdir, restart=args.restart, config_name=name)
    return 0


def _cmd_evaluate(args) -> int:
    from disentax import runs

    metrics = None if args.metrics is None else [m for m in args.metrics.split(",") if m]
    if args.workers == "auto":
        workers = runs.default_workers()
    elif args.workers in ("1", "2"):
        workers = int(args.workers)
    else:
        raise ValueError(f"--workers: expected 1, 2 or auto, got {args.workers!r}")
    record = runs.evaluate(
        args.workdir, metrics=metrics, step=args.step, eval_sizes=args.sizes, workers=workers
    )
    from disentax.runs import terminal

    for line in terminal.score_table(record):
        _say(line)
    return 0


def _say(text: str, *, file=None) -> None:
    """One line on standard output (or ``file``); a closed pipe (``| head``) is no error.

    The train package (and its optional dependencies) is imported only when a write fails:
    the line naming a missing extra must print without them.
    """
    stream = sys.stdout if file is None else file
    try:
        print(text, file=stream, flush=True)
    except OSError as err:
        from disentax.train.runtime import drop_closed_output

        drop_closed_output(err, stream)


def _cmd_config(args, config_name: str | None, overrides: list[str]) -> int:
    from disentax import runs
    from disentax.runs import describe

    if args.action == "list":
        shipped = describe.shipped_configs()
        width = max(map(len, shipped), default=0)
        for name, summary in shipped.items():
            _say(f"{name:<{width}}  {summary}")
        return 0
    name = config_name or args.name
    try:
        rows = describe.config_keys(runs.load_config(name, overrides))
    except ValueError as err:
        raise _UsageError(str(err)) from err
    _say(f"config {name} ({runs.resolve_config_path(name)}): every key, the value a run uses")
    key_width = max(len(row[0]) for row in rows)
    value_width = min(max(len(row[1]) for row in rows), 24)
    for key, value, meaning in rows:
        _say(f"  {key:<{key_width}}  {value:<{value_width}}  {meaning}")
    _say(f"override one: disentax train --config {name} --config.KEY=VALUE")
    return 0


def _cmd_study(args, spec_name: str | None, overrides: list[str]) -> int:
    from disentax import runs

    if args.action == "run":
        spec_name = spec_name or "tiny"
        try:
            spec = runs.load_study_spec(spec_name, overrides)
        except ValueError as err:
            raise _UsageError(str(err)) from err
        workdir = args.workdir or args.dir or os.path.join("runs", pathlib.Path(spec_name).stem)
        result = runs.run_study(spec, workdir, log=_say)
        _say(
            f"study {workdir}: {result['trained']}/{result['models']} models trained, "
            f"{result['evaluated']} evaluated"
            + (f"; {result['analysis']['html']}" if result["analysis"] else "")
        )
        return 0
    workdir = args.dir or args.workdir
    if workdir is None:
        raise _UsageError(f"study {args.action} needs the study folder: disentax study "
                          f"{args.action} DIR")  # fmt: skip
    if args.action == "status":
        rows = runs.study_status(workdir)
        for row in rows:
            done = "evaluated" if row["evaluated"] else "not evaluated"
            _say(f"{row['model']}: step {row['step']}/{row['num_steps']}, {done}")
        trained = sum(r["step"] >= r["num_steps"] for r in rows)
        _say(f"{trained}/{len(rows)} trained, {sum(r['evaluated'] for r in rows)} evaluated")
        return 0
    paths = runs.analyse_saved_study(workdir)
    _say(f"wrote {paths['html']}")
    return 0


def _cmd_traverse(args) -> int:
    from disentax import runs

    latents = None
    if args.latents is not None:
        try:
            latents = [int(i) for i in args.latents.split(",") if i.strip()]
        except ValueError as err:
            raise ValueError(
                f"--latents: expected comma-separated integers, got {args.latents!r}"
            ) from err
    written = runs.traverse(args.workdir, step=args.step, latents=latents)
    _say(f"wrote {len(written)} files: {', '.join(sorted(written))}")
    return 0


def _cmd_bench(args) -> int:
    root = pathlib.Path(__file__).resolve().parent.parent
    if not (root / "benchmarks" / "__init__.py").is_file():
        raise FileNotFoundError(
            f"the benchmarks/ folder was not found at {root / 'benchmarks'}; "
            "`disentax bench` runs from a source checkout (pip install -e .)."
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from benchmarks import run as bench_run

    if args.list:
        from disentax.runs.describe import benchmark_summary

        names = bench_run.select(args.name)
        width = max(map(len, names), default=0)
        for name in names:
            summary = benchmark_summary(bench_run.BENCHMARKS[name], root / "benchmarks")
            _say(f"{name:<{width}}  {summary}")
        return 0
    return bench_run.main(name=args.name, out=args.out, workdir=args.workdir)


def _cmd_data(args) -> int:
    from disentax import data
    from disentax.runs.describe import dataset_summary

    if args.action == "list":
        width = max(map(len, data.names()))
        for name in data.names():
            _say(f"{name:<{width}}  {dataset_summary(data.DATASETS[name])}")
        return 0
    data.show(args.name, args.workdir, data_dir=args.data_dir, num=args.num, seed=args.seed)
    return 0


def _dispatch(args, config_name: str | None, overrides: list[str]) -> int:
    if args.command == "train":
        return _cmd_train(args, config_name, overrides)
    if args.command == "config":
        return _cmd_config(args, config_name, overrides)
    if args.command == "evaluate":
        return _cmd_evaluate(args)
    if args.command == "traverse":
        return _cmd_traverse(args)
    if args.command == "study":
        return _cmd_study(args, config_name, overrides)
    if args.command == "bench":
        return _cmd_bench(args)
    return _cmd_data(args)


def _describe(err: BaseException) -> str:
    """One line for an error: an OS error's file and reason, else its message."""
    if isinstance(err, OSError) and err.strerror and err.filename is not None:
        where = f"{err.filename}" + (f" -> {err.filename2}" if err.filename2 else "")
        return f"{where}: {err.strerror}"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err) or type(err).__name__


def _backend_problem() -> str | None:
    """Why JAX cannot start a backend here (e.g. ``JAX_PLATFORMS=cuda`` without a GPU)."""
    import jax

    try:
        jax.devices()
    except (RuntimeError, AssertionError) as err:  # JAX asserts when no plugin is installed
        wanted = os.environ.get("JAX_PLATFORMS") or jax.config.jax_platforms
        reason = str(err) or "no such platform is installed"
        return (
            f"JAX could not start the platform {wanted!r} (JAX_PLATFORMS): {reason}; "
            "unset JAX_PLATFORMS, or set it to a platform this machine has (e.g. cpu)"
        )
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``disentax`` console script."""
    from disentax._allocator import configure_host_allocator

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    rest, config_name, overrides = _split_config_args(argv)
    args = parser.parse_args(rest)  # exits 2 with usage on unknown commands / options
    if (config_name is not None or overrides) and args.command not in ("train", "config", "study"):
        parser.error(
            "--config options are only accepted by `train`, `config` and `study`, not "
            f"`{args.command}`"
        )
    try:
        # The command owns its process: let malloc reuse XLA's temporary buffers
        # (disentax._allocator), before any JAX work so that every thread gets the
        # settings. Scoring allocates its large buffers on XLA's worker threads: one arena.
        try:
            configure_host_allocator(
                default="one_arena" if args.command == "evaluate" else "huge_pages"
            )
        except ValueError as err:
            raise _UsageError(str(err)) from err
        return _dispatch(args, config_name, overrides)
    except KeyboardInterrupt:
        # Ctrl-C: one line instead of a traceback (the job saved what it could while
        # unwinding), then the process ends of SIGINT as Python's own handler would, so a
        # shell or a parent sees an interrupted command.
        _say(f"disentax {args.command}: interrupted", file=sys.stderr)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        raise  # where SIGINT cannot end the process
    except (RuntimeError, AssertionError) as err:
        problem = _backend_problem()
        if problem is None and "RESOURCE_EXHAUSTED" in str(err):  # XLA's out-of-memory
            problem = str(err).strip().splitlines()[0] + " (out of memory: use smaller sizes)"
        if problem is None:
            raise
        _say(f"disentax {args.command}: error: {problem}", file=sys.stderr)
        return 1
    # ValueError: bad input; OSError: files (missing, read-only, full disk, a file where a
    # folder goes, a workdir in use); ImportError: a missing optional extra; FloatingPoint-
    # Error: a NaN loss. Each is one line naming what to change.
    except (ValueError, OSError, ImportError, FloatingPointError) as err:
        from disentax._extras import missing_extra_message  # names the extra to install

        message = missing_extra_message(err, args.command) or _describe(err)
        _say(f"disentax {args.command}: error: {message}", file=sys.stderr)
        return 2 if isinstance(err, _UsageError) else 1


if __name__ == "__main__":
    sys.exit(main())
