"""What every entry of ``disentax.losses.OBJECTIVES`` must do, checked for each entry.

A new objective gets these tests by being in the dict: a finite loss and a finite
gradient under ``jax.jit`` on a tiny batch with its default hyperparameters, the aux keys
it declares (``COMMON_AUX`` plus its own, with ``recon``/``kl``/``elbo`` equal to the
ELBO terms recomputed from the tested pieces), and the validation its entry declares
(unknown names and bad values raise a ValueError naming the hyperparameter).
Objective-specific oracles are in ``test_objectives.py``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from disentax import losses

NAMES = sorted(losses.OBJECTIVES)
# Values no declared check should accept (not a number, negative, the wrong type).
BAD_VALUES = (float("nan"), -1.0, "not-a-value")


@pytest.mark.parametrize("name", NAMES)
def test_entry_is_an_objective_named_after_its_key(name):
    entry = losses.OBJECTIVES[name]
    assert isinstance(entry, losses.Objective)
    assert entry.name == name
    assert set(entry.defaults) == set(entry.hyperparameters)
    assert losses.DEFAULT_HYPERPARAMETERS[name] == entry.defaults


@pytest.mark.parametrize("name", NAMES)
def test_defaults_give_a_finite_loss_and_gradient_under_jit(batch, name):
    entry = losses.OBJECTIVES[name]

    @jax.jit
    def run(out, step):
        implicit = batch.call(name, out, step=step)
        explicit = batch.call(name, out, step=step, **entry.defaults)
        grads = jax.grad(lambda o: batch.call(name, o, step=step)[0])(out)
        return implicit[0], explicit[0], grads

    loss, explicit, grads = run(batch.out, jnp.int32(10))
    assert loss.shape == () and bool(jnp.isfinite(loss)), name
    np.testing.assert_array_equal(explicit, loss)
    for field, leaf in zip(batch.out._fields, grads, strict=True):
        assert leaf.shape == getattr(batch.out, field).shape
        assert bool(jnp.all(jnp.isfinite(leaf))), (name, field)
    assert float(jnp.sum(jnp.abs(grads.logits))) > 0, name


@pytest.mark.parametrize("name", NAMES)
def test_aux_keys_are_the_common_ones_and_its_own(batch, name):
    entry = losses.OBJECTIVES[name]
    loss, aux = jax.jit(lambda out: batch.call(name, out))(batch.out)
    assert set(aux) == {*losses.COMMON_AUX, *entry.aux}, name
    assert all(jnp.shape(v) == () for v in aux.values()), name
    np.testing.assert_allclose(aux["loss"], loss)
    np.testing.assert_allclose(aux["recon"], batch.recon, rtol=1e-5)
    np.testing.assert_allclose(aux["kl"], batch.kl, rtol=1e-5)
    np.testing.assert_allclose(aux["elbo"], -(batch.recon + batch.kl), rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_declared_validation_accepts_defaults_and_rejects_bad_values(batch, name):
    entry = losses.OBJECTIVES[name]
    losses.validate_hyperparameters(name, entry.defaults)
    with pytest.raises(
        ValueError, match=f"'not_a_hyperparameter' is not a hyperparameter of '{name}'"
    ):
        losses.validate_hyperparameters(name, {"not_a_hyperparameter": 1.0})
    with pytest.raises(ValueError, match="not_a_hyperparameter"):
        batch.call(name, not_a_hyperparameter=1.0)
    for key, hyper in entry.hyperparameters.items():
        if hyper.check is None:
            continue
        rejected = []
        for value in BAD_VALUES:
            try:
                losses.validate_hyperparameters(name, {key: value})
            except ValueError as err:
                assert key in str(err), (name, key, value, err)
                with pytest.raises(ValueError, match=key):
                    batch.call(name, **{key: value})
                rejected.append(value)
        assert rejected, f"{name}: {key}'s check accepts every one of {BAD_VALUES}"


@pytest.mark.parametrize("name", NAMES)
def test_discriminator_logits_only_where_declared(batch, name):
    entry = losses.OBJECTIVES[name]
    if entry.needs_discriminator:
        with pytest.raises(ValueError, match="discriminator_logits"):
            entry(batch.images, batch.out, step=0, **batch.inputs(name))
    else:
        with pytest.raises(ValueError, match="'discriminator_logits' is not a hyperparameter"):
            entry(batch.images, batch.out, discriminator_logits=batch.discriminator_logits)
