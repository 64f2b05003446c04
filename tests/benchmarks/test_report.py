"""benchmarks/report.py writes the manual's benchmark page from the committed results."""

import json
import pathlib
import sys

# benchmarks/ and experiments/ are top-level packages of the source checkout.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from benchmarks import report  # noqa: E402


def test_page_puts_cpu_and_h200_rows_side_by_side():
    text = report.page()
    assert "CPU: " in text and "GPU: NVIDIA H200" in text
    row = next(line for line in text.splitlines() if line.startswith("| `metrics/dci/gbt_int8`"))
    assert row.count(" s (") >= 2  # a CPU and an H200 cell on the one row
    assert "## DCI parity with scikit-learn" in text
    assert "## CPU suite in detail (`cpu.json`)" in text


def test_main_writes_the_page_where_told(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    env = {"platform": "gpu", "device_kind": "NVIDIA H200", "versions": {"jax": "0"}}
    row = {"name": "metrics/x", "median_s": 0.5, "compile_s": 1.0}
    (results / "x_h200.json").write_text(json.dumps({"environment": env, "results": [row]}))
    out = tmp_path / "docs" / "benchmarks.md"
    out.parent.mkdir()
    assert report.main(["--results", str(results), "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# Benchmarks")
    assert "| `metrics/x` | 0.5 s (compile 1 s) (a) |" in text
