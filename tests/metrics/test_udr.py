"""UDR vs the reference procedure (scikit-learn Lasso / SciPy Spearman).

Oracle: ``reference_udr`` follows disentanglement_lib (GitHub HEAD)
``evaluation/udr/metrics/udr.py``: ``StandardScaler``, multiply by ``kl > 0.01``,
``|Lasso(alpha=0.1).coef_|.T`` or ``|spearmanr|``, KL-filtered
``relative_strength_disentanglement``, median over the other models.
"""

import warnings

import numpy as np
import pytest
import scipy.stats
from sklearn.linear_model import Lasso
from sklearn.preprocessing import StandardScaler

from disentax.metrics import udr


def relative_strength(matrix):
    with np.errstate(all="ignore"):
        score_x = np.nanmean(np.nan_to_num(np.max(matrix, 0) ** 2 / np.sum(matrix, 0), 0))
        score_y = np.nanmean(np.nan_to_num(np.max(matrix, 1) ** 2 / np.sum(matrix, 1), 0))
    return (score_x + score_y) / 2


def reference_udr(codes, kl, correlation):
    reps = [StandardScaler().fit_transform(c) * (k > 0.01) for c, k in zip(codes, kl, strict=True)]
    masks = [k > 0.01 for k in kl]
    num_models, num_latents = len(codes), codes.shape[2]
    pairwise = np.zeros((num_models, num_models))
    for a in range(num_models):
        for b in range(num_models):
            if a == b:
                continue
            if correlation == "lasso":
                matrix = np.abs(Lasso(alpha=0.1).fit(reps[a], reps[b]).coef_).T
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # constant (masked) columns
                    matrix = np.abs(
                        np.array(
                            [
                                [
                                    scipy.stats.spearmanr(reps[a][:, i], reps[b][:, j])[0]
                                    for j in range(num_latents)
                                ]
                                for i in range(num_latents)
                            ]
                        )
                    )
            pairwise[a, b] = relative_strength(matrix[masks[a]][:, masks[b]])
    scores = [np.median(np.delete(pairwise[:, b], b)) for b in range(num_models)]
    return np.array(scores), pairwise


@pytest.fixture(scope="module")
def models():
    rng = np.random.default_rng(0)
    num_models, n, num_latents = 4, 500, 5
    sources = rng.normal(size=(n, num_latents))
    codes, kl = [], []
    for s in range(num_models):
        mixing = np.eye(num_latents)[rng.permutation(num_latents)]
        if s % 2:  # entangled models mix their latents
            mixing = mixing + 0.5 * rng.normal(size=mixing.shape)
        codes.append(sources @ mixing + 0.1 * rng.normal(size=(n, num_latents)))
        divergence = rng.uniform(0.5, 2.0, num_latents)
        divergence[s % num_latents] = 0.001  # one collapsed latent per model
        kl.append(divergence)
    return np.stack(codes).astype(np.float32), np.stack(kl).astype(np.float32)


@pytest.mark.parametrize("correlation", ["lasso", "spearman"])
def test_udr_matches_reference(models, correlation):
    codes, kl = models
    result = udr(codes, kl, correlation=correlation)
    scores, pairwise = reference_udr(codes, kl, correlation)
    np.testing.assert_allclose(np.asarray(result["pairwise"]), pairwise, atol=1e-4)
    np.testing.assert_allclose(np.asarray(result["model_scores"]), scores, atol=1e-4)


def test_udr_ranks_disentangled_models_first(models):
    codes, kl = models
    scores = np.asarray(udr(codes, kl)["model_scores"])
    assert min(scores[0], scores[2]) > max(scores[1], scores[3])
    # Models that are permutations of one another: the Lasso on standardised identical
    # codes gives the shrunk coefficient 1 - alpha = 0.9 on a permutation matrix, whose
    # relative strength is that coefficient; Spearman gives 1 on the matched pairs plus
    # the small sample correlations of independent codes.
    same = np.stack([codes[0], codes[0][:, ::-1], codes[0], codes[0][:, ::-1]])
    same_kl = np.stack([kl[0], kl[0][::-1], kl[0], kl[0][::-1]])
    np.testing.assert_allclose(np.asarray(udr(same, same_kl)["model_scores"]), 0.9, atol=1e-4)
    spearman = udr(same, same_kl, correlation="spearman")["model_scores"]
    assert np.all(np.asarray(spearman) > 0.8)


def test_udr_bad_input(models):
    codes, kl = models
    with pytest.raises(ValueError, match=r"\[S, N, L\]"):
        udr(codes[0], kl)
    with pytest.raises(ValueError, match="kl must have shape"):
        udr(codes, kl[:, :3])
    with pytest.raises(ValueError, match="correlation"):
        udr(codes, kl, correlation="pearson")
    with pytest.raises(ValueError, match="finite"):
        udr(np.where(codes > 2, np.nan, codes), kl)
