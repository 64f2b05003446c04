"""Evaluation without factors: attribute probes against scikit-learn, the reconstruction
error against NumPy, and the record of ``evaluate`` on a dataset without factors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from disentax import evaluation
from disentax.data.images import ImageData
from disentax.evaluation import unlabelled
from disentax.models import decode, encode, init_params, make_model


def _codes_and_labels(num, seed):
    rng = np.random.default_rng(seed)
    codes = rng.normal(size=(num, 4)) * np.array([1.0, 3.0, 0.5, 2.0]) + 1.0
    logits = np.stack([2 * codes[:, 0], codes[:, 1] - codes[:, 3], np.full(num, -1.5)], axis=1)
    labels = (rng.random((num, 3)) < 1 / (1 + np.exp(-logits))).astype(np.int32)
    return codes.astype(np.float32), labels


def test_attribute_probes_match_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    codes, labels = _codes_and_labels(400, 0)
    codes_test, labels_test = _codes_and_labels(300, 1)
    out = unlabelled.attribute_probes(
        codes, labels, codes_test, labels_test, label_names=("a", "b", "c"), num_steps=200
    )
    mean, std = codes.mean(0), codes.std(0) + 1e-6  # the probes' standardisation
    test_accuracies = []
    for j, name in enumerate("abc"):
        probe = LogisticRegression(C=1.0, max_iter=1000).fit((codes - mean) / std, labels[:, j])
        accuracy = probe.score((codes_test - mean) / std, labels_test[:, j])
        test_accuracies.append(accuracy)
        # the same optimum up to the solvers' tolerance: at most a point or two flips
        assert abs(float(out[f"attributes/test_accuracy:{name}"]) - accuracy) <= 2 / 300
    assert abs(float(out["attributes/mean_test_accuracy"]) - np.mean(test_accuracies)) <= 2 / 300
    majority = (labels.mean(0) > 0.5).astype(int)
    expected_majority = np.mean(labels_test == majority, axis=0).mean()
    assert float(out["attributes/mean_majority_accuracy"]) == pytest.approx(expected_majority)
    with pytest.raises(ValueError, match=r"labels must be \[N, 2\]"):
        unlabelled.attribute_probes(codes, labels, codes, labels, label_names=("a", "b"))


def _toy_dataset(labels=True):
    images = jax.random.uniform(jax.random.key(0), (10, 4, 4, 1))
    images = (images * 255).astype(jnp.uint8)
    attributes = (np.arange(20).reshape(10, 2) % 3 == 0).astype(np.int32) if labels else None
    return ImageData("toy", images, attributes, (4, 4, 1), 10, ("x", "y") if labels else ())


def test_reconstruction_scores_match_numpy():
    dataset = _toy_dataset()
    model = make_model("fc", num_latents=2, image_shape=(4, 4, 1))
    params = init_params(model, jax.random.key(1))
    key = jax.random.key(2)
    got = unlabelled.reconstruction_scores(key, dataset, model, params, num=7)
    index = dataset.sample_factors(key, 7)  # chunking(7, 500): one chunk of 7
    images = np.asarray(dataset.observations(index), np.float64)
    mean, _ = encode(model, params, jnp.asarray(images, jnp.float32))
    logits = np.asarray(decode(model, params, mean), np.float64)
    # Bernoulli NLL: sum over pixels of softplus(l) - x l  (= -x log p - (1-x) log(1-p))
    nll = (np.logaddexp(0, logits) - images * logits).reshape(7, -1).sum(1)
    mse = ((images - 1 / (1 + np.exp(-logits))) ** 2).reshape(7, -1).mean(1)
    assert got["reconstruction/nll"] == pytest.approx(nll.mean(), rel=1e-4)
    assert got["reconstruction/mse"] == pytest.approx(mse.mean(), rel=1e-4)


@pytest.mark.parametrize("labels", [True, False])
def test_evaluate_skips_factor_metrics_and_keeps_the_rest(labels):
    dataset = _toy_dataset(labels)
    flat = lambda images: images.reshape(images.shape[0], -1)[:, :3]  # noqa: E731
    heard = []
    record = evaluation.evaluate(
        jax.random.key(0),
        dataset,
        flat,
        metrics=["mig", "unsupervised", "beta_vae_score"],
        num_train=40,
        num_test=20,
        progress_fn=lambda name, outcome, seconds: heard.append(name),
    )
    assert set(record["skipped"]) == {"mig", "beta_vae_score"}
    assert record["skipped"]["mig"] == unlabelled.NO_FACTORS
    assert "no ground-truth factors" in record["note"]
    assert "unsupervised/gaussian_total_correlation" in record["metrics"]
    assert ("attributes/test_accuracy:y" in record["metrics"]) == labels
    assert ("attribute probes" in record["note"]) == labels
    assert heard == ["mig", "unsupervised", "beta_vae_score", *(["attributes"] if labels else [])]
    assert record["sizes"]["num_images"] == 10 and record["sizes"]["num_codes"] == 3
