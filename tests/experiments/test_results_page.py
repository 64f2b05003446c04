"""experiments/studies/readme_section.py writes the manual's results page from results/."""

import json
import pathlib
import sys

# benchmarks/ and experiments/ are top-level packages of the source checkout.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from experiments.studies import readme_section  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_page_reads_every_tier_under_results():
    text = readme_section.page(ROOT / "results")
    assert text.startswith("# Results")
    assert "## CPU tier" in text
    assert "../results/cpu_tier/traversal_best.png" in text  # relative to docs/
    assert "## CPU seed studies" in text  # results/cpu_studies/SECTION.md, as written


def test_main_writes_the_page_where_told(tmp_path):
    tier = tmp_path / "results" / "toy_tier"
    tier.mkdir(parents=True)
    row = {
        "label": "VAE",
        "hyperparameter": "beta",
        "value": 1.0,
        "step": 10,
        "metrics": {"mig": 0.25, "factor_vae_score": 0.5},
    }
    (tier / "results.json").write_text(json.dumps({"info": {"cpu_count": 2}, "rows": [row]}))
    out = tmp_path / "results.md"
    assert readme_section.main(["--results", str(tmp_path / "results"), "--out", str(out)]) == 0
    text = out.read_text()
    assert "## toy tier" in text and "| VAE (beta=1) | 10 |" in text
