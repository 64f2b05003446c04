"""The training state: one pytree holding everything a run needs to continue.

``TrainState(step, params, opt_state, key)``. ``params`` and ``opt_state`` are
``{"vae": ...}``, plus ``"discriminator"`` for FactorVAE (whose discriminator has its own
optimizer). ``key`` is the run's root key: each step derives its randomness from
``fold_in(key, step)``, so nothing about the random stream needs checkpointing and a
resumed run continues bit for bit.

For vmapped sweeps every leaf carries a leading model axis ``[S, ...]`` (one step counter,
one key, one set of parameters per model).

:func:`create_train_state` initialises parameters and optimizer state in one jitted
program: a per-parameter initialisation would compile one small program per parameter
shape.
"""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

__all__ = ["INIT_COMPILER_OPTIONS", "TrainState", "create_train_state", "split_init_keys"]

# The initialisation runs once, so it is compiled without backend optimisation: an
# optimised compile of the initialisers' random-bit generation costs more than it saves
# (docs/performance/train.md).
INIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 0}


@flax.struct.dataclass
class TrainState:
    """Pytree of the training state.

    Attributes:
      step: int32 scalar (``[S]`` in a sweep): number of updates applied so far.
      params: ``{"vae": vae_params}`` or ``{"vae": ..., "discriminator": ...}``.
      opt_state: optimizer states with the same top-level keys as ``params``.
      key: typed PRNG key (``[S]`` in a sweep), the root of the run's random stream.

    Examples:
      >>> import dataclasses
      >>> from disentax.train import TrainState
      >>> [field.name for field in dataclasses.fields(TrainState)]
      ['step', 'params', 'opt_state', 'key']
    """

    step: jax.Array
    params: dict[str, Any]
    opt_state: dict[str, Any]
    key: jax.Array


def split_init_keys(key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The initialisation keys and the run's root key, derived from its seed key.

    Args:
      key: typed key from ``jax.random.key(seed)``.

    Returns:
      ``(vae_init_key, discriminator_init_key, train_key)``.
    """
    keys = jax.random.split(key, 3)
    return keys[0], keys[1], keys[2]


def _init_one(key, *, model, tx, discriminator, discriminator_tx, objective_init=None):
    from disentax.models import vae as vae_lib

    vae_key, disc_key, train_key = split_init_keys(key)
    params = {"vae": vae_lib.init_params(model, vae_key)}
    if objective_init is not None:  # the objective's own parameters, beside the model's
        objective_params = objective_init(jax.random.fold_in(vae_key, 1))
        if jax.tree.leaves(objective_params):  # none: no entry (checkpoints keep no {})
            params["vae"] = {**params["vae"], "objective": objective_params}
    opt_state = {"vae": tx.init(params["vae"])}
    if discriminator is not None:
        params["discriminator"] = vae_lib.init_params(discriminator, disc_key)
        opt_state["discriminator"] = discriminator_tx.init(params["discriminator"])
    return TrainState(
        step=jnp.zeros((), jnp.int32), params=params, opt_state=opt_state, key=train_key
    )


def create_train_state(
    key: jax.Array,
    model,
    tx: optax.GradientTransformation,
    *,
    discriminator=None,
    discriminator_tx: optax.GradientTransformation | None = None,
    out_sharding=None,
    objective_init=None,
) -> TrainState:
    """Initialises a :class:`TrainState` in one jitted program.

    Args:
      key: typed key from ``jax.random.key(seed)``; ``[S]`` keys give a sweep state with
        a leading model axis (each model initialised exactly as its own single run).
      model: the VAE module (``disentax.models``).
      tx: optax optimizer of the VAE parameters.
      discriminator: FactorVAE discriminator module (``make_discriminator``), or None.
      discriminator_tx: its optimizer (required with ``discriminator``).
      out_sharding: sharding of every leaf (e.g. replicated over a mesh), or None.
      objective_init: ``key -> params`` of an objective with learned parameters of its
        own (``Objective.params_init``), stored as ``params["vae"]["objective"]`` (when
        it has any) and trained with the VAE's optimizer; None for none.

    Returns:
      The initial state, step 0.

    Raises:
      TypeError: ``key`` is not a typed PRNG key.
      ValueError: ``key`` has more than one axis, or ``discriminator`` and
        ``discriminator_tx`` are not given together.

    Examples:
      >>> import jax
      >>> import optax
      >>> from disentax.models import make_model
      >>> from disentax.train import create_train_state
      >>> model, tx = make_model("fc", num_latents=2, image_shape=(1, 1, 4)), optax.adam(1e-3)
      >>> init = lambda key: create_train_state(key, model, tx)

      ``init(jax.random.key(0))`` gives the state; here only its layout, by
      ``jax.eval_shape`` (nothing computed), for one model and for a sweep of 3:

      >>> state = jax.eval_shape(init, jax.random.key(0))
      >>> state.step.shape, state.step.dtype, sorted(state.params), sorted(state.opt_state)
      ((), dtype('int32'), ['vae'], ['vae'])
      >>> sweep = jax.eval_shape(init, jax.random.split(jax.random.key(0), 3))
      >>> sweep.step.shape, sweep.params["vae"]["encoder"]["mean"]["kernel"].shape
      ((3,), (3, 1200, 2))
    """
    if not isinstance(key, jax.Array) or not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        raise TypeError("key must be a typed PRNG key from jax.random.key(seed)")
    if key.ndim > 1:
        raise ValueError(f"key must be a scalar key or a [S] batch of keys, got shape {key.shape}")
    if (discriminator is None) != (discriminator_tx is None):
        raise ValueError("discriminator and discriminator_tx must be given together")

    def init(k):
        one = lambda kk: _init_one(  # noqa: E731
            kk,
            model=model,
            tx=tx,
            discriminator=discriminator,
            discriminator_tx=discriminator_tx,
            objective_init=objective_init,
        )
        return jax.vmap(one)(k) if k.ndim == 1 else one(k)

    # compiled with INIT_COMPILER_OPTIONS (no backend optimisation: it runs once)
    if isinstance(key, jax.core.Tracer):  # traced (e.g. jax.eval_shape): no compile here
        return jax.jit(init, out_shardings=out_sharding)(key)
    lowered = jax.jit(init, out_shardings=out_sharding).lower(key)
    return lowered.compile(INIT_COMPILER_OPTIONS)(key)
