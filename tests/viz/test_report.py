"""report.html: self-contained, a headline card, folded details, links; renders in Chromium."""

import base64
import html.parser
import json
import math
import os
import pathlib
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from disentax import evaluation, runs, viz
from disentax.viz import report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# CI installs Chromium and sets DISENTAX_REQUIRE_BROWSER=1: there the browser tests run, and
# fail rather than skip if it is missing; elsewhere they skip with the install hint.
NO_BROWSER = CHROMIUM is None and not os.environ.get("DISENTAX_REQUIRE_BROWSER")
WIDE = 3000  # pixels: the traversal figure of the fixture, far wider than any window
COMMIT = "0123456789abcdef0123456789abcdef01234567"


class _Collector(html.parser.HTMLParser):
    """Images, links, table cells (with whether they sit inside a <details>), tags."""

    def __init__(self):
        super().__init__()
        self.images, self.links, self.tags, self.cells = [], [], [], []
        self.folded_cells = []
        self._in_cell, self._details = False, 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.images.append(attrs)
        for name in ("href", "src"):
            if name in attrs and tag != "img":
                self.links.append(attrs[name])
        self._details += tag == "details"
        self._in_cell = self._in_cell or tag == "td"

    def handle_endtag(self, tag):
        self._details -= tag == "details"
        if tag == "td":
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self.cells.append(data)
            if self._details:
                self.folded_cells.append(data)


def _parse(text: str) -> _Collector:
    parser = _Collector()
    parser.feed(text)
    parser.close()
    return parser


def _headline(text: str) -> str:
    start = text.index('id="headline"')
    return text[start : text.index("</div>", start)]


def _evaluation(interventional: dict) -> dict:
    return {
        "step": 300,
        "metrics": {
            "mig": 0.25,
            "mig_chen2018": 0.3,
            "dci": {"disentanglement": 0.5, "completeness": 0.375},
            "factor_vae_score": 0.7,
            "factor_vae_score/train_accuracy": 0.8125,
            "note": "text",
        },
        "matrices": {"mutual_info": [[0.1, 0.2]]},
        "skipped": {"sap": "needs two classes per factor"},
        "seconds": {"mig": 1.5, "dci": 2.5, "total": 61.0},
        "sizes": {"num_train": 10000, "num_test": 5000, "interventional": interventional},
        "representation": "mean",
        "device": "cpu",
    }


QUICK = {"batch_size": 64, "num_train": 500, "num_eval": 300, "num_variance_estimate": 10000}
REFERENCE = {"batch_size": 64, "num_train": 10000, "num_eval": 5000, "num_variance_estimate": 10000}


def _write_run(folder: pathlib.Path, *, dataset="dsprites", interventional=QUICK, source=True):
    """A run folder: every artefact (small real PNG/GIF files), the JSON files, the log."""
    viz_dir = folder / "viz"
    viz_dir.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, _, _ in viz.ARTEFACTS:
        width = WIDE if name == "traversal.png" else 20
        shape = (12, width, 3)
        frames = [Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)) for _ in "ab"]
        if name.endswith(".gif"):
            frames[0].save(viz_dir / name, save_all=True, append_images=frames[1:], duration=100)
        else:
            frames[0].save(viz_dir / name)
    config = {
        "model": "conv",
        "dataset": dataset,
        "num_latents": 4,
        "batch_size": 8,
        "num_steps": 300,
        "seed": 0,
        "objective": {"name": "beta_tcvae", "beta": 6.0, "estimator": "mws", "dataset_size": None},
    }
    record = {
        "config": config,
        "devices": {"count": 8, "kind": "cpu", "platform": "cpu", "processes": 1},
        "versions": {"jax": "0.10.2"},
        "source": {"commit": COMMIT, "modified": True} if source else None,
        "written": "2026-12-04T05:01:05Z",
    }
    (folder / "config.json").write_text(json.dumps(record))
    rows = [
        {"step": 100, "loss": -3.0, "recon": 50.0, "kl": 3.0, "tc": -5.5, "elbo": -53.0,
         "steps_per_s": 10.0, "time_to_first_step_s": 4.0},
        {"step": 300, "loss": -4.0, "recon": 40.0, "kl": 2.0, "tc": -5.0, "elbo": -42.0,
         "steps_per_s": 20.0},
    ]  # fmt: skip
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "evaluation.json").write_text(json.dumps(_evaluation(interventional)))
    (folder / "checkpoints" / "300").mkdir(parents=True)
    (folder / "tensorboard").mkdir()
    return folder


@pytest.fixture()
def run_folder(tmp_path):
    return _write_run(tmp_path / "run")


def test_report_embeds_every_artefact_and_links_only_the_run_files(run_folder):
    path = runs.write_report(run_folder, step=300, notes=["a note & more"])
    assert path == run_folder / "report.html"
    text = path.read_text(encoding="utf-8")
    parser = _parse(text)
    assert parser.tags[0] == "html" and "body" in parser.tags and "table" in parser.tags
    by_name = {img["data-artefact"]: img["src"] for img in parser.images}
    assert sorted(by_name) == sorted(name for name, _, _ in viz.ARTEFACTS)
    for name, src in by_name.items():
        mime = "image/gif" if name.endswith(".gif") else "image/png"
        prefix = f"data:{mime};base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix) :]) == (run_folder / "viz" / name).read_bytes()
    # links are relative, to files of the run folder, and nothing is fetched from elsewhere
    assert "http://" not in text and "https://" not in text
    for href in parser.links:
        assert not href.startswith(("/", "file:", "data:")) and ".." not in href, href
        assert (run_folder / href).exists(), href
    for expected in ("config.json", "metrics.jsonl", "evaluation.json", "checkpoints/",
                     "tensorboard/", "viz/traversal.png", "viz/traversal.gif"):  # fmt: skip
        assert expected in parser.links
    assert "a note &amp; more" in text and "checkpoint step 300" in text


def test_headline_card_gives_scores_vote_counts_and_anchors(run_folder):
    card = _headline(runs.write_report(run_folder).read_text())
    cells = _parse(card).cells
    assert {"0.25", "0.3", "0.5", "0.7"} <= set(cells)  # the headline of each scored metric
    assert "dci/completeness" not in card and "0.375" not in cells  # details stay folded
    assert "skipped: needs two classes per factor" in card
    assert "500 training and 300 evaluation votes of 64 points each" in card
    assert "(the quick vote counts)" in card and "not the reference vote counts" in card
    assert "10,000 training and 5,000 test points" in card
    published = evaluation.anchors_for("beta_tcvae", "dsprites", hyperparameters={"beta": 6.0})
    assert published  # the check below compares something
    for anchor in published:
        assert anchor.source in card and anchor.label in card
        (row,) = [r for r in card.split("<tr>") if f"<code>{anchor.metric}</code>" in r]
        assert f"<td>{anchor.value:.4g} " in row  # in the row of the key it compares with
    assert evaluation.PROTOCOLS["mig_chen2018"] in card  # the MIGs carry their protocol


def test_reference_votes_are_not_flagged_and_other_datasets_have_no_anchors(tmp_path):
    folder = _write_run(tmp_path / "run", dataset="shapes3d_like", interventional=REFERENCE)
    card = _headline(runs.write_report(folder).read_text())
    assert "(the reference vote counts)" in card and "not the reference" not in card
    assert "No published scores recorded for objective beta_tcvae on dataset shapes3d_like" in card
    assert "<th>published</th>" not in card


def test_vote_counts_are_given_only_for_scores_that_vote(tmp_path):
    folder = _write_run(tmp_path / "run")
    record = json.loads((folder / "evaluation.json").read_text())
    del record["metrics"]["factor_vae_score"], record["metrics"]["factor_vae_score/train_accuracy"]
    (folder / "evaluation.json").write_text(json.dumps(record))
    card = _headline(runs.write_report(folder).read_text())
    assert "10,000 training and 5,000 test points" in card and "votes" not in card


def test_detail_tables_fold_every_score_by_metric(run_folder):
    text = runs.write_report(run_folder).read_text()
    parser = _parse(text)
    numeric = {
        k: v
        for k, v in report.flatten(_evaluation(QUICK)["metrics"]).items()
        if not isinstance(v, str)
    }
    assert set(numeric) <= set(parser.folded_cells)  # every score key in a folded table
    summaries = re.findall(r"<summary>([^<]*)</summary>", text)
    assert "dci: 2 values, 2.5 s" in summaries and "mig: 1 value, 1.5 s" in summaries
    assert "factor_vae_score: 2 values" in summaries  # its accuracy joins its group
    assert "config record" in summaries  # the config is folded too


def test_run_facts_and_the_captions_of_surprising_curves(run_folder, tmp_path):
    text = html.unescape(runs.write_report(run_folder).read_text())
    assert f"{COMMIT} (with uncommitted changes)" in text
    # wall time: 4 s to the first step, 99 steps at 10/s, 200 steps at 20/s
    assert "training wall time</dt><dd>23.9 s to step 300" in text
    assert "evaluation wall time</dt><dd>1 min 01 s" in text
    assert "8 × cpu (cpu)" in text
    floor = -(4 - 1) * math.log(8)  # -(L-1) log B, B = 8, L = 4
    assert "tc is never positive" in text and f"{floor:.3g}" in text
    assert "carries the same offset" in text  # beta = 6 > 1: the loss is offset too
    other = runs.write_report(_write_run(tmp_path / "other", source=False)).read_text()
    assert "none (trained from an installed package, not a checkout)" in other
    config = json.loads((tmp_path / "other" / "config.json").read_text())
    del config["source"]  # a run folder older than the record
    (tmp_path / "other" / "config.json").write_text(json.dumps(config))
    older = runs.write_report(tmp_path / "other").read_text()
    assert "not recorded (config.json written before disentax kept it)" in older


def test_report_leaves_out_missing_artefacts_and_says_what_is_missing(tmp_path):
    (tmp_path / "viz").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "viz" / "kl.png")
    text = runs.write_report(tmp_path).read_text()
    parser = _parse(text)
    assert [img["data-artefact"] for img in parser.images] == ["kl.png"]
    assert "No scores in this run" in text and "No stored config in this run" in text
    assert parser.links == ["viz/", "viz/kl.png"]  # the only files of the run
    with pytest.raises(FileNotFoundError, match="nowhere"):
        runs.write_report(tmp_path / "nowhere")


def test_figure_rejects_other_files(tmp_path):
    path = tmp_path / "picture.jpg"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"expected \.png or \.gif"):
        viz.render_report(
            title="t", config=None, evaluation=None, artefacts=[(path, "Pictures", "caption")]
        )


# ---- headless Chromium ---------------------------------------------------------------

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # containers often give /dev/shm only 64 MB
    "--enable-logging=stderr",  # page console messages reach stderr as ":CONSOLE" lines
    "--v=0",
)
WINDOW = (1000, 1400)  # the screenshot's
NARROW = (500, 900)  # the width probe's: a phone-like window (headless Chromium's narrowest)

# Run after the load event by a probe copy of the report: the page's width before and
# after every picture is toggled to full size, and each image's decoded width.
PROBE = """<script>
window.addEventListener('load', () => {
  const width = () => document.documentElement.scrollWidth;
  const fitted = width();
  document.querySelectorAll('input.zoom').forEach(box => { box.checked = true; });
  const zoomed = width();
  const traversal = document.querySelector('img[data-artefact="traversal.png"]');
  document.body.setAttribute('data-probe', JSON.stringify({
    fitted, zoomed, viewport: window.innerWidth,
    zoomedTraversal: traversal ? traversal.getBoundingClientRect().width : null,
    decoded: Object.fromEntries(Array.from(document.images).map(
      i => [i.dataset.artefact, i.naturalWidth])),
  }));
});
</script>"""


def _chromium(*args, user_data_dir: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={user_data_dir}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _console(stderr: str) -> list[str]:
    """The page's console messages (Chromium logs every level as ``INFO:CONSOLE``)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def _probe(page: pathlib.Path, profile: pathlib.Path) -> tuple[dict, list[str]]:
    result = _chromium(
        "--virtual-time-budget=5000",
        f"--window-size={NARROW[0]},{NARROW[1]}",
        "--dump-dom",
        page.as_uri(),
        user_data_dir=profile,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'data-probe="([^"]*)"', result.stdout)
    probe = json.loads(html.unescape(found.group(1))) if found else {}
    return probe, _console(result.stderr)


@pytest.mark.browser
@pytest.mark.skipif(NO_BROWSER, reason="no headless Chromium (apt-get install chromium)")
def test_report_renders_in_headless_chromium(run_folder, tmp_path_factory):
    report_path = runs.write_report(run_folder, step=300)
    probe_page = run_folder / "probe.html"
    probe_page.write_text(report_path.read_text().replace("</body>", PROBE + "</body>"))
    probe, console = _probe(probe_page, tmp_path_factory.mktemp("chromium-profile"))
    assert console == []  # no console message: no script error, nothing blocked
    assert sorted(probe["decoded"]) == sorted(name for name, _, _ in viz.ARTEFACTS)
    assert probe["decoded"]["traversal.png"] == WIDE and probe["decoded"]["kl.png"] == 20
    # the page is no wider than the window, with the pictures fitted and at full size
    assert probe["viewport"] == NARROW[0]
    assert probe["fitted"] <= probe["viewport"] and probe["zoomed"] <= probe["viewport"]
    assert probe["zoomedTraversal"] == WIDE  # full size inside its scrolling box

    shot = run_folder / "shot.png"
    result = _chromium(
        f"--screenshot={shot}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        report_path.as_uri(),
        user_data_dir=tmp_path_factory.mktemp("chromium-profile"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert _console(result.stderr) == []
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (WINDOW[1], WINDOW[0]) and pixels.std() > 5  # not blank


@pytest.mark.browser
@pytest.mark.skipif(NO_BROWSER, reason="no headless Chromium (apt-get install chromium)")
def test_the_browser_checks_catch_a_wide_page_and_a_script_error(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><body><div style="width: 3000px">wide</div>'
        f"<script>undefinedFunction();</script>{PROBE}</body></html>"
    )
    probe, console = _probe(page, tmp_path / "profile")
    assert any("Uncaught ReferenceError" in line for line in console), console
    assert probe["fitted"] > probe["viewport"]
