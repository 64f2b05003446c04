"""The benchmark harness measures what it says, and ``disentax bench`` runs end to end."""

import json
import os
import pathlib
import re
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

# benchmarks/ is a top-level package of the source checkout (as `disentax bench` imports it)
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from benchmarks import conv_forms, harness, layers  # noqa: E402
from benchmarks import run as bench_run  # noqa: E402


@pytest.mark.perf
def test_measure_excludes_warmup_and_reports_spread():
    calls = []

    def fn():
        calls.append(None)
        time.sleep(0.3 if len(calls) == 1 else 0.01)  # the first call plays "compile"

    timing = harness.measure(fn, repeats=5, number=1)
    assert len(calls) == 6  # one warm-up + five timed calls
    assert 0.01 <= timing.min_s <= timing.median_s <= timing.max_s
    assert timing.max_s < 0.25  # the slow first call is not among the repeats
    assert len(timing.times_s) == 5 and len(timing.cpu_times_s) == 5


@pytest.mark.perf
def test_measure_calibrates_calls_per_repeat():
    timing = harness.measure(lambda: time.sleep(0.001), repeats=3, min_repeat_s=0.2)
    # number = ceil(0.2 s / probe); the probe stays far below 0.05 s even on a loaded host
    assert timing.number >= 4
    assert timing.median_s >= 0.001
    assert harness.measure(lambda: time.sleep(0.001), repeats=2, min_repeat_s=0.0).number == 1


@pytest.mark.perf
def test_interleaved_paired_ratio():
    report = harness.measure_interleaved(
        {"fast": lambda: time.sleep(0.01), "slow": lambda: time.sleep(0.04)},
        repeats=5,
        min_repeat_s=0.0,
    )
    _, ratios = report["fast"]
    # t_slow / t_fast = 4 for exact sleeps; scheduler overshoot pulls it towards 1
    assert 2.0 < ratios["slow"] < 4.5
    assert report["slow"][1]["fast"] == pytest.approx(1 / ratios["slow"], rel=0.3)
    assert "cpu:slow" in ratios  # the same ratio of process CPU times


def test_result_rates():
    timing = harness.Timing(0.5, 0.4, 0.6, 3, 1, (0.4, 0.5, 0.6), (0.25, 0.25, 0.25))
    row = harness.result("x", timing, images=64, flops=1e9, peak_flops=4e9, peak_flops_cpu=8e9)
    assert row["images_per_s"] == pytest.approx(128.0)
    assert row["images_per_cpu_s"] == pytest.approx(256.0)
    assert row["gflops_per_s"] == pytest.approx(2.0)
    assert row["percent_of_peak"] == pytest.approx(50.0)  # 2 GFLOP/s of 4
    assert row["percent_of_peak_cpu"] == pytest.approx(50.0)  # 4 GFLOP/s of 8
    for key in ("name", "median_s", "min_s", "max_s", "compile_s"):
        assert key in row


def test_merge_replaces_rows_by_name(tmp_path):
    path = tmp_path / "r.json"
    t = harness.Timing(1.0, 1.0, 1.0, 1, 1, (1.0,))
    run = {"created": "a", "environment": {}, "skipped": []}
    harness.merge_results(
        path, {**run, "results": [harness.result("a", t), harness.result("b", t)]}
    )
    doc = harness.merge_results(path, {**run, "results": [harness.result("b", t, note="new")]})
    assert [r["name"] for r in doc["results"]] == ["a", "b"]
    assert doc["results"][1]["note"] == "new" and doc["results"][1]["run"] == 1
    assert json.loads(path.read_text()) == doc
    # a re-run of benchmark "b" drops the rows it no longer produces ("b/old")
    harness.merge_results(path, {**run, "results": [harness.result("b/old", t)]})
    rerun = {**run, "benchmarks": ["b"], "known_benchmarks": ["a", "b"]}
    doc = harness.merge_results(path, {**rerun, "results": [harness.result("b/new", t)]})
    assert [r["name"] for r in doc["results"]] == ["a", "b/new"]
    # a failed run of "b" records its error; a later successful run of "b" clears it
    failed = {**rerun, "results": [], "skipped": [{"name": "b", "reason": "error: boom"}]}
    assert [s["name"] for s in harness.merge_results(path, failed)["skipped"]] == ["b"]
    doc = harness.merge_results(path, {**rerun, "results": [harness.result("b/new", t)]})
    assert doc["skipped"] == [] and [r["name"] for r in doc["results"]] == ["a", "b/new"]


def test_selection_by_name_and_prefix():
    assert bench_run.select("train_step/beta_vae/b64") == ["train_step/beta_vae/b64"]
    below = bench_run.select("train_step/beta_vae")
    assert {"train_step/beta_vae/b64", "train_step/beta_vae/b64/sweep8"} <= set(below)
    assert "train_step/beta_tcvae/b64" not in below
    assert set(bench_run.select("metrics")) == {
        "metrics/suite",
        "metrics/scaling",
        "metrics/dci",
        "metrics/interventional",
        "metrics/mig_grid",
    }
    with pytest.raises(ValueError, match="no benchmark named"):
        bench_run.select("no_such_benchmark")


def test_nominal_layer_macs():
    shapes = {s["name"]: s for s in conv_forms.layer_shapes()}
    # enc_conv2: 16x16 outputs x 32 channels, each 4*4*32 taps (hand count)
    assert conv_forms.layer_macs(shapes["enc_conv2"]) == 16 * 16 * 32 * 4 * 4 * 32
    # dec_deconv1: 4x4 inputs x 64 channels, each meeting 4*4*64 taps
    assert conv_forms.layer_macs(shapes["dec_deconv1"]) == 4 * 4 * 64 * 4 * 4 * 64
    assert not shapes["enc_conv1"]["needs_input_grad"]


@pytest.mark.parametrize("kind", ["conv", "deconv"])
def test_layer_benchmark_forms_all_run(kind):
    # every form the per-layer benchmark times, the library's included, accepts its layer
    # (the library's transposed-only "col2im" form is offered for transposed layers only)
    forms = layers._forms(kind)
    assert ("disentax_col2im" in forms) == (kind == "deconv")
    x = jnp.ones((2, 8, 8, 3))
    w = jnp.ones((4, 4, 3, 5))
    want = forms["plain"](x, w)
    for name, form in forms.items():
        np.testing.assert_allclose(form(x, w), want, rtol=1e-5, atol=1e-4, err_msg=name)


@pytest.mark.parametrize(
    "kind,shape,kernel",
    [
        ("conv", (2, 8, 8, 3), (4, 4, 3, 5)),
        ("conv", (2, 8, 8, 3), (2, 2, 3, 5)),
        ("deconv", (2, 4, 4, 3), (4, 4, 3, 5)),
    ],
)
def test_reformulations_equal_lax_in_float64(kind, shape, kernel):
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), shape, jnp.float64)
        w = jax.random.normal(jax.random.key(1), kernel, jnp.float64)
        forms = conv_forms.CONV_FORMS if kind == "conv" else conv_forms.DECONV_FORMS
        ref = forms["plain"]
        g = jax.random.normal(jax.random.key(2), ref(x, w).shape, jnp.float64)

        def value_and_grads(f, a, b):
            return f(a, b), jax.grad(lambda a_, b_: jnp.sum(f(a_, b_) * g), (0, 1))(a, b)

        @jax.jit
        def all_forms(a, b):  # one compiled program: value and gradients of every form
            return {name: value_and_grads(f, a, b) for name, f in forms.items()}

        out = all_forms(x, w)
        want_y, want_g = out["plain"]
        for name, (got_y, got_g) in out.items():
            np.testing.assert_allclose(got_y, want_y, atol=1e-12, err_msg=name)
            for got, want in zip(got_g, want_g, strict=True):
                np.testing.assert_allclose(got, want, atol=1e-12, err_msg=name)


def test_torch_reference_computes_the_lax_reference_function():
    torch = pytest.importorskip("torch")
    from benchmarks import torch_reference

    with jax.enable_x64(True):
        params = layers.init_reference_params(jax.random.key(0), dtype=jnp.float64)
        images = jax.random.uniform(jax.random.key(1), (2, 64, 64, 1), jnp.float64)
        eps = jax.random.normal(jax.random.key(2), (2, 10), jnp.float64)
        want = jax.jit(layers.reference_forward)(params, images, eps)
        model = torch_reference.load_from_lax(torch_reference.ConvVAE().double(), params)
        got = model(
            torch.from_numpy(np.asarray(images).transpose(0, 3, 1, 2).copy()),
            torch.from_numpy(np.array(eps)),
        )
    np.testing.assert_allclose(got[0].detach().numpy(), want[0], atol=1e-10)
    np.testing.assert_allclose(got[1].detach().numpy(), want[1], atol=1e-10)
    np.testing.assert_allclose(got[2].detach().numpy().transpose(0, 2, 3, 1), want[2], atol=1e-10)


def _cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "disentax.cli", "bench", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_cli_lists_benchmarks():
    out = _cli("--list")
    assert out.returncode == 0, out.stderr
    names = out.stdout.split()
    assert "train_step/beta_vae/b64" in names
    assert {"peak/matmul", "compare/torch/b64", "metrics/suite", "startup/first_step"} <= set(names)


def _run_quick(name: str, tmp_path: pathlib.Path) -> tuple[str, dict]:
    """``disentax bench NAME --out FILE`` at smoke-test size, in a fresh process started
    as a user's would be (no XLA_FLAGS); returns its stdout and the JSON it wrote."""
    out_file = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["DISENTAX_BENCH_QUICK"] = "1"
    out = _cli(name, "--out", str(out_file), env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout, json.loads(out_file.read_text())


def test_cli_runs_one_tiny_benchmark_into_json(tmp_path):
    stdout, doc = _run_quick("peak/matmul", tmp_path)
    assert "| peak/matmul |" in stdout
    (run,) = doc["runs"]
    environment = run["environment"]
    assert environment["device_kind"] and environment["cpu_count"] >= 1
    assert environment["device_count"] == 1  # as `disentax train` runs (mesh: a child)
    assert len(environment["cpu_affinity"]) == 1  # pinned to one core
    assert environment["threads"]["XLA_FLAGS"] == "--xla_cpu_multi_thread_eigen=false"
    assert environment["versions"]["jax"] == jax.__version__
    rows = {r["name"]: r for r in doc["results"]}
    peak = rows["peak/matmul"]
    assert peak["min_s"] <= peak["median_s"] <= peak["max_s"]
    assert run["peak_flops"] == pytest.approx(peak["peak_gflops"] * 1e9)
    assert all(r["gflops_per_s"] > 0 for r in doc["results"])


def test_step_profile_classifies_hlo_instructions():
    from benchmarks import step_profile

    hlo = "\n".join(
        [
            "  %ynn_fusion.3 = f32[64,16,16,32]{3,2,1,0} fusion(%a, %b), kind=kCustom",
            "  %add_maximum_fusion = f32[64,32,32,32]{3,2,1,0} fusion(%c), kind=kLoop",
            "  %conv_general_dilated.2 = f32[64,17,17,128]{3,2,1,0} convolution(%d, %e)",
            "  %dot_general.1 = f32[128,128]{1,0} dot(%f, %g)",
            "  %concatenate.4 = f32[64,17,17,128]{3,2,1,0} concatenate(%h, %i)",
        ]
    )
    assert step_profile.classify("ynn_fusion.3", hlo) == (
        "library_fusion",
        "f32[64,16,16,32]{3,2,1,0}",
    )
    assert step_profile.classify("add_maximum_fusion", hlo)[0] == "loop_fusion"
    assert step_profile.classify("conv_general_dilated.2", hlo)[0] == "convolution"
    assert step_profile.classify("dot_general.1", hlo)[0] == "dot"
    assert step_profile.classify("concatenate.4", hlo)[0] == "concatenate"
    # a name that is a prefix of another instruction's must not match it
    assert step_profile.classify("dot_general", hlo) == ("other", "?")


@pytest.mark.perf  # several child processes of the reference step: minutes under load
def test_host_allocator_benchmark_quick(tmp_path):
    # One round of each mode in its own process: rows, ratios and the memory each costs.
    _, doc = _run_quick("host/allocator", tmp_path)
    rows = {r["name"]: r for r in doc["results"]}
    modes = ("system", "retain", "huge_pages", "one_arena")
    assert set(rows) == {f"host/allocator/{m}" for m in modes}
    assert rows["host/allocator/system"]["ratio_vs_system"] == 1.0
    assert rows["host/allocator/system"]["note"].startswith("system malloc defaults")
    assert rows["host/allocator/retain"]["note"] == (
        "glibc malloc: no mmap, no trim; JAX CPU computations run inline"
    )
    assert rows["host/allocator/one_arena"]["note"].startswith("glibc malloc: one arena,")
    for row in rows.values():
        assert row["peak_rss_mb"] > 100 and row["min_s"] <= row["median_s"] <= row["max_s"]


@pytest.mark.parametrize("script", ["cpu.sh", "gpu.sh"])
def test_bench_scripts_name_registered_benchmarks(script):
    # the shell scripts list benchmark names by hand: a renamed or removed benchmark would
    # only show on a run (for gpu.sh, on a lent accelerator, in its short time)
    root = pathlib.Path(__file__).resolve().parents[2]
    path = root / "benchmarks" / script
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    text = path.read_text()
    names = set(
        re.findall(
            r"\b((?:peak|compare|train_step|data|metrics|startup|layers|host|profile)/[\w/]+)", text
        )
    )
    # cpu.sh's loops: `for o in A B; do names="$names train_step/$o/b64"`
    loops = re.findall(r"for o in ([\w ]+); do\s+names=\"\$names train_step/\$o/(b\d+)\"", text)
    names |= {f"train_step/{o}/{b}" for objectives, b in loops for o in objectives.split()}
    assert names, f"no benchmark names found in {script}"
    assert script != "cpu.sh" or len(loops) == 2
    for name in names:
        assert bench_run.select(name), name
