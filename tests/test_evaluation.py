"""disentax.evaluation: representation functions, evaluate, evaluate_workdir, the CLI.

Oracles: the ``mutual_info`` matrix against scikit-learn's ``mutual_info_score`` on codes
discretised with NumPy exactly as disentanglement_lib's ``_histogram_discretize``
(``np.digitize(x, np.histogram(x, 20)[1][:-1])``); representation functions against the
model's own ``encode``; scores of the identity representation against the reference's
property (0.9-1 for DCI).
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

import disentax
import disentax.data as dd
from disentax import cli, evaluation
from disentax.models import make_model
from disentax.models.vae import encode, init_params
from disentax.train import LoadedRun

SIZES = (5, 6, 7, 8)


def identity(images):
    return images.reshape(images.shape[0], -1)


def _reference_mutual_info(codes, factors):
    codes, factors = np.asarray(codes), np.asarray(factors)
    out = np.zeros((codes.shape[1], factors.shape[1]))
    for i in range(codes.shape[1]):
        binned = np.digitize(codes[:, i], np.histogram(codes[:, i], 20)[1][:-1])
        for j in range(factors.shape[1]):
            out[i, j] = mutual_info_score(factors[:, j], binned)
    return out


@pytest.mark.slow
def test_evaluate_identity_scores_and_matrices():
    data = dd.Identity(factor_sizes=SIZES)
    key = jax.random.key(0)
    result = evaluation.evaluate(
        key,
        data,
        identity,
        metrics=["mig", "dci", "unsupervised"],
        num_train=600,
        num_test=300,
    )
    scores = result["metrics"]
    assert 0.9 <= scores["dci/disentanglement"] <= 1.0 + 1e-5
    assert 0.9 <= scores["dci/completeness"] <= 1.0 + 1e-5
    assert scores["dci/informativeness_test"] > 0.95
    assert scores["mig"] > 0.9  # every factor has <= 20 values: one code per factor
    assert set(result["matrices"]) == {"mutual_info", "dci_importance"}
    for matrix in result["matrices"].values():
        assert np.shape(matrix) == (4, 4)
    codes, factors = evaluation.sample_codes(jax.random.fold_in(key, 1), data, identity, 600)
    np.testing.assert_allclose(
        result["matrices"]["mutual_info"], _reference_mutual_info(codes, factors), atol=1e-4
    )
    assert set(result["seconds"]) == {"sampling", "mig", "dci", "unsupervised"}
    assert result["sizes"]["num_train"] == 600 and result["sizes"]["factor_sizes"] == [5, 6, 7, 8]
    json.dumps(result)  # every value is plain JSON


def test_evaluate_refuses_unknown_metric_and_sizes():
    data = dd.Identity(factor_sizes=SIZES)
    with pytest.raises(ValueError, match="unknown metrics"):
        evaluation.evaluate(jax.random.key(0), data, identity, metrics=["mig", "betavae"])
    with pytest.raises(ValueError, match="interventional_sizes"):
        evaluation.evaluate(
            jax.random.key(0),
            data,
            identity,
            metrics=["mig"],
            interventional_sizes={"num_points": 3},
        )


@pytest.fixture(scope="module")
def tiny_run():
    model = make_model("fc", num_latents=3, image_shape=(1, 1, 4))
    params = init_params(model, jax.random.key(0))
    return LoadedRun(
        config=None,
        model=model,
        params=params,
        dataset=dd.Identity(factor_sizes=SIZES),
        step=7,
    )


def test_representation_functions_follow_the_encoder(tiny_run):
    images = jax.random.uniform(jax.random.key(1), (6, 1, 1, 4))
    mean, logvar = encode(tiny_run.model, tiny_run.params, images)
    rep = evaluation.make_representation_fn(tiny_run.model, tiny_run.params)
    np.testing.assert_allclose(jax.jit(lambda f, x: f(x))(rep, images), mean, rtol=1e-5)
    post_mean, post_logvar = evaluation.make_posterior_fn(tiny_run.model, tiny_run.params)(images)
    np.testing.assert_allclose(post_logvar, logvar, rtol=1e-5)
    sampled = evaluation.make_representation_fn(tiny_run.model, tiny_run.params, mode="sampled")
    first, second = sampled(images), sampled(images)
    np.testing.assert_array_equal(first, second)  # a fixed function of the image
    z = (np.asarray(first) - np.asarray(mean)) / np.exp(0.5 * np.asarray(logvar))
    assert np.all(np.abs(z) < 6) and np.std(z) > 0.3  # standard normal noise
    with pytest.raises(ValueError, match="mode"):
        evaluation.make_representation_fn(tiny_run.model, tiny_run.params, mode="median")


@pytest.mark.slow
def test_evaluate_workdir_and_cli_write_evaluation_json(tmp_path, monkeypatch, tiny_run):
    from disentax import train

    def fake_load_run(workdir, *, step=None):
        assert step in (None, 7)
        return tiny_run

    monkeypatch.setattr(train, "load_run", fake_load_run)
    record = evaluation.evaluate_workdir(tmp_path, metrics=["mig", "mig_sampled"])
    written = json.loads((tmp_path / "evaluation.json").read_text())
    assert written == json.loads(json.dumps(record))
    assert written["step"] == 7 and written["seed"] == 0
    assert written["version"] == disentax.__version__
    assert set(written["metrics"]) == {"mig", "mig_sampled"}
    assert np.shape(written["matrices"]["mutual_info"]) == (3, 4)
    assert {"sampling", "mig", "mig_sampled", "total"} <= set(written["seconds"])
    (tmp_path / "evaluation.json").unlink()
    assert cli.main(["evaluate", "--workdir", str(tmp_path), "--metrics", "mig"]) == 0
    again = json.loads((tmp_path / "evaluation.json").read_text())
    assert set(again["metrics"]) == {"mig"}
    assert jnp.isfinite(again["metrics"]["mig"])


def test_named_eval_sizes():
    # "quick" keeps the reference batch and variance estimate, cuts the votes.
    assert evaluation.resolve_eval_sizes("quick") == {"num_train": 500, "num_eval": 300}
    assert evaluation.resolve_eval_sizes("reference") == {}
    # the tests run on the CPU backend, where "auto" means "quick"
    assert evaluation.resolve_eval_sizes("auto") == evaluation.resolve_eval_sizes("quick")
    with pytest.raises(ValueError, match="eval_sizes"):
        evaluation.resolve_eval_sizes("huge")
