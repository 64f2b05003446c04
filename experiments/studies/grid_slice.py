"""The 72-model slice of the reference grid on 8 simulated CPU devices, as a results section.

Reads a finished ``disentax study run --config locatello2019 --config.num_seeds=2
--config.num_steps=20`` folder and writes ``results/grid_slice/``: the study's tidy table
(``study.csv``), its figures and ``study.html``, and ``SECTION.md`` (which
``readme_section.py`` puts into the results page). The models train 20 steps: the run
checks that the whole grid trains, evaluates and analyses as sharded programs, not what
the objectives learn. Every number of the section is read from the study folder.

Usage:
  XLA_FLAGS=--xla_force_host_platform_device_count=8 disentax study run \\
      --config locatello2019 --config.num_seeds=2 --config.num_steps=20 \\
      --config.metrics=mig,dci,sap,modularity,irs,unsupervised --workdir runs/grid_slice
  python experiments/studies/grid_slice.py --study runs/grid_slice
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import sys

import pandas as pd

from disentax.runs.study import study_status

FILES = ("study.csv", "study.html", "study_distributions.png", "study_rank_correlation.png",
         "study_hyperparameter.png", "study_variance.png", "study_selection.png")  # fmt: skip


def section(study: pathlib.Path, table: pd.DataFrame, figures: list[str]) -> str:
    """The markdown of the section, from the study folder and its table."""
    spec = json.loads((study / "study.json").read_text(encoding="utf-8"))["spec"]
    status = study_status(study)
    configs = [json.loads((study / "models" / r["model"] / "config.json").read_text())
               for r in status]  # fmt: skip
    devices = sorted({c["devices"]["count"] for c in configs})
    groups = sorted({len(c.get("sweep", [c])) for c in configs})
    trained = sum(r["step"] is not None and r["step"] >= r["num_steps"] for r in status)
    evaluated = sum(r["evaluated"] for r in status)
    mig = table[table["metric"] == "mig"].groupby("objective")["score"].median()
    lines = [
        "## The reference grid, sliced (`results/grid_slice/`)",
        "",
        f"The grid of Locatello et al. (2019): {len(spec['grid'])} objectives × 6 "
        f"hyperparameter values × {spec['num_seeds']} seeds = {len(status)} models, "
        f"{spec['num_steps']} steps each; each objective's {', '.join(map(str, groups))} "
        f"models trained as one program on a mesh of {', '.join(map(str, devices))} "
        "simulated CPU devices (the devices its `config.json` records; every device on "
        f"the models axis, the study's default). {trained} trained, {evaluated} evaluated "
        f"({spec['metrics']}), then analysed into the table, the figures and `study.html`. "
        "At 20 steps the models have barely moved from their initialisation: the run "
        "checks the machinery of a study at scale, not what the objectives learn "
        "(see the CPU seed studies for that).",
        "",
        "Median histogram MIG (disentanglement_lib's `mig`) per objective (20 steps): "
        + ", ".join(f"{objective} {score:.3f}" for objective, score in mig.items())
        + ".",
        "",
        "Commands:",
        "",
        "```",
        "XLA_FLAGS=--xla_force_host_platform_device_count=8 disentax study run \\",
        "    --config locatello2019 --config.num_seeds=2 --config.num_steps=20 \\",
        f"    --config.metrics={spec['metrics']} --workdir runs/grid_slice",
        "python experiments/studies/grid_slice.py --study runs/grid_slice",
        "python experiments/studies/readme_section.py",
        "```",
        "",
    ]
    for name in figures:
        lines += [f"![{name}](../results/grid_slice/{name})", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", required=True, help="the study folder")
    parser.add_argument("--out", default="results/grid_slice")
    args = parser.parse_args(argv)
    study, out = pathlib.Path(args.study), pathlib.Path(args.out)
    analysis = study / "analysis"
    if not (analysis / "study.csv").is_file():
        raise SystemExit(f"{analysis / 'study.csv'} not found: run `disentax study run` first")
    out.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        if (analysis / name).is_file():
            shutil.copy(analysis / name, out / name)
    figures = [n for n in FILES if n.endswith(".png") and (out / n).is_file()]
    table = pd.read_csv(out / "study.csv")
    (out / "SECTION.md").write_text(section(study, table, figures), encoding="utf-8")
    print(f"wrote {out}/SECTION.md and {len(figures)} figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
