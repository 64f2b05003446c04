"""Evaluation on images without known factors (an image folder, CelebA).

Such a dataset (``dataset.has_factors`` False, :class:`disentax.data.ImageData`) has no
ground truth to score disentanglement against, so :func:`evaluate_without_factors`
(which :func:`disentax.evaluation.evaluate` hands such a dataset to) skips every metric
of the table that needs factors, each with the reason in the record's ``skipped``, and
keeps:

* the metrics of :data:`FACTOR_FREE_METRICS` (the unsupervised scores of the codes);
* ``attributes``, where the dataset has labels (CelebA's 40 attributes): one logistic
  probe per label predicting it from the standardised codes (the shared estimator of
  :mod:`disentax.metrics.estimators`), with train and test accuracy per label, their
  means, and the mean accuracy of always answering the training majority (the base rate
  the probes must beat, since most attributes are unbalanced).

:func:`reconstruction_scores` gives the reconstruction error of a trained VAE at the
posterior mean (``disentax evaluate`` adds it for such datasets).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from disentax.evaluation.table import METRICS
from disentax.metrics import estimators
from disentax.metrics.interventions import chunking, split_representation_fn
from disentax.typing import Array, PRNGKey

__all__ = [
    "FACTOR_FREE_METRICS",
    "NO_FACTORS",
    "attribute_probes",
    "evaluate_without_factors",
    "reconstruction_scores",
]

#: The metrics of the table that read only the codes (not the factors).
FACTOR_FREE_METRICS = ("unsupervised",)
#: The reason recorded for each factor-based metric skipped.
NO_FACTORS = "the dataset has no ground-truth factors (images without known factors)"


@functools.partial(jax.jit, static_argnames=("static_fn", "num_chunks"))
def _encode(index, dataset, dyn_fn, *, static_fn, num_chunks):
    represent = static_fn if static_fn is not None else dyn_fn
    chunks = index.reshape(num_chunks, -1, index.shape[1])
    codes = jax.lax.map(lambda f: represent(dataset.observations(f)), chunks)
    return codes.reshape(-1, codes.shape[-1])


def _codes(key, dataset, representation_fn, num: int, per_chunk: int = 1000):
    """``(codes [num, L], image indices [num, 1])`` of ``num`` images drawn uniformly."""
    num_chunks, padded = chunking(num, per_chunk)
    index = dataset.sample_factors(key, padded)
    dyn_fn, static_fn = split_representation_fn(representation_fn)
    codes = _encode(index, dataset, dyn_fn, static_fn=static_fn, num_chunks=num_chunks)
    return codes[:num], index[:num]


@functools.partial(jax.jit, static_argnames=("num_steps",))
def _probe(codes, labels, codes_test, labels_test, *, num_steps):
    mean, std = codes.mean(axis=0), codes.std(axis=0) + 1e-6
    x, x_test = (codes - mean) / std, (codes_test - mean) / std
    num_labels = labels.shape[1]
    params = estimators.fit_logistic_regression_heads(
        x, labels, class_counts=(2,) * num_labels, num_steps=num_steps
    )

    def accuracy(inputs, targets):
        proba = estimators.predict_logistic_heads_proba(params, inputs)
        predicted = proba.reshape(-1, num_labels, 2).argmax(axis=-1)
        return jnp.mean(predicted == targets, axis=0)

    majority = (labels.mean(axis=0) > 0.5).astype(labels.dtype)
    return accuracy(x, labels), accuracy(x_test, labels_test), jnp.mean(labels_test == majority, 0)


def attribute_probes(
    codes: Array,
    labels: Array,
    codes_test: Array,
    labels_test: Array,
    *,
    label_names: Sequence[str],
    num_steps: int = 100,
) -> dict[str, Array]:
    """Logistic probes of binary labels from the codes: accuracy per label and means.

    The codes are standardised with the training mean and deviation; each label gets
    its own two-class logistic regression (L2 1, as scikit-learn's default ``C=1``).

    Args:
      codes: ``[N, L]`` training codes.
      labels: ``[N, A]`` 0/1 labels.
      codes_test: ``[M, L]``.
      labels_test: ``[M, A]``.
      label_names: ``A`` names, used in the keys.
      num_steps: L-BFGS iterations.

    Returns:
      ``attributes/mean_train_accuracy``, ``attributes/mean_test_accuracy``,
      ``attributes/mean_majority_accuracy`` (test accuracy of the training majority)
      and ``attributes/test_accuracy:NAME`` per label.

    Examples:
      >>> import numpy as np
      >>> labels = np.array([[0, 1], [1, 0], [0, 1], [1, 0]] * 10)
      >>> codes = labels[:, :1] * 2.0 - 1.0  # code 0 tells label 0 (and so label 1)
      >>> out = attribute_probes(codes, labels, codes, labels, label_names=("a", "b"))
      >>> float(out["attributes/mean_test_accuracy"]), float(out["attributes/test_accuracy:b"])
      (1.0, 1.0)
    """
    labels = jnp.asarray(labels, jnp.int32)
    labels_test = jnp.asarray(labels_test, jnp.int32)
    if labels.ndim != 2 or labels.shape[1] != len(label_names):
        raise ValueError(
            f"labels must be [N, {len(label_names)}] (one column per label name), got "
            f"{labels.shape}"
        )
    train, test, majority = _probe(
        jnp.asarray(codes, jnp.float32),
        labels,
        jnp.asarray(codes_test, jnp.float32),
        labels_test,
        num_steps=num_steps,
    )
    out = {
        "attributes/mean_train_accuracy": train.mean(),
        "attributes/mean_test_accuracy": test.mean(),
        "attributes/mean_majority_accuracy": majority.mean(),
    }
    out.update({f"attributes/test_accuracy:{n}": test[i] for i, n in enumerate(label_names)})
    return out


def _to_json(value):
    array = np.asarray(value)
    return array.item() if array.ndim == 0 else array.tolist()


def _score(name: str, dataset, train, test) -> dict | None:
    """The outputs of metric ``name`` (or ``"attributes"``); None for a factor-based one."""
    if name == "attributes":
        return attribute_probes(
            train[0],
            dataset.labels_of(train[1]),
            test[0],
            dataset.labels_of(test[1]),
            label_names=dataset.label_names,
        )
    if name in FACTOR_FREE_METRICS:
        return METRICS[name].score(*train, *test, num_classes=dataset.factor_sizes)
    return None


def evaluate_without_factors(
    key: PRNGKey,
    dataset,
    representation_fn: Callable[[Array], Array],
    *,
    metrics: Sequence[str],
    num_train: int = 10000,
    num_test: int = 5000,
    progress_fn: Callable[[str, dict | str, float], None] | None = None,
) -> dict:
    """The record of :func:`disentax.evaluation.evaluate` for a dataset without factors.

    Metrics of ``metrics`` outside :data:`FACTOR_FREE_METRICS` are skipped with
    :data:`NO_FACTORS`; the factor-free ones run on ``num_train`` codes (and the probes,
    when the dataset has labels, on ``num_train`` / ``num_test`` codes); the record's
    ``note`` says so. Same keys as ``evaluate``'s record, plus ``note``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from disentax.data import ImageData
      >>> images = jnp.arange(48, dtype=jnp.uint8).reshape(12, 2, 2, 1)
      >>> dataset = ImageData("toy", images, None, (2, 2, 1), 12)
      >>> flat = lambda x: x.reshape(x.shape[0], -1)
      >>> record = evaluate_without_factors(jax.random.key(0), dataset, flat,
      ...     metrics=["mig", "unsupervised"], num_train=20, num_test=10)
      >>> sorted(record["skipped"]), "unsupervised/mutual_info_score" in record["metrics"]
      (['mig'], True)
    """
    start = time.perf_counter()
    train = _codes(jax.random.fold_in(key, 1), dataset, representation_fn, num_train)
    test = _codes(jax.random.fold_in(key, 2), dataset, representation_fn, num_test)
    seconds = {"sampling": time.perf_counter() - start}
    scores, skipped = {}, {}
    names = list(metrics)
    if getattr(dataset, "labels", None) is not None:
        names.append("attributes")
    for name in names:
        start = time.perf_counter()
        out = _score(name, dataset, train, test)
        if out is None:
            skipped[name] = outcome = NO_FACTORS
        else:
            outcome = {k: _to_json(v) for k, v in jax.block_until_ready(out).items()}
            scores.update(outcome)
            seconds[name] = time.perf_counter() - start
        if progress_fn is not None:
            progress_fn(name, outcome, time.perf_counter() - start)
    return {
        "metrics": scores,
        "matrices": {},
        "seconds": seconds,
        "sizes": {
            "num_train": int(num_train),
            "num_test": int(num_test),
            "num_codes": int(train[0].shape[1]),
            "num_images": int(dataset.factor_sizes[0]),
        },
        "skipped": skipped,
        "note": (
            f"dataset {getattr(dataset, 'name', '?')!r} has no ground-truth factors: the "
            "factor-based metrics are skipped; scored: the unsupervised scores"
            + (", the attribute probes" if "attributes/mean_test_accuracy" in scores else "")
            + " (and, by disentax evaluate, the reconstruction error)"
        ),
    }


@functools.partial(jax.jit, static_argnames=("model", "kind", "num_chunks"))
def _reconstruct(index, dataset, params, *, model, kind, num_chunks):
    from disentax.losses import reconstruction_nll
    from disentax.models.vae import decode, encode

    def chunk(f):
        images = dataset.observations(f)
        mean, _ = encode(model, params, images)
        logits = decode(model, params, mean)
        squared = jnp.square(images - jax.nn.sigmoid(logits)).reshape(images.shape[0], -1)
        return reconstruction_nll(images, logits, kind), squared.mean(axis=1)

    nll, mse = jax.lax.map(chunk, index.reshape(num_chunks, -1, index.shape[1]))
    return nll.reshape(-1), mse.reshape(-1)


def reconstruction_scores(
    key: PRNGKey, dataset, model, params, *, kind: str = "bernoulli", num: int = 5000
) -> dict[str, float]:
    """Reconstruction error of a VAE at the posterior mean, over ``num`` random images.

    Returns:
      ``reconstruction/nll``: the mean per-image reconstruction loss ``kind`` (as in
      training: summed over pixels) of ``decode(mean)``; ``reconstruction/mse``: the mean
      squared error per pixel of ``sigmoid(logits)``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from disentax.data import ImageData
      >>> from disentax.models import init_params, make_model
      >>> dataset = ImageData("toy", jnp.zeros((5, 1, 1, 4), jnp.uint8), None, (1, 1, 4), 5)
      >>> model = make_model("fc", num_latents=2, image_shape=(1, 1, 4))
      >>> params = init_params(model, jax.random.key(0))
      >>> scores = reconstruction_scores(jax.random.key(1), dataset, model, params, num=5)
      >>> sorted(scores)
      ['reconstruction/mse', 'reconstruction/nll']
    """
    num_chunks, padded = chunking(num, 500)
    index = dataset.sample_factors(key, padded)
    nll, mse = _reconstruct(index, dataset, params, model=model, kind=kind, num_chunks=num_chunks)
    return {
        "reconstruction/nll": float(jnp.mean(nll[:num])),
        "reconstruction/mse": float(jnp.mean(mse[:num])),
    }
