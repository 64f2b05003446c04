"""What the commands print: start line, bar, a line per metric, the summary, and the help."""

import functools
import inspect
import json
import logging
import runpy

import jax.numpy as jnp
import pytest

from disentax import cli, data, losses, runs
from disentax.runs import pictures, scoring
from disentax.runs import spec as spec_lib
from disentax.train import Checkpoints, Writer, fit
from disentax.train import loop as loop_lib

TINY = (
    "--config.model=fc",
    "--config.dataset=synthetic_identity",
    "--config.batch_size=8",
    "--config.num_latents=4",
    "--config.log_every=2",
    "--config.checkpoint_every=3",
)
METRICS = ("mig", "sap")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run folder trained and evaluated by ``disentax train``, and what it printed.

    The evaluation is shrunk (two metrics, few points) and the pictures replaced by a
    report stub: what is checked is the terminal, not the scores.
    """
    workdir = tmp_path_factory.mktemp("talk") / "run"
    patch = pytest.MonkeyPatch()
    small = functools.partial(scoring.evaluate, metrics=list(METRICS), num_train=300, num_test=100)
    patch.setattr(scoring, "evaluate", small)

    def stub_traverse(path):
        report = runs.RunFolder(path).report
        report.write_text("<html></html>")
        return {"report.html": report}

    patch.setattr(pictures, "traverse", stub_traverse)
    outputs = []
    try:
        for steps in (6, 8):  # trained, then resumed
            capture = _Capture()
            with capture:
                argv = ["train", "--workdir", str(workdir), *TINY]
                status = cli.main([*argv, f"--config.num_steps={steps}"])
            assert status == 0, capture.err
            outputs.append((capture.out, capture.err))
    finally:
        patch.undo()
    return workdir, outputs


class _Capture:
    """Collects what is printed on stdout and stderr (neither is a terminal)."""

    def __enter__(self):
        import contextlib
        import io

        self._out, self._err = io.StringIO(), io.StringIO()
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(contextlib.redirect_stdout(self._out))
        self._stack.enter_context(contextlib.redirect_stderr(self._err))
        return self

    def __exit__(self, *exc):
        self._stack.close()
        self.out, self.err = self._out.getvalue(), self._err.getvalue()


def test_train_says_what_it_starts(trained):
    workdir, [(first, _), (second, _)] = trained
    start = first.splitlines()[0]
    assert start.startswith("train default: beta_tcvae (fc, 4 latents) on synthetic_identity")
    assert "6 steps of 8 images" in start and f"workdir {workdir}" in start
    assert "8 cpu devices" in start and start.endswith("fresh start")
    assert second.splitlines()[0].endswith("resuming from its newest checkpoint (step 6)")


def test_train_prints_a_line_per_metric_then_a_summary(trained):
    workdir, outputs = trained
    for out, _ in outputs:
        lines = out.splitlines()
        opened = [i for i, line in enumerate(lines) if line.startswith("evaluating ")]
        assert len(opened) == 1 and "2 metrics" in lines[opened[0]]
        for name in METRICS:  # headline key, score, time
            (line,) = [x for x in lines if x.split()[:1] == [name] and x.endswith(" s")]
            assert float(line.split()[1]) >= 0
        assert any(x.startswith("evaluation done in ") for x in lines)
        done = next(i for i, line in enumerate(lines) if line.startswith("done: "))
        assert lines[done + 1].startswith("scores at checkpoint ")
        record = json.loads((workdir / "evaluation.json").read_text())
        table = {x.split()[0]: float(x.split()[1]) for x in lines[done + 2 : done + 4]}
        assert set(table) == set(METRICS)
        assert lines[-1] == f"report: {workdir / 'report.html'}"
    assert "checkpoint 8" in outputs[1][0] and record["step"] == 8
    assert table == pytest.approx({m: record["metrics"][m] for m in METRICS}, abs=5e-4)


def test_train_prints_plain_lines_when_not_on_a_terminal(trained):
    _, outputs = trained
    for out, err in outputs:
        assert "\r" not in out and "\r" not in err
        progress = [line for line in err.splitlines() if line.startswith("step ")]
        assert progress[-1].startswith("step ") and "loss" in progress[-1]
        assert "images/s" in progress[-1]
    assert [line.split()[1] for line in outputs[0][1].splitlines() if line.startswith("step ")] == [
        "2/6",
        "4/6",
        "6/6",
    ]


def test_evaluate_prints_its_scores(trained, capsys):
    workdir, _ = trained
    argv = ["evaluate", "--workdir", str(workdir), "--metrics", "mig", "--workers", "1"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"evaluating {workdir} at checkpoint 8: 1 metric (")
    assert "the quick sizes" in out[0]  # --sizes auto on a CPU
    assert out[1].split()[0] == "mig" and out[1].endswith(" s")
    mig = json.loads((workdir / "evaluation.json").read_text())["metrics"]["mig"]
    assert out[-2].startswith("scores at checkpoint 8")
    assert out[-1].split()[0] == "mig" and float(out[-1].split()[1]) == pytest.approx(mig, abs=5e-4)


def test_sizes_default_to_auto_everywhere():
    args = cli.build_parser().parse_args(["evaluate", "--workdir", "w"])
    assert args.sizes == "auto"
    assert inspect.signature(scoring.evaluate).parameters["eval_sizes"].default == "auto"
    assert spec_lib.OPTIONAL_KEYS["eval_sizes"] == "auto"


class _Sink:
    """A writer that keeps what ``fit`` hands it."""

    def __init__(self):
        self.advanced, self.logged = [], []

    def write_scalars(self, step, scalars):
        self.logged.append(step)

    def progress(self, step, scalars):
        pass

    def message(self, text):
        pass

    def advance(self, step, figures):
        self.advanced.append((step, figures))


def _counting_step(state, batch):
    del batch
    return state + 1, {"loss": jnp.float32(100.0) + state}  # step k's loss: 100 + k - 1


def _checkpoints():
    import types

    return types.SimpleNamespace(
        directory=None, save=lambda step, state: True, wait=lambda: None, latest_step=lambda: None
    )


def test_the_bar_moves_every_step_with_figures_of_finished_steps(monkeypatch):
    monkeypatch.setattr(loop_lib, "SHOW_EVERY_S", 0.0)
    sink = _Sink()
    fit(
        _counting_step,
        jnp.int32(0),
        num_steps=7,
        log_every=5,
        checkpoint_every=10,
        checkpoints=_checkpoints(),
        writer=sink,
        images_per_step=4,
    )
    assert [step for step, _ in sink.advanced] == list(range(1, 8))
    shown = [(step, figures) for step, figures in sink.advanced if figures]
    assert shown, "no figures at all"
    for step, figures in shown:
        # the loss shown is that of a step already finished: MAX_STEPS_IN_FLIGHT behind
        assert figures["loss"] == 100.0 + step - 1 - loop_lib.MAX_STEPS_IN_FLIGHT
        assert figures["images_per_s"] > 0


def test_figures_wait_for_show_every_s(monkeypatch):
    monkeypatch.setattr(loop_lib, "SHOW_EVERY_S", 3600.0)
    sink = _Sink()
    fit(
        _counting_step,
        jnp.int32(0),
        num_steps=6,
        log_every=3,
        checkpoint_every=10,
        checkpoints=_checkpoints(),
        writer=sink,
    )
    assert [step for step, _ in sink.advanced] == list(range(1, 7))
    assert all(figures is None for _, figures in sink.advanced)  # no reads between logs
    assert sink.logged == [3, 6]


def test_writer_bar_advances_and_shows_figures(tmp_path, capsys):
    writer = Writer(tmp_path / "log.jsonl", num_steps=10, interactive=True)
    writer.advance(1)
    writer.advance(3, {"loss": 2.5, "images_per_s": 640.0})
    assert writer._bar.n == 3
    writer.progress(4, {"loss": 2.25, "kl": 1.5, "images_per_s": 600.0, "steps_per_s": 1.0})
    writer.advance(5)
    assert writer._bar.n == 5
    writer.close()
    err = capsys.readouterr().err
    assert "\r" in err and "loss=2.25" in err and "kl=1.5" in err and "img/s=600" in err
    plain = Writer(tmp_path / "log2.jsonl", num_steps=10, interactive=False)
    plain.advance(1, {"loss": 1.0})  # plain output prints on log steps only
    plain.close()
    assert capsys.readouterr().err == ""


def test_read_only_checkpoint_folders_open_without_orbax_warnings(trained, caplog):
    workdir, _ = trained
    with caplog.at_level(logging.WARNING):
        checkpoints = Checkpoints(workdir / "checkpoints", read_only=True)
        assert checkpoints.latest_step() == 8
        runs.load(workdir)
        logging.getLogger("absl").warning("another warning")  # not hidden
    texts = [record.getMessage() for record in caplog.records]
    assert not [t for t in texts if "read only" in t], texts
    assert "another warning" in texts


def _flat(config: dict, prefix=""):
    for key, value in config.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _shown(out: str) -> dict:
    rows = [line.split(None, 2) for line in out.splitlines() if line.startswith("  ")]
    return {row[0]: (json.loads(row[1]), row[2] if len(row) > 2 else "") for row in rows}


@pytest.mark.parametrize("name", ["default", "factor_vae"])
def test_config_show_lists_every_key_with_its_default_and_meaning(name, capsys):
    assert cli.main(["config", "show", name]) == 0
    shown = _shown(capsys.readouterr().out)
    config = runs.load_config(name).to_dict()
    for key, value in _flat(config):  # every key the file spells, with its value
        assert shown[key][0] == value, key
    for key, default in spec_lib.OPTIONAL_KEYS.items():  # and the defaults it does not
        assert key in shown and (key in config or shown[key][0] == default), key
    objective = config["objective"]["name"]
    for hyper, default in losses.DEFAULT_HYPERPARAMETERS[objective].items():
        expected = config["objective"].get(hyper, default)
        assert shown[f"objective.{hyper}"][0] == expected
    required = [k for k in spec_lib.REQUIRED_KEYS if k != "objective"]
    assert all(shown[key][1] for key in required + list(spec_lib.OPTIONAL_KEYS))


def test_config_show_applies_overrides(capsys):
    assert cli.main(["config", "show", "default", "--config.objective.beta=2"]) == 0
    assert _shown(capsys.readouterr().out)["objective.beta"][0] == 2.0
    assert cli.main(["config", "show", "default", "--config.nope=1"]) == 2
    assert "no key 'nope'" in capsys.readouterr().err


def test_every_config_key_has_a_meaning():
    assert set(spec_lib.KEY_HELP) == set(spec_lib.REQUIRED_KEYS) | set(spec_lib.OPTIONAL_KEYS)


def _shipped():
    """Shipped config name -> first docstring line, read by running the file."""
    found = {}
    for path in sorted(runs.configs_dir().glob("*.py")):
        if not path.stem.startswith("_"):
            doc = runpy.run_path(str(path))["__doc__"]
            found[path.stem] = doc.strip().splitlines()[0]
    return found


def test_train_help_and_config_list_name_the_shipped_configs(capsys):
    shipped = _shipped()
    assert "default" in shipped and "beta_vae" in shipped
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--help"])
    assert exit_.value.code == 0
    helped = capsys.readouterr().out
    assert cli.main(["config", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == len(shipped)
    for (name, summary), line in zip(shipped.items(), listed, strict=True):
        assert line.split(None, 1) == [name, summary]
        assert f"  {name}" in helped and summary in helped
    assert "disentax config show NAME" in helped


def test_data_list_gives_each_dataset_a_line(capsys):
    assert cli.main(["data", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == data.names()
    dsprites = next(line for line in lines if line.split()[0] == "dsprites")
    assert dsprites.split(None, 1)[1] == inspect.getdoc(data.DATASETS["dsprites"]).splitlines()[0]
    assert all(len(line.split(None, 1)) == 2 for line in lines)


def test_bench_list_gives_each_benchmark_a_line(capsys):
    import importlib

    assert cli.main(["bench", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line.split(None, 1)) == 2 for line in lines)
    peak = next(line for line in lines if line.split()[0] == "peak/matmul")
    doc = importlib.import_module("benchmarks.peak").__doc__.strip().splitlines()[0]
    assert peak.split(None, 1)[1] == doc
