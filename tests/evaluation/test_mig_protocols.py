"""The three MIG protocols in an evaluation: which points and factors each scores, recorded.

``mig_chen2018`` encodes the whole factor grid and scores the factors Chen et al. score
(dSprites without shape; every factor of a dataset they did not publish), and the result
records them under ``sizes["mig_chen2018"]``; ``mig_sampled`` keeps its random points and
every factor.
"""

import dataclasses
import json
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

import disentax.data as dd
from disentax import evaluation
from disentax.data.ground_truth import static_pytree
from disentax.evaluation.suite import _encode_grid


@static_pytree
@dataclasses.dataclass(frozen=True)
class SmallSprites(dd.Identity):
    """A small grid under dSprites' name and factor names (identity observations)."""

    name: ClassVar[str] = "dsprites"

    @property
    def factor_names(self) -> tuple[str, ...]:
        return ("shape", "scale", "orientation", "posX", "posY")


def _sharp_posterior(images):
    """The identity representation as a posterior: means = factors, tiny variances."""
    mean = images.reshape(images.shape[0], -1)
    return mean, jnp.full_like(mean, -9.0)


def _evaluate(dataset, metrics):
    flat = lambda images: images.reshape(images.shape[0], -1)
    return evaluation.evaluate(
        jax.random.key(0),
        dataset,
        flat,
        metrics=metrics,
        num_train=1000,  # mig_sampled's num_samples (its random points)
        num_test=100,
        posterior_fn=_sharp_posterior,
    )


def test_chen_protocol_scores_the_dsprites_grid_without_shape():
    dataset = SmallSprites(factor_sizes=(3, 2, 4, 3, 3))
    result = _evaluate(dataset, ["mig_chen2018", "mig_sampled"])
    assert result["sizes"]["mig_chen2018"] == {
        "factors": ["scale", "orientation", "posX", "posY"],
        "num_points": 3 * 2 * 4 * 3 * 3,
    }
    assert "mig_sampled" not in result["sizes"]  # random points, every factor
    assert 0.9 <= result["metrics"]["mig_chen2018"] <= 1.0 + 1e-5
    assert 0.9 <= result["metrics"]["mig_sampled"] <= 1.0 + 1e-5
    assert result["skipped"] == {}
    json.dumps(result)


def test_chen_protocol_scores_every_factor_of_an_unpublished_dataset():
    result = _evaluate(dd.Identity(factor_sizes=(3, 4, 5)), ["mig_chen2018"])
    assert result["sizes"]["mig_chen2018"] == {
        "factors": ["factor_0", "factor_1", "factor_2"],
        "num_points": 60,
    }
    assert 0.9 <= result["metrics"]["mig_chen2018"] <= 1.0 + 1e-5


def test_chen_protocol_needs_a_posterior():
    flat = lambda images: images.reshape(images.shape[0], -1)
    result = evaluation.evaluate(
        jax.random.key(0), dd.Identity((3, 4)), flat, metrics=["mig_chen2018"]
    )
    assert "mig_chen2018" in result["skipped"] and "mig_chen2018" not in result["sizes"]


def test_encode_grid_covers_every_point_once_in_order():
    dataset = dd.Identity(factor_sizes=(3, 4, 5))
    flat = lambda images: images.reshape(images.shape[0], -1)
    codes, factors = _encode_grid(dataset, flat, points_per_chunk=7)  # 60 = 8 * 7 + 4
    expected = np.indices((3, 4, 5)).reshape(3, -1).T
    np.testing.assert_array_equal(np.asarray(factors), expected)
    np.testing.assert_allclose(np.asarray(codes), expected / np.array([2.0, 3.0, 4.0]))
