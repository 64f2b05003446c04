"""The CPU seed studies as a results section: medians, seed spread and rank-sum tests.

Reads the study folders of ``experiments/studies/specs/`` (``cpu_seeds``, ``cpu_weak``,
``cpu_correlated``), scores what their studies did not (``--extra``: the sampled-code
total correlation and fairness of the ``cpu_seeds`` models, and the latent correlation of
the ``cpu_seeds`` and ``cpu_correlated`` models, each in a temporary copy of the run folder
so nothing of the study is rewritten), and writes
``results/cpu_studies/``: the combined tidy table (``studies.csv``), the figures, and
``SECTION.md``, which ``readme_section.py`` puts into the results page. Every claim is a
one-sided Mann-Whitney U test over seeds with a bootstrap interval of the median
difference; nothing measured is typed here.

Usage:
  python experiments/studies/seed_results.py --runs runs --extra
  python experiments/studies/readme_section.py
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import sys
import tempfile

import numpy as np
import pandas as pd
from scipy import stats

from disentax.evaluation import PROTOCOLS, TITLES, anchors_for
from disentax.runs import study_table
from disentax.runs.study import study_status

STUDIES = ("cpu_seeds", "cpu_weak", "cpu_correlated")
EXTRA = ("unsupervised_sampled", "fairness")
# Scored again for both studies (its headline changed to the shared information; the
# studies' own records hold the earlier Pearson headline).
LATENT = "latent_correlation"
POS_PAIR = "latent_correlation/factor3_factor4"  # dSprites posX (3) and posY (4)
POS_PEARSON = "latent_correlation/pearson/factor3_factor4"
# Chen et al.'s published MIG protocol (the whole 737,280-point grid): about 10 minutes
# of one core per model here, so it is scored for the unsupervised models only.
CHEN = "mig_chen2018"
SHOWN = ("mig", CHEN, "dci/disentanglement", "factor_vae_score", "beta_vae_score",
         POS_PAIR, POS_PEARSON, "fairness",
         "unsupervised/gaussian_total_correlation",
         "unsupervised_sampled/gaussian_total_correlation")  # fmt: skip
LABELS = {
    ("cpu_seeds", "beta_vae", 1): "VAE",
    ("cpu_seeds", "beta_vae", 4): "β-VAE (β=4)",
    ("cpu_seeds", "beta_tcvae", 6): "β-TCVAE (β=6)",
    ("cpu_seeds", "factor_vae", 40): "FactorVAE (γ=40)",
    ("cpu_weak", "group_vae", 1): "Ada-GVAE (k=-1, β=1)",
    ("cpu_weak", "s2_beta_vae", 100): "S²-β-VAE, 100 labels",
    ("cpu_weak", "s2_beta_vae", 1000): "S²-β-VAE, 1000 labels",
    ("cpu_correlated", "beta_vae", 4): "β-VAE (β=4), posX-posY correlated",
    ("cpu_correlated", "beta_tcvae", 6): "β-TCVAE (β=6), posX-posY correlated",
}
# (section, metric, better, worse): "better's scores exceed worse's over seeds"
CLAIMS = [
    ("unsupervised", "mig", "β-TCVAE (β=6)", "VAE"),
    ("unsupervised", "dci/disentanglement", "β-TCVAE (β=6)", "VAE"),
    ("unsupervised", CHEN, "β-TCVAE (β=6)", "VAE"),
    ("unsupervised", "mig", "β-VAE (β=4)", "VAE"),
    ("unsupervised", "factor_vae_score", "FactorVAE (γ=40)", "VAE"),
    ("unsupervised", "unsupervised/gaussian_total_correlation", "VAE", "β-VAE (β=4)"),
    ("unsupervised", "unsupervised_sampled/gaussian_total_correlation", "VAE", "β-VAE (β=4)"),
    ("weak", "mig", "Ada-GVAE (k=-1, β=1)", "β-VAE (β=4)"),
    ("weak", "mig", "Ada-GVAE (k=-1, β=1)", "β-TCVAE (β=6)"),
    ("weak", "dci/disentanglement", "Ada-GVAE (k=-1, β=1)", "β-TCVAE (β=6)"),
    ("weak", "factor_vae_score", "Ada-GVAE (k=-1, β=1)", "β-TCVAE (β=6)"),
    ("weak", "mig", "S²-β-VAE, 100 labels", "β-VAE (β=4)"),
    ("weak", "mig", "S²-β-VAE, 1000 labels", "β-VAE (β=4)"),
    ("weak", "mig", "S²-β-VAE, 1000 labels", "S²-β-VAE, 100 labels"),
    ("correlated", POS_PAIR, "β-VAE (β=4), posX-posY correlated", "β-VAE (β=4)"),
    ("correlated", POS_PAIR, "β-TCVAE (β=6), posX-posY correlated", "β-TCVAE (β=6)"),
    ("correlated", POS_PEARSON, "β-VAE (β=4), posX-posY correlated", "β-VAE (β=4)"),
    ("correlated", POS_PEARSON, "β-TCVAE (β=6), posX-posY correlated", "β-TCVAE (β=6)"),
    ("correlated", LATENT, "β-VAE (β=4), posX-posY correlated", "β-VAE (β=4)"),
    ("correlated", LATENT, "β-TCVAE (β=6), posX-posY correlated", "β-TCVAE (β=6)"),
    ("correlated", "mig", "β-TCVAE (β=6)", "β-TCVAE (β=6), posX-posY correlated"),
    ("correlated", "fairness", "β-VAE (β=4), posX-posY correlated", "β-VAE (β=4)"),
]


def _evaluated(root: pathlib.Path) -> list[pathlib.Path]:
    return [root / "models" / r["model"] for r in study_status(root) if r["evaluated"]]


def _extra_rows(folders, out: pathlib.Path, metrics, prefix: str = "") -> pd.DataFrame:
    """``metrics`` of ``folders``, scored in temporary copies (cached in ``out``)."""
    from disentax import runs

    out.mkdir(parents=True, exist_ok=True)
    for folder in folders:
        cached = out / f"{prefix}{folder.name}.json"
        if cached.is_file():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            copy = pathlib.Path(tmp) / folder.name
            shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("evaluation.json"))
            runs.evaluate(copy, metrics=list(metrics), eval_sizes="quick")
            shutil.copy(copy / "evaluation.json", cached)
    rows = []
    for folder in folders:
        record = json.loads((out / f"{prefix}{folder.name}.json").read_text(encoding="utf-8"))
        rows += [{"model": folder.name, "metric": k, "score": v}
                 for k, v in record["metrics"].items()]  # fmt: skip
    return pd.DataFrame(rows)


def _add_rows(table, more) -> pd.DataFrame:
    """``table`` with the rows of ``more`` (model, metric, score) it does not hold."""
    keep = table.drop_duplicates("model").drop(columns=["metric", "score"])
    more = keep.merge(more, on="model")
    known = set(zip(table["model"], table["metric"], strict=True))
    new = [(m, k) not in known for m, k in zip(more["model"], more["metric"], strict=True)]
    return pd.concat([table, more[new]], ignore_index=True)


def combined_table(runs_root: pathlib.Path, extra: bool, out: pathlib.Path) -> pd.DataFrame:
    """Every evaluated model of the three studies, labelled, with the extra scores."""
    tables = []
    for study in STUDIES:
        root = runs_root / study
        if not (root / "study.json").is_file():
            continue
        folders = _evaluated(root)
        grid = json.loads((root / "study.json").read_text(encoding="utf-8"))["spec"]["grid"]
        table = study_table(folders, hyperparameter_of={o: g["hyperparameter"]
                                                        for o, g in grid.items()})  # fmt: skip
        if extra and study == "cpu_seeds":
            table = _add_rows(table, _extra_rows(folders, out / "extra", EXTRA))
            table = _add_rows(table, _extra_rows(folders, out / "extra" / CHEN, (CHEN,)))
        if extra and study in ("cpu_seeds", "cpu_correlated"):
            table = table[~table["metric"].str.startswith(LATENT)]
            more = _extra_rows(folders, out / "extra" / LATENT, (LATENT,), f"{study}-")
            table = _add_rows(table, more)
        table.insert(0, "study", study)
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    keys = zip(table["study"], table["objective"], table["value"], strict=True)
    table["label"] = [LABELS.get((s, o, int(v)), f"{s}:{o}={v:g}") for s, o, v in keys]
    return table


def _scores(table, label, metric) -> np.ndarray:
    rows = table[(table["label"] == label) & (table["metric"] == metric)]
    return rows["score"].to_numpy(float)


def _bootstrap(a, b, *, num=10000, seed=0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    da = np.median(rng.choice(a, (num, len(a))), axis=1)
    db = np.median(rng.choice(b, (num, len(b))), axis=1)
    return tuple(np.percentile(da - db, [2.5, 97.5]))


def claims(table) -> list[dict]:
    """Each claim of CLAIMS tested over seeds (skipped where a side has no scores)."""
    out = []
    for section, metric, better, worse in CLAIMS:
        a, b = _scores(table, better, metric), _scores(table, worse, metric)
        if len(a) < 2 or len(b) < 2:
            continue
        p = stats.mannwhitneyu(a, b, alternative="greater").pvalue
        low, high = _bootstrap(a, b)
        out.append({"section": section, "metric": metric, "better": better, "worse": worse,
                    "n": (len(a), len(b)), "median_better": float(np.median(a)),
                    "median_worse": float(np.median(b)), "p": float(p),
                    "ci": (float(low), float(high)), "holds": bool(p < 0.05)})  # fmt: skip
    return out


# Published values shown beside the measured key of the same protocol (unsupervised
# models on independent data only: the anchors are for that setting).
PUBLISHED = ("factor_vae_score", CHEN)


def _title(metric: str) -> str:
    return TITLES.get(metric, metric)


def _published(rows, metric: str) -> str:
    """The anchor of ``metric`` for the rows' model (``–`` where none applies)."""
    first = rows.iloc[0]
    if first["study"] != "cpu_seeds":
        return "–"
    found = anchors_for(first["objective"], first["dataset"], metric=metric,
                        hyperparameters={first["hyperparameter"]: first["value"]})  # fmt: skip
    return ", ".join(f"{a.value:.2f}" for a in found) or "–"


def _summary(table) -> list[str]:
    shown = [m for m in SHOWN if m in set(table["metric"])]
    head = ["model", "seeds", "steps", *map(_title, shown)]
    head += [f"{_title(m)} (published)" for m in PUBLISHED if m in shown]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label in [v for v in LABELS.values() if v in set(table["label"])]:
        rows = table[table["label"] == label]
        seeds = rows["seed"].nunique()
        cells = [label, str(seeds), str(int(rows["step"].max()))]
        for metric in shown:
            s = _scores(table, label, metric)
            fewer = f" ({len(s)} seed{'s' * (len(s) > 1)})" if 0 < len(s) < seeds else ""
            cells.append(
                f"{np.median(s):.3f} [{s.min():.3f}, {s.max():.3f}]{fewer}" if len(s) else "–"
            )
        cells += [_published(rows, m) for m in PUBLISHED if m in shown]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


_QUESTIONS = {
    "unsupervised": "Unsupervised objectives against the VAE",
    "weak": "Weak and few-label supervision against the unsupervised models (the published "
    "direction: clearly better)",
    "correlated": "Training on posX-posY-correlated data against independent data",
}


def _verdicts(tested) -> list[str]:
    """One line per section: which of its claims hold across seeds and which do not."""
    lines = []
    for section_name, question in _QUESTIONS.items():
        claims_here = [c for c in tested if c["section"] == section_name]
        if not claims_here:
            continue

        def named(c):
            return f"{c['better']} > {c['worse']} on {_title(c['metric'])}"

        held = [named(c) for c in claims_here if c["holds"]]
        failed = [named(c) for c in claims_here if not c["holds"]]
        lines.append(
            f"- {question}: {len(held)} of {len(claims_here)} claims hold across seeds"
            + (f" ({'; '.join(held)})" if held else "")
            + (f"; not across seeds: {'; '.join(failed)}." if failed else ".")
        )
    return lines


def section(table, tested, info) -> str:
    """The markdown of the section (every number from ``table`` and ``tested``)."""
    lines = [
        "## CPU seed studies (`results/cpu_studies/`)",
        "",
        f"Three studies on procedural dSprites, {info['steps']} steps each at batch 64 "
        "(Adam 1e-3, the reference network), on this machine's 2 CPU cores: "
        "`cpu_seeds` (4 unsupervised models × 5 seeds), `cpu_weak` (Ada-GVAE and S²-β-VAE "
        "× 3 seeds) and `cpu_correlated` (β-VAE and β-TCVAE on posX-posY-correlated data, "
        "σ = 0.2, × 3 seeds; scored on the independent distribution). The published models "
        "train 300,000 steps; these train 0.5% of that, so they compare the objectives "
        "early in training, not at convergence. The posX-posY columns are "
        "`latent_correlation`'s shared information of the pair (how much of each "
        "position the other's top latent holds) and the `|Pearson|` of their top latents. "
        "Each cell: median over seeds [min, max]. Which MIG is which: "
        + "; ".join(f"{_title(k)}: `{k}`, {PROTOCOLS[k]}" for k in ("mig", CHEN))
        + ". Published values (`disentax.evaluation.ANCHORS`: Lin et al. 2020, Table 1, "
        "the best result reported per method after 300,000 steps; for FactorVAE a re-run "
        "at γ = 40) sit beside the measured key of the same protocol; no single-value "
        "histogram-MIG anchor exists.",
        "",
        *_summary(table),
        "",
    ]
    missing = [v for v in LABELS.values() if v not in set(table["label"])]
    if missing:  # a study stopped before these were trained or evaluated
        lines += [f"Not evaluated yet (rerun the study's command): {', '.join(missing)}.", ""]
    lines += [
        "Claims, each a one-sided Mann-Whitney U test over seeds (holds: p < 0.05) with a "
        "95% bootstrap interval of the difference of medians (p not corrected for the "
        "number of claims; with 3 and 5 seeds no p falls below 1/56 = 0.018):",
        "",
        "| claim | metric | medians | p | 95% interval | holds across seeds |",
        "|---|---|---|---|---|---|",
    ]
    for c in tested:
        lines.append(
            f"| {c['better']} > {c['worse']} | {_title(c['metric'])} | {c['median_better']:.3f} vs "
            f"{c['median_worse']:.3f} (n = {c['n'][0]}, {c['n'][1]}) | {c['p']:.3f} | "
            f"[{c['ci'][0]:.3f}, {c['ci'][1]:.3f}] | {'yes' if c['holds'] else 'no'} |"
        )
    lines += ["", *_verdicts(tested)]
    lines += ["", "Commands (each resumes where it stopped):", "", "```"]
    lines += [f"disentax study run --config experiments/studies/specs/{s}.py "
              f"--workdir runs/{s}" for s in STUDIES]  # fmt: skip
    lines += ["python experiments/studies/seed_results.py --runs runs --extra",
              "python experiments/studies/readme_section.py", "```", ""]  # fmt: skip
    for name in info["figures"]:
        lines += [f"![{name}](../results/cpu_studies/{name})", ""]
    if info["traversals"]:
        lines += ["Latent traversals of each model's seed 0 (`disentax traverse`):", ""]
        for label, name in info["traversals"]:
            lines += [f"{label}:", "", f"![{label}](../results/cpu_studies/{name})", ""]
    return "\n".join(lines)


def _traversals(table, runs_root: pathlib.Path, out: pathlib.Path) -> list[tuple[str, str]]:
    """Copies the seed-0 traversal of each label where ``disentax traverse`` drew one."""
    found = []
    models = table[table["seed"] == 0].drop_duplicates(["study", "model"])
    for study, label, model in zip(models["study"], models["label"], models["model"],
                                   strict=True):  # fmt: skip
        image = runs_root / study / "models" / model / "viz" / "traversal.png"
        if image.is_file():
            name = f"traversals/{study}-{model}.png"
            (out / "traversals").mkdir(exist_ok=True)
            shutil.copy(image, out / name)
            found.append((label, name))
    order = list(LABELS.values())
    return sorted(found, key=lambda item: order.index(item[0]) if item[0] in order else 99)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs", help="folder holding the study folders")
    parser.add_argument("--out", default="results/cpu_studies")
    parser.add_argument("--extra", action="store_true", help="score the extra metrics")
    args = parser.parse_args(argv)
    runs_root, out = pathlib.Path(args.runs), pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = combined_table(runs_root, args.extra, out)
    table.to_csv(out / "studies.csv", index=False)
    tested = claims(table)
    figures = []
    analysis = runs_root / "cpu_seeds" / "analysis"
    for name in ("study_distributions.png", "study_variance.png"):
        if (analysis / name).is_file():
            shutil.copy(analysis / name, out / name)
            figures.append(name)
    info = {"steps": int(table["step"].max()), "figures": figures,
            "traversals": _traversals(table, runs_root, out)}  # fmt: skip
    (out / "claims.json").write_text(json.dumps(tested, indent=1), encoding="utf-8")
    (out / "SECTION.md").write_text(section(table, tested, info), encoding="utf-8")
    print(f"wrote {out}/SECTION.md, studies.csv, claims.json ({len(tested)} claims)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
