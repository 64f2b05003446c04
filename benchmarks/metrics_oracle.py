"""The NumPy/scikit-learn baseline of the metric suite, with the reference semantics.

Written from the semantics recorded in ``shared/reference/metrics.md`` (disentanglement_lib
1.5, ``evaluation/metrics/*.py``): per-pair Python loops over ``sklearn`` estimators, as
the reference and its PyTorch ports compute these scores. It is the time baseline of
``metrics/suite`` and a value cross-check; array layout is batch-major (``codes [N,L]``,
``factors [N,F]``), not the reference's transposed one.

References:
  Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning of
  Disentangled Representations", ICML 2019 (disentanglement_lib).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.stats
from sklearn import ensemble, linear_model, metrics, preprocessing, svm


def histogram_discretize(codes: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Per code: ``np.digitize`` against the left edges of its ``num_bins`` histogram."""
    out = np.zeros(codes.shape, np.int64)
    for i in range(codes.shape[1]):
        edges = np.histogram(codes[:, i], num_bins)[1][:-1]
        out[:, i] = np.digitize(codes[:, i], edges)
    return out


def discrete_mutual_info(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[La, Lb]`` with ``sklearn.metrics.mutual_info_score(b[:, j], a[:, i])`` (nats)."""
    out = np.zeros((a.shape[1], b.shape[1]))
    for i in range(a.shape[1]):
        for j in range(b.shape[1]):
            out[i, j] = metrics.mutual_info_score(b[:, j], a[:, i])
    return out


def discrete_entropy(factors: np.ndarray) -> np.ndarray:
    return np.array([metrics.mutual_info_score(f, f) for f in factors.T])


def mig(codes, factors, num_bins=20) -> float:
    m = discrete_mutual_info(histogram_discretize(codes, num_bins), factors)
    top = np.sort(m, axis=0)[::-1]
    return float(np.mean((top[0] - top[1]) / discrete_entropy(factors)))


def sap(codes_train, factors_train, codes_test, factors_test) -> float:
    """Discrete SAP: balanced LinearSVC(C=0.01) per (code, factor), test accuracy gap."""
    num_codes, num_factors = codes_train.shape[1], factors_train.shape[1]
    score = np.zeros((num_codes, num_factors))
    for i in range(num_codes):
        for j in range(num_factors):
            clf = svm.LinearSVC(C=0.01, class_weight="balanced")
            clf.fit(codes_train[:, i : i + 1], factors_train[:, j])
            pred = clf.predict(codes_test[:, i : i + 1])
            score[i, j] = np.mean(pred == factors_test[:, j])
    top = np.sort(score, axis=0)[::-1]
    return float(np.mean(top[0] - top[1]))


def dci(codes_train, factors_train, codes_test, factors_test, seed: int = 0) -> dict:
    """DCI with ``GradientBoostingClassifier()`` importances (sklearn defaults)."""
    num_codes, num_factors = codes_train.shape[1], factors_train.shape[1]
    importance = np.zeros((num_codes, num_factors))
    train_acc, test_acc = [], []
    for j in range(num_factors):
        model = ensemble.GradientBoostingClassifier(random_state=seed)
        model.fit(codes_train, factors_train[:, j])
        importance[:, j] = np.abs(model.feature_importances_)
        train_acc.append(np.mean(model.predict(codes_train) == factors_train[:, j]))
        test_acc.append(np.mean(model.predict(codes_test) == factors_test[:, j]))
    per_code = 1.0 - scipy.stats.entropy(importance.T + 1e-11, base=num_factors)
    code_weight = importance.sum(axis=1) / importance.sum()
    per_factor = 1.0 - scipy.stats.entropy(importance + 1e-11, base=num_codes)
    factor_weight = importance.sum(axis=0) / importance.sum()
    return {
        "disentanglement": float(np.sum(per_code * code_weight)),
        "completeness": float(np.sum(per_factor * factor_weight)),
        "informativeness_train": float(np.mean(train_acc)),
        "informativeness_test": float(np.mean(test_acc)),
    }


def modularity(codes, factors, num_bins=20) -> float:
    sq = discrete_mutual_info(histogram_discretize(codes, num_bins), factors) ** 2
    top = sq.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (sq.sum(axis=1) - top) / (top * (sq.shape[1] - 1))
    return float(np.mean(np.where(top > 0, 1.0 - delta, 0.0)))


def explicitness(codes_train, factors_train, codes_test, factors_test) -> dict:
    """Mean macro one-vs-rest AUROC of ``LogisticRegression()`` per factor."""
    mean, std = codes_train.mean(axis=0), codes_train.std(axis=0)
    x_train, x_test = (codes_train - mean) / std, (codes_test - mean) / std
    train, test = [], []
    for j in range(factors_train.shape[1]):
        clf = linear_model.LogisticRegression().fit(x_train, factors_train[:, j])
        for x, y, out in (
            (x_train, factors_train[:, j], train),
            (x_test, factors_test[:, j], test),
        ):
            onehot = preprocessing.MultiLabelBinarizer().fit_transform(y[:, None])
            out.append(metrics.roc_auc_score(onehot, clf.predict_proba(x)))
    return {"train": float(np.mean(train)), "test": float(np.mean(test))}


def irs(codes, factors, diff_quantile=0.99, num_bins=20) -> float:
    """IRS with histogram-binned factors; active dims counted (not summed)."""
    binned = histogram_discretize(factors.astype(np.float64), num_bins)
    active = codes.var(axis=0) > 0
    z = codes[:, active]
    cum = np.zeros((z.shape[1], factors.shape[1]))
    for i in range(factors.shape[1]):
        values = np.unique(binned[:, i])
        for v in values:
            rows = z[binned[:, i] == v]
            cum[:, i] += np.percentile(
                np.abs(rows - rows.mean(axis=0)), diff_quantile * 100, axis=0
            )
        cum[:, i] /= len(values)
    max_dev = np.max(np.abs(z - z.mean(axis=0)), axis=0)
    scores = (1.0 - cum / max_dev[:, None]).max(axis=1)
    if max_dev.sum() > 0:
        return float(np.average(scores, weights=max_dev))
    return float(np.mean(scores))


def unsupervised(codes, num_bins=20) -> dict:
    cov = np.cov(codes.T)
    diag = np.diag(cov)
    tc = 0.5 * (np.sum(np.log(diag)) - np.linalg.slogdet(cov)[1])
    wass = 2 * np.trace(cov) - 2 * np.trace(scipy.linalg.sqrtm(cov * diag[:, None]))
    d = histogram_discretize(codes, num_bins)
    mi = discrete_mutual_info(d, d)
    np.fill_diagonal(mi, 0.0)
    num = codes.shape[1]
    return {
        "gaussian_total_correlation": float(tc),
        "gaussian_wasserstein_correlation": float(np.real(wass)),
        "gaussian_wasserstein_correlation_norm": float(np.real(wass) / np.trace(cov)),
        "mutual_info_score": float(mi.sum() / (num**2 - num)),
    }
