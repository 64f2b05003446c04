"""The study analysis: tidy table from run folders, statistics against closed forms."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from disentax.runs import RunFolder, analyse_study, study_table
from disentax.runs.study_analysis import rank_correlations, selection_rates, variance_explained


def _folder(root, name, objective, value, seed, scores, log):
    folder = RunFolder(root / name)
    folder.path.mkdir(parents=True)
    hyper = "beta" if objective != "factor_vae" else "gamma"
    folder.write_config(
        {"objective": {"name": objective, hyper: value}, "dataset": "dsprites", "seed": seed}
    )
    folder.write_json(folder.evaluation, {"step": 100, "metrics": scores})
    folder.metrics.write_text("".join(json.dumps(row) + "\n" for row in log) + '{"step": 1')
    return folder.path


def _study(root, num_seeds=3):
    rng = np.random.default_rng(0)
    folders = []
    for objective in ("beta_vae", "factor_vae"):
        for value in (1.0, 4.0):
            for seed in range(num_seeds):
                mig = 0.1 * value + 0.01 * seed
                scores = {"mig": mig, "dci": {"disentanglement": float(rng.uniform())}}
                log = [{"step": 50, "elbo": -9.0}, {"step": 100, "elbo": -mig, "recon": mig}]
                name = f"{objective}_{value:g}_{seed}"
                folders.append(_folder(root, name, objective, value, seed, scores, log))
    return folders


def test_study_table_has_a_row_per_model_and_metric(tmp_path):
    table = study_table(_study(tmp_path))
    assert list(table.columns) == [
        "model", "dataset", "objective", "hyperparameter", "value", "seed", "step", "metric",
        "score",
    ]  # fmt: skip
    assert table["model"].nunique() == 12
    per_model = table.groupby("model")["metric"].apply(sorted).iloc[0]
    assert per_model == ["dci/disentanglement", "mig", "train/elbo", "train/recon"]
    row = table[(table["model"] == "factor_vae_4_2") & (table["metric"] == "mig")].iloc[0]
    assert (row["hyperparameter"], row["value"], row["seed"], row["step"]) == ("gamma", 4.0, 2, 100)
    assert row["score"] == pytest.approx(0.42)
    # the log's last complete row (the partial last line is skipped)
    elbo = table[(table["model"] == "factor_vae_4_2") & (table["metric"] == "train/elbo")]
    assert elbo["score"].item() == pytest.approx(-0.42)


def test_study_table_names_a_folder_without_config(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty"):
        study_table([tmp_path / "empty"])


def _table(values, scores):
    return pd.DataFrame(
        {
            "model": [f"m{i}" for i in range(len(values))],
            "dataset": "d",
            "objective": "o",
            "hyperparameter": "beta",
            "value": values,
            "seed": range(len(values)),
            "step": 1,
            "metric": "mig",
            "score": scores,
        }
    )


def test_variance_explained_is_the_one_way_anova_share():
    # means 2 and 6 around 4: between = 2*4 + 2*4 = 16 of a total 4+... = 20
    out = variance_explained(_table([1.0, 1.0, 2.0, 2.0], [1.0, 3.0, 5.0, 7.0]))
    assert out["hyperparameter_share"].item() == pytest.approx(16 / 20)
    assert out["seed_share"].item() == pytest.approx(4 / 20)
    # seeds only: nothing explained by the value
    flat = variance_explained(_table([1.0, 1.0, 2.0, 2.0], [1.0, 3.0, 1.0, 3.0]))
    assert flat["hyperparameter_share"].item() == pytest.approx(0.0)


def test_rank_correlations_equal_scipy_spearman(tmp_path):
    table = study_table(_study(tmp_path))
    corr = rank_correlations(table, ["mig", "dci/disentanglement", "train/elbo"])
    wide = table.pivot_table(index="model", columns="metric", values="score")
    expected = stats.spearmanr(wide["mig"], wide["dci/disentanglement"]).statistic
    assert corr.loc["mig", "dci/disentanglement"] == pytest.approx(expected)
    assert corr.loc["mig", "train/elbo"] == pytest.approx(-1.0)


def test_selection_rates_follow_how_the_selector_ranks():
    n = 20
    scores = np.arange(n, dtype=float)
    rows = []
    for metric, values in (("mig", scores), ("train/elbo", scores), ("train/recon", scores)):
        t = _table(np.ones(n), values)
        rows.append(t.assign(metric=metric))
    table = pd.concat(rows)
    out = selection_rates(table, ["mig"], num_resamples=500).set_index("selector")["rate"]
    assert out["train/elbo"] == 1.0  # highest ELBO = highest MIG: always the top
    assert out["train/recon"] < 0.01  # lowest recon = lowest MIG: top only by duplicates


def test_analyse_study_writes_table_figures_and_page(tmp_path):
    folders = _study(tmp_path / "runs")
    paths = analyse_study(folders, tmp_path / "study", metrics=["mig", "dci/disentanglement"])
    assert pd.read_csv(paths["table_csv"]).shape == (48, 9)
    assert pd.read_parquet(paths["table_parquet"]).shape == (48, 9)
    for name in ("distributions", "hyperparameter", "rank_correlation", "variance", "selection"):
        assert paths[name].stat().st_size > 1000, name
    page = paths["html"].read_text()
    assert page.count("data:image/png;base64,") == 5
    assert "12 models: beta_vae × 6, factor_vae × 6" in page
    # the page says which MIG its `mig` is, and names no MIG it does not show
    assert "mig: histogram MIG of disentanglement_lib" in page and "mig_chen2018" not in page


def test_total_correlation_figure_when_both_representations_were_scored(tmp_path):
    folders = []
    for value in (1.0, 4.0):
        for seed in range(2):
            tc = {"gaussian_total_correlation": 1.0 / value + 0.1 * seed}
            scores = {"mig": 0.1 * value, "unsupervised": tc, "unsupervised_sampled": tc}
            log = [{"step": 100, "elbo": -1.0, "recon": 1.0}]
            name = f"b{value:g}_{seed}"
            folders.append(_folder(tmp_path / "runs", name, "beta_vae", value, seed, scores, log))
    paths = analyse_study(folders, tmp_path / "study")
    assert paths["total_correlation"].stat().st_size > 1000
    assert "sampled (one posterior draw per point)" in paths["html"].read_text()
    # without the sampled scores the figure is left out, not drawn half empty
    paths = analyse_study(folders, tmp_path / "other", metrics=["mig"])
    assert "total_correlation" not in paths
