"""The results page of the manual (``docs/results.md``), generated from ``results/``.

Puts the measured scores of every tier (``results/<tier>/results.json``) next to the
published anchors, states the targets of the tier and whether each was reached (with the
measured value), lists the commands and where the tier ran, and appends the tier's
``results.md`` (every metric) and ``NOTES.md``. Nothing measured is typed here: every
measured number is read from the results files.

Usage:
  python experiments/studies/readme_section.py              # writes docs/results.md
  python experiments/studies/readme_section.py --out -      # prints it instead

:func:`section` is the same text for one tier, which ``cpu_tier.py`` writes into the
tier's own folder (``results/cpu_tier/README.md``).

References:
  Lin et al., "InfoGAN-CR and ModelCentrality: Self-supervised Model Training and
  Selection for Disentangling GANs", ICML 2020, Table 1 (best reported result per method
  on dSprites, compiled from the original papers; metric implementations differ between
  rows). Kim & Mnih, "Disentangling by Factorising", ICML 2018 (FactorVAE score).
  Chen et al., "Isolating Sources of Disentanglement in VAEs", NeurIPS 2018 (MIG).
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys

from disentax.evaluation.anchors import ANCHORS, PROTOCOLS, TITLES, anchors_for

COLUMNS = (
    "beta_vae_score",
    "factor_vae_score",
    "mig",
    "mig_chen2018",
    "dci/disentanglement",
    "sap",
    "modularity",
)
# Published values shown beside the measured ones, each beside the key of its protocol.
PUBLISHED_COLUMNS = ("factor_vae_score", "mig_chen2018")


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _targets(rows: dict) -> list[str]:
    lines = []
    tc = rows.get("beta-TCVAE", {}).get("metrics", {}).get("mig")
    vae = rows.get("VAE", {}).get("metrics", {}).get("mig")
    if tc is None or vae is None:
        lines.append("- MIG targets: not evaluated (no histogram MIG in the results file).")
    else:
        ratio = tc / vae if vae > 0 else math.inf
        ok = tc >= 0.08 and ratio >= 3
        lines.append(
            "- beta-TCVAE histogram MIG >= 0.08 and >= 3x the plain VAE's: "
            f"**{'met' if ok else 'not met'}**"
            f" (beta-TCVAE {tc:.3f}, VAE {vae:.3f}, ratio {ratio:.1f}x)."
        )
    fv = rows.get("FactorVAE", {}).get("metrics", {}).get("factor_vae_score")
    vae_fv = rows.get("VAE", {}).get("metrics", {}).get("factor_vae_score")
    if fv is None or vae_fv is None:
        lines.append("- FactorVAE-score target: not evaluated.")
    else:
        ok = fv > vae_fv
        lines.append(
            f"- FactorVAE model's FactorVAE score above the plain VAE's: "
            f"**{'met' if ok else 'not met'}** (FactorVAE {fv:.3f}, VAE {vae_fv:.3f})."
        )
    return lines


def _published(row: dict, metric: str) -> str:
    """The published anchor of ``metric`` for a row's objective and value, or a dash."""
    hyper = {row["hyperparameter"]: row["value"]} if row.get("hyperparameter") else None
    found = anchors_for(row.get("objective"), "dsprites", metric=metric, hyperparameters=hyper)
    return " / ".join(f"{a.value:.2f}" for a in found) or "–"


def _body(table: dict, *, image: str = "results/cpu_tier/traversal_best.png") -> list[str]:
    """The tier's table, anchors, targets, settings and commands (markdown lines)."""
    rows = {r["label"]: r for r in table["rows"]}
    info = table.get("info", {})
    head = ["model", "steps"] + [f"{TITLES.get(c, c)} (measured)" for c in COLUMNS]
    head += [f"{TITLES.get(c, c)} (published)" for c in PUBLISHED_COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, row in rows.items():
        cells = [f"{label} ({row['hyperparameter']}={row['value']:g})", _fmt(row["step"])]
        cells += [_fmt(row["metrics"].get(c)) for c in COLUMNS]
        cells += [_published(row, c) for c in PUBLISHED_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    missing = [c for c in COLUMNS if all(c not in r["metrics"] for r in rows.values())]
    sources = sorted({a.source for a in ANCHORS})
    lines += [
        "",
        "Which MIG is which: "
        + "; ".join(f"`{k}`: {v}" for k, v in PROTOCOLS.items() if k in COLUMNS)
        + ". Published values sit only beside the measured key of the same protocol "
        "(`disentax.evaluation.ANCHORS`, from "
        + ", ".join(sources)
        + ": the best result reported per method on dSprites, MIG by Chen et al.'s protocol);"
        " no single-value histogram-MIG anchor exists (Locatello et al. 2019 report "
        "distributions over seeds). The published models trained 300,000 steps at batch 64 "
        "(Locatello et al. 2019), about 1.7 GPU-hours each; the CPU tier trains the steps "
        "shown above.",
    ]
    if missing:
        lines += [
            "",
            "Not evaluated in this tier's results file (it predates them): "
            + ", ".join(f"`{c}`" for c in missing)
            + "; re-running the tier's command evaluates them."
            + (
                " The CPU seed studies' section scores the Chen-protocol MIG of the same "
                "four models (1,500 steps, over seeds) beside these anchors."
                if "mig_chen2018" in missing
                else ""
            ),
        ]
    lines += [
        "",
        "Targets of the CPU tier:",
        *_targets(rows),
        "",
    ]
    settings = info.get("settings", {})
    calls = info.get("calls", [info])
    wall = sum(c.get("wall_s", 0.0) for c in calls)
    lines += [
        f"Settings: Adam learning rate {settings.get('learning_rate')}, batch "
        f"{settings.get('batch_size')}, seed {settings.get('seed')}; "
        f"{info.get('cpu_count')} CPU cores; wall time {wall / 60:.0f} min over "
        f"{len(calls)} call(s); load average at start "
        f"{_fmt(calls[0].get('load_average_at_start', [None])[0])}.",
        "",
        "Command (documented default; run it again to resume):",
        "",
        "```",
        "nohup python experiments/studies/cpu_tier.py --root runs/cpu_tier "
        "--out results/cpu_tier > runs/cpu_tier.log 2>&1 &",
        "python experiments/studies/readme_section.py",
        "```",
        "",
        "Calls that produced these numbers:",
        "",
        "```",
        *[f"python experiments/studies/{c['command']}" for c in calls if "command" in c],
        "```",
    ]
    if info.get("traversal_best"):
        lines += [
            "",
            f"Traversals of the best CPU-tier model by MIG ({info['traversal_best']}):",
            "",
            f"![traversal]({image})",
        ]
    return lines


def section(table: dict) -> str:
    """The markdown of one tier's results, as written into the tier's folder."""
    lines = ["## Results", "", "### CPU tier (2-core CPU, one seed per model)", ""]
    return "\n".join(lines + _body(table)) + "\n"


def _shifted(markdown: str, levels: int) -> str:
    """``markdown`` with every heading moved ``levels`` deeper (fenced code untouched)."""
    out, fenced = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("#"):
            line = "#" * levels + line
        out.append(line)
    return "\n".join(out)


def _title(name: str) -> str:
    words = [w.upper() if w in ("cpu", "gpu", "tpu") else w for w in name.split("_")]
    return " ".join(words)


def page(results_root: str | pathlib.Path = "results", image_prefix: str = "../") -> str:
    """The manual's results page: every tier under ``results_root``."""
    root = pathlib.Path(results_root)
    lines = [
        "# Results",
        "",
        "<!-- Written by `python experiments/studies/readme_section.py` from "
        "results/*/results.json; do not edit by hand. -->",
        "",
        "Scores of models trained and evaluated with disentax, one section per tier of "
        f"`{root.name}/`. Each names the machine it ran on and the commands that "
        "produced it; the numbers are read from the tier's `results.json`.",
        "",
    ]
    for results in sorted(root.glob("*/results.json")):
        tier = results.parent
        where = f"{root.name}/{tier.name}"  # as seen from the checkout's root
        table = json.loads(results.read_text(encoding="utf-8"))
        info = table.get("info", {})
        started = info.get("started") or (info.get("calls") or [{}])[0].get("started")
        lines += [
            f"## {_title(tier.name)} (`{where}/`)",
            "",
            f"Ran on {info.get('cpu_count')} CPU cores"
            + (f", started {started}" if started else "")
            + "; one seed per model.",
            "",
            *_body(table, image=f"{image_prefix}{where}/traversal_best.png"),
            "",
        ]
        if (tier / "scores.png").exists():
            lines += [f"![scores]({image_prefix}{where}/scores.png)", ""]
        if (tier / "results.md").exists():
            every = (tier / "results.md").read_text(encoding="utf-8").strip().splitlines()
            body = "\n".join(line for line in every if not line.startswith("#"))
            lines += ["### Every metric", "", body.strip(), ""]
        if (tier / "NOTES.md").exists():
            notes = (tier / "NOTES.md").read_text(encoding="utf-8").strip()
            lines += [_shifted(notes, 0), ""]
    for written in sorted(root.glob("*/SECTION.md")):  # sections written by their scripts
        lines += [written.read_text(encoding="utf-8").strip(), ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results", help="folder of the tiers")
    parser.add_argument("--out", default="docs/results.md", help="the page ('-': stdout)")
    args = parser.parse_args(argv)
    text = page(args.results)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        pathlib.Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
