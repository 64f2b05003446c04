"""report.html: self-contained, parses, references every artefact; renders in Chromium."""

import base64
import html.parser
import json
import pathlib
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from disentax import runs, viz

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class _Collector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.links, self.tags, self.cells = [], [], [], []
        self._in_cell = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.images.append(attrs)
        for name in ("href", "src"):
            if name in attrs and tag != "img":
                self.links.append(attrs[name])
        self._in_cell = tag == "td"

    def handle_data(self, data):
        if self._in_cell:
            self.cells.append(data)


@pytest.fixture()
def run_folder(tmp_path):
    """A run folder holding every artefact (small real PNG/GIF files) and the JSON files."""
    viz_dir = tmp_path / "viz"
    viz_dir.mkdir()
    rng = np.random.default_rng(0)
    for name, _, _ in viz.ARTEFACTS:
        frames = [Image.fromarray(rng.integers(0, 255, (12, 20, 3), dtype=np.uint8)) for _ in "ab"]
        if name.endswith(".gif"):
            frames[0].save(viz_dir / name, save_all=True, append_images=frames[1:], duration=100)
        else:
            frames[0].save(viz_dir / name)
    config = {"model": "conv", "objective": {"name": "beta_tcvae", "beta": 6.0}, "seed": 0}
    (tmp_path / "config.json").write_text(json.dumps(config))
    evaluation = {
        "step": 300,
        "metrics": {"mig": 0.25, "dci": {"disentanglement": 0.5}, "note": "text"},
        "matrices": {"mutual_info": [[0.1, 0.2]]},
    }
    (tmp_path / "evaluation.json").write_text(json.dumps(evaluation))
    return tmp_path


def test_report_embeds_every_artefact_and_parses(run_folder):
    path = runs.write_report(run_folder, step=300, notes=["a note & more"])
    assert path == run_folder / "report.html"
    text = path.read_text(encoding="utf-8")
    parser = _Collector()
    parser.feed(text)
    parser.close()
    assert parser.tags[0] == "html" and "body" in parser.tags and "table" in parser.tags
    by_name = {img["data-artefact"]: img["src"] for img in parser.images}
    assert sorted(by_name) == sorted(name for name, _, _ in viz.ARTEFACTS)
    for name, src in by_name.items():
        mime = "image/gif" if name.endswith(".gif") else "image/png"
        prefix = f"data:{mime};base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix) :]) == (run_folder / "viz" / name).read_bytes()
    assert parser.links == []  # nothing fetched from elsewhere
    assert "http://" not in text and "https://" not in text
    for expected in ("mig", "0.25", "dci/disentanglement", "objective/beta", "beta_tcvae"):
        assert expected in parser.cells
    assert "a note &amp; more" in text and "step 300" in text


def test_report_leaves_out_missing_artefacts_and_says_what_is_missing(tmp_path):
    (tmp_path / "viz").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "viz" / "kl.png")
    text = runs.write_report(tmp_path).read_text()
    parser = _Collector()
    parser.feed(text)
    assert [img["data-artefact"] for img in parser.images] == ["kl.png"]
    assert "No scores in this run" in text and "No stored config in this run" in text
    with pytest.raises(FileNotFoundError, match="nowhere"):
        runs.write_report(tmp_path / "nowhere")


def _chromium(*args, user_data_dir: pathlib.Path) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={user_data_dir}",
    ]
    return subprocess.run(
        [CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium (apt-get install chromium)")
def test_report_renders_in_headless_chromium(run_folder, tmp_path_factory):
    report = runs.write_report(run_folder, step=300)
    # A probe copy records, after the load event, every image's decoded width.
    probe = run_folder / "probe.html"
    script = (
        "<script>window.addEventListener('load', () => document.body.setAttribute("
        "'data-decoded', Array.from(document.images).map("
        "i => i.dataset.artefact + ':' + i.naturalWidth).join(',')));</script>"
    )
    probe.write_text(report.read_text().replace("</body>", script + "</body>"))
    result = _chromium(
        "--virtual-time-budget=5000",
        "--dump-dom",
        probe.as_uri(),
        user_data_dir=tmp_path_factory.mktemp("chromium-profile"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    start = result.stdout.index('data-decoded="') + len('data-decoded="')
    decoded = dict(item.split(":") for item in result.stdout[start:].split('"', 1)[0].split(","))
    assert sorted(decoded) == sorted(name for name, _, _ in viz.ARTEFACTS)
    assert all(width == "20" for width in decoded.values()), decoded  # every image decoded

    shot = run_folder / "shot.png"
    result = _chromium(
        f"--screenshot={shot}",
        "--window-size=1000,1400",
        report.as_uri(),
        user_data_dir=tmp_path_factory.mktemp("chromium-profile"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (1400, 1000) and pixels.std() > 5  # text and images, not blank
