"""evaluate_group: S models at once score as evaluate scores each alone.

The oracle is :func:`disentax.evaluation.evaluate` on one model (itself checked against
NumPy/scikit-learn oracles in tests/metrics and tests/evaluation/test_suite.py). The models
are three dense VAEs with different random weights on the 4-factor identity dataset.
"""

import jax
import numpy as np
import pytest

from disentax import data, evaluation, parallel
from disentax.evaluation import evaluate_group
from disentax.evaluation.group import PER_MODEL
from disentax.models import make_model
from disentax.models.vae import init_params

NUM_MODELS = 3
SIZES = {"num_train": 1000, "num_test": 300}  # mig_sampled needs >= 1000 points
VOTES = {"batch_size": 8, "num_train": 60, "num_eval": 40, "num_variance_estimate": 200}
# A metric of each kind and each group path: vmapped codes metrics, those falling back per
# model (sap: traced class counts; dci: trees), posterior and interventional ones.
FAST = ["mig", "sap", "dci", "modularity", "unsupervised", "mig_sampled", "beta_vae_score"]


@pytest.fixture(scope="module")
def group():
    dataset = data.get("synthetic_identity")
    model = make_model("fc", num_latents=3, image_shape=tuple(dataset.observation_shape))
    keys = jax.random.split(jax.random.key(1), NUM_MODELS)
    return dataset, model, jax.vmap(lambda k: init_params(model, k))(keys)


def _alone(key, dataset, model, stacked, index, names):
    params = jax.tree.map(lambda a: a[index], stacked)
    return evaluation.evaluate(
        key,
        dataset,
        evaluation.make_representation_fn(model, params),
        metrics=names,
        posterior_fn=evaluation.make_posterior_fn(model, params),
        interventional_sizes=VOTES,
        **SIZES,
    )


def _assert_same(record, expected):
    assert record["skipped"] == expected["skipped"]
    assert record["sizes"] == expected["sizes"] and record["data"] == expected["data"]
    assert set(record["metrics"]) == set(expected["metrics"])
    for key, value in expected["metrics"].items():
        np.testing.assert_allclose(record["metrics"][key], value, rtol=1e-5, atol=1e-6, err_msg=key)
    assert set(record["matrices"]) == set(expected["matrices"])
    for key, value in expected["matrices"].items():
        np.testing.assert_allclose(record["matrices"][key], value, rtol=1e-5, atol=1e-6)
    assert set(record["seconds"]) == set(expected["seconds"])


def _check_group(records, group_args, names, keys):
    assert len(records) == NUM_MODELS
    for i, record in enumerate(records):
        _assert_same(record, _alone(keys[i], *group_args, i, names))
        assert record["group"]["models"] == NUM_MODELS


def test_a_group_scores_each_model_as_evaluate_alone(group):
    key = jax.random.key(0)
    records = evaluate_group(key, *group, metrics=FAST, interventional_sizes=VOTES, **SIZES)
    _check_group(records, group, FAST, [key] * NUM_MODELS)
    per_model = records[0]["group"]["per_model"]
    assert set(per_model) == {"sap", "dci"} and per_model["dci"] == PER_MODEL["dci"]


@pytest.mark.slow
def test_every_metric_of_the_table_scores_as_alone(group):
    key, names = jax.random.key(0), list(evaluation.METRICS)
    records = evaluate_group(key, *group, metrics=names, interventional_sizes=VOTES, **SIZES)
    _check_group(records, group, names, [key] * NUM_MODELS)
    assert not records[0]["skipped"]


def test_one_key_per_model_and_chunks_of_models(group):
    keys = jax.random.split(jax.random.key(3), NUM_MODELS)
    names = ["mig", "unsupervised", "beta_vae_score"]
    records = evaluate_group(
        keys, *group, metrics=names, interventional_sizes=VOTES, models_per_chunk=2, **SIZES
    )
    _check_group(records, group, names, list(keys))


def test_models_split_over_eight_devices_score_as_on_one(group):
    # conftest gives this process 8 simulated CPU devices; 3 models are padded to 8
    assert jax.device_count() == 8
    mesh = parallel.make_model_mesh(devices=jax.devices())
    names = ["mig", "modularity", "mig_sampled", "beta_vae_score"]
    kwargs = {"metrics": names, "interventional_sizes": VOTES, **SIZES}
    dataset, model, params = group  # committed to one device, as a loaded run's
    params = jax.device_put(params, jax.devices()[0])
    split = evaluate_group(jax.random.key(0), dataset, model, params, mesh=mesh, **kwargs)
    single = evaluate_group(jax.random.key(0), *group, **kwargs)
    for record, expected in zip(split, single, strict=True):
        _assert_same(record, expected)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"key": jax.random.split(jax.random.key(0), 2)}, ValueError, r"\[3\] batch"),
        ({"key": 0}, TypeError, "typed PRNG key"),
        ({"metrics": ["nope"]}, ValueError, "unknown metrics"),
        ({"models_per_chunk": 0}, ValueError, "models_per_chunk"),
        ({"ragged": True}, ValueError, "leading model axis"),
    ],
)
def test_bad_input_is_named_before_compiling(group, change, error, match):
    dataset, model, params = group
    if change.pop("ragged", False):
        params = {**params, "extra": np.zeros((2, 1))}
    kwargs = {"key": jax.random.key(0), "metrics": ["mig"], **change}
    with pytest.raises(error, match=match):
        evaluate_group(kwargs.pop("key"), dataset, model, params, **kwargs)
