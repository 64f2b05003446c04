"""The sweep forms of the train step: hyperparameter splitting and the two sweep modes.

The end-to-end check (each model of a sweep follows its own single-model run) is in
test_train_step.py; here the pieces are checked on a toy step whose answer is known.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from disentax.train.step_sweep import make_sweep_step, split_hyperparameters


def test_split_hyperparameters_keeps_scalars_static_and_sweeps_vectors():
    static, swept = split_hyperparameters(
        {"beta": np.array([1.0, 2.0, 3.0]), "gamma": 4.0, "estimator": "mws", "flag": True},
        3,
    )
    assert static == {"gamma": 4.0, "estimator": "mws", "flag": True}
    assert set(swept) == {"beta"} and isinstance(swept["beta"], jax.Array)
    np.testing.assert_array_equal(swept["beta"], [1.0, 2.0, 3.0])


def test_split_hyperparameters_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r"'beta' must be a scalar, got shape \(3,\)"):
        split_hyperparameters({"beta": [1.0, 2.0, 3.0]}, None)
    with pytest.raises(ValueError, match=r"'beta' must be a scalar or shape \(2,\)"):
        split_hyperparameters({"beta": [1.0, 2.0, 3.0]}, 2)


@pytest.mark.parametrize("sweep_mode", ["vmap", "unrolled"])
def test_sweep_step_applies_each_model_its_own_hyperparameters(sweep_mode):
    # toy model step: state' = state * scale + images.sum() + data, metrics = {"scale": scale}
    def one_model(state, images, swept, data):
        return state * swept["scale"] + images.sum() + data, {"scale": swept["scale"]}

    scales = jnp.array([1.0, 2.0, 3.0])
    step_fn = make_sweep_step(one_model, {"scale": scales}, num_models=3, sweep_mode=sweep_mode)
    state, metrics = jax.jit(step_fn)(jnp.array([1.0, 1.0, 2.0]), jnp.ones((2, 2)), 0.5)
    # hand-derived: [1*1, 1*2, 2*3] + 4 + 0.5
    np.testing.assert_allclose(state, [5.5, 6.5, 10.5])
    np.testing.assert_allclose(metrics["scale"], scales)
