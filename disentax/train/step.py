"""The train step: one pure, jit-compiled state transition ``(state, batch) -> (state, metrics)``.

:func:`make_train_step` closes over everything static (model, objective, optimizer,
hyperparameters, dataset, mesh) and returns a :class:`TrainStep`, a callable wrapping one
compiled program:

* ``parallel="jit"`` (default): ``jax.jit`` over a ``Mesh`` with explicit
  ``NamedSharding``: the state is replicated and donated, the batch is split over the
  mesh's ``"data"`` axis. XLA partitions the global-batch computation, so batch-level
  terms (the total-correlation estimators, DIP-VAE's covariance, FactorVAE's permutation)
  see the whole global batch, exactly as on one device.
* ``parallel="pmap"``: the same update with ``jax.pmap`` for pmap-era code. Each device
  encodes and decodes its rows; the outputs are all-gathered so the objective sees the
  global batch, and the gradients are averaged with ``pmean`` (the transpose of the
  all-gather scatters each device's share of the cotangent back, scaled by the device
  count, which the mean undoes). The state is kept stacked over devices
  (:meth:`TrainStep.place` / :meth:`TrainStep.unplace`).

Data: ``train_step(state, None)`` samples the batch inside the step from a procedural or
device-resident dataset, ``factors = sample_factors_for_step(dataset, data_key, step, N)``;
``train_step(state, images)`` takes a global batch from a host pipeline that used the
same ``data_key`` (:func:`step_keys`), so both give the same batches.

Randomness: ``data_key, model_key = split(state.key)``; the step's noise (the
reparameterised ``z``, FactorVAE's permutation) comes from ``fold_in(model_key, step)``.

Sweeps: ``num_models=S`` runs the update over a leading model axis of the state (one
key, step and parameter set per model) and over per-model hyperparameters (``[S]`` arrays),
so S small models train in one compiled program; each model follows the trajectory of
its own single-model run. ``sweep_mode="vmap"`` batches the S updates (``jax.vmap``: one
grouped convolution per layer, what fills an accelerator); ``sweep_mode="unrolled"``
places S copies of the update side by side in the program, each model's layers as plain
convolutions. ``None`` picks per backend (:data:`SWEEP_MODES`): on XLA:CPU the grouped
convolutions of the vmapped conv VAE ran at 0.60x a single model's images/s (8 models,
one thread, ``disentax bench train_step/beta_vae/b64/sweep8``), while one core has no
idle lanes for batching to fill, so the CPU default is ``"unrolled"`` (compile time
grows with S instead).

References:
  Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning of
  Disentangled Representations", ICML 2019 (training set-up of the study).
  Kim & Mnih, "Disentangling by Factorising", ICML 2018 (FactorVAE's two-part update).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from disentax import parallel as par
from disentax.train.state import TrainState, create_train_state
from disentax.train.update import Update, step_keys

__all__ = ["STEP_COMPILER_OPTIONS", "SWEEP_MODES", "TrainStep", "make_train_step", "step_keys"]

# Per-platform XLA options of the jitted step. On CPU, LLVM optimisation level 1 compiles
# the reference conv VAE's beta-TCVAE step in ~70% of the default level's time, with the
# same step time (measured with the default config: 8.5 vs 11.8 CPU-s to compile, 0.405
# vs 0.411 CPU-s a step): the step's time is in the convolution and matmul library calls.
STEP_COMPILER_OPTIONS = {"cpu": {"xla_backend_optimization_level": 1}}

# How a sweep (``num_models``) is executed, per platform; platforms not listed use "vmap".
SWEEP_MODES = {"cpu": "unrolled"}


def _images_of(batch):
    if batch is None:
        return None
    if isinstance(batch, Mapping):
        return batch["images"]
    if isinstance(batch, tuple | list):
        return batch[0]
    return batch


def _sample_images(dataset, state_key, step, global_batch, shard=None):
    """Images ``[N,H,W,C]`` of the step's global batch (or of ``shard=(start, size)``).

    The batch is ``disentax.data.sampling.batch_for_step(dataset, data_key, step, N)``;
    a shard renders only its rows of that same batch.
    """
    from disentax.data import sampling

    data_key, _ = step_keys(state_key, step)
    if shard is None:
        images, _ = sampling.batch_for_step(dataset, data_key, step, global_batch)
        return images
    start, size = shard
    factors = sampling.sample_factors_for_step(dataset, data_key, step, global_batch)
    factors = jax.lax.dynamic_slice_in_dim(factors, start, size)
    if getattr(dataset, "takes_key", False):
        keys = sampling.row_keys_for_step(data_key, step, global_batch)
        return dataset.observations(factors, key=jax.lax.dynamic_slice_in_dim(keys, start, size))
    return dataset.observations(factors)


@dataclasses.dataclass(frozen=True)
class TrainStep:
    """A compiled train step and the layout of the state it expects.

    Call as ``state, metrics = train_step(state, batch)`` with ``batch`` None (sample
    inside the step from ``dataset``), a global ``images [N,H,W,C]`` array, or a tuple
    ``(images, factors)``. The state argument is donated.

    Attributes:
      mesh: the data-parallel mesh.
      parallel: ``"jit"`` or ``"pmap"``.
      num_models: ``S`` for a sweep, else None.
      global_batch: ``N`` when the step samples its own batch, else None.
    """

    fn: Callable
    mesh: Mesh
    parallel: str
    num_models: int | None
    global_batch: int | None
    init_fn: Callable
    dataset: Any = None
    precompile_fn: Callable | None = None

    def __call__(self, state: TrainState, batch=None):
        images = _images_of(batch)
        if images is None and self.global_batch is None:
            raise ValueError("batch is None but the step was built without a dataset")
        if images is not None:
            n = images.shape[0]
            par.check_global_batch(int(n), self.mesh.size, name="batch (leading axis)")
            if self.parallel == "pmap":
                shape = (self.mesh.size, n // self.mesh.size, *images.shape[1:])
                images = np.asarray(images).reshape(shape)
        return self.fn(state, images, self.dataset)

    def abstract_state(self, key: jax.Array) -> TrainState:
        """Shapes, dtypes and shardings of the state (traced, nothing compiled)."""
        sharding = None if self.parallel == "pmap" else par.replicated_sharding(self.mesh)
        shapes = jax.eval_shape(self.init_fn, key)
        return jax.tree.map(
            lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), shapes
        )

    def precompile(self, key: jax.Array) -> Callable[[], None]:
        """Lowers the in-step-sampling program now; returns a function that compiles it.

        The returned function may run in another thread (XLA compiles without holding
        the GIL): the job compiles the step while the initialisation compiles and runs.
        Calls made after it returns use the compiled program.
        """
        if self.precompile_fn is None or self.parallel != "jit":
            return lambda: None
        return self.precompile_fn(self.abstract_state(key))

    def init(self, key: jax.Array) -> TrainState:
        """The initial state (one jitted program), placed as this step expects it."""
        return self.place(self.init_fn(key))

    def place(self, state: TrainState) -> TrainState:
        """Puts a (global, unstacked) state into this step's layout on the devices."""
        if self.parallel == "pmap":
            d = self.mesh.size
            stack = jax.jit(  # one program for the whole tree
                lambda t: jax.tree.map(lambda x: jnp.broadcast_to(x[None], (d, *x.shape)), t),
                out_shardings=par.data_sharding(self.mesh),
            )
            return stack(state)
        return jax.device_put(state, par.replicated_sharding(self.mesh))

    def unplace(self, state: TrainState) -> TrainState:
        """The global state (one copy) from this step's layout (for checkpoints, tests)."""
        if self.parallel == "pmap":
            return jax.tree.map(lambda x: x[0], state)
        return state


def make_train_step(
    model,
    objective: Callable | str,
    tx: optax.GradientTransformation,
    *,
    mesh: Mesh,
    dataset=None,
    batch_size: int | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    reconstruction: str = "bernoulli",
    discriminator=None,
    discriminator_tx: optax.GradientTransformation | None = None,
    parallel: str = "jit",
    num_models: int | None = None,
    sweep_mode: str | None = None,
    donate: bool = True,
) -> TrainStep:
    """Builds the compiled train step.

    Args:
      model: VAE module (``disentax.models.make_model``).
      objective: an ``ObjectiveFn`` or its name in ``disentax.losses.OBJECTIVES``.
      tx: optax optimizer of the VAE parameters.
      mesh: data-parallel mesh (``disentax.parallel.make_mesh``).
      dataset: a jittable ``GroundTruthData``; with ``batch_size`` the step samples its
        own batch when called with ``batch=None``.
      batch_size: global batch ``N`` for in-step sampling; divisible by the device count.
      hyperparameters: keyword hyperparameters of the objective. In a sweep each value is
        a scalar shared by all models or an ``[S]`` array, one value per model.
      reconstruction: ``"bernoulli"`` or ``"gaussian"``.
      discriminator: FactorVAE discriminator module; turns on the two-part update.
      discriminator_tx: the discriminator's own optimizer.
      parallel: ``"jit"`` (mesh + NamedSharding) or ``"pmap"``.
      num_models: ``S`` for a sweep (jit only), else None.
      sweep_mode: ``"vmap"`` or ``"unrolled"`` (see the module docstring); ``None`` picks
        the platform's default from :data:`SWEEP_MODES`. Both give the same trajectories.
      donate: donate the state buffers (default True).

    Returns:
      A :class:`TrainStep`.

    Raises:
      ValueError: unknown objective or parallel mode, a batch not divisible by the device
        count, hyperparameters of the wrong shape, a discriminator without its optimizer.
    """
    from disentax import losses

    if isinstance(objective, str):
        if objective not in losses.OBJECTIVES:
            raise ValueError(
                f"objective {objective!r} is unknown; known: {sorted(losses.OBJECTIVES)}"
            )
        objective = losses.OBJECTIVES[objective]
    if not callable(objective):
        raise TypeError(f"objective must be callable or a name, got {type(objective).__name__}")
    if parallel not in ("jit", "pmap"):
        raise ValueError(f"parallel must be 'jit' or 'pmap', got {parallel!r}")
    if (discriminator is None) != (discriminator_tx is None):
        raise ValueError("discriminator and discriminator_tx must be given together")
    if num_models is not None:
        if not isinstance(num_models, int) or num_models < 1:
            raise ValueError(f"num_models must be a positive int, got {num_models!r}")
        if parallel != "jit":
            raise ValueError("sweeps (num_models) run with parallel='jit' only")
    if sweep_mode is None:
        sweep_mode = SWEEP_MODES.get(mesh.devices.flat[0].platform, "vmap")
    if sweep_mode not in ("vmap", "unrolled"):
        raise ValueError(f"sweep_mode must be 'vmap', 'unrolled' or None, got {sweep_mode!r}")
    if batch_size is not None:
        par.check_global_batch(batch_size, mesh.size)
    if batch_size is not None and dataset is None:
        raise ValueError("batch_size is given for in-step sampling but dataset is None")
    static_hyper, swept_hyper = _sweep_hyperparameters(hyperparameters or {}, num_models)

    pmap_mode = parallel == "pmap"
    axis = par.DATA_AXIS
    update = Update(
        model=model,
        objective=objective,
        tx=tx,
        reconstruction=reconstruction,
        discriminator=discriminator,
        discriminator_tx=discriminator_tx,
        discriminator_loss=losses.factor_vae_discriminator_loss if discriminator else None,
        permute_dims=losses.permute_dims if discriminator else None,
        gather=(
            (lambda t: jax.tree.map(lambda x: jax.lax.all_gather(x, axis, tiled=True), t))
            if pmap_mode
            else (lambda t: t)
        ),
        reduce_grads=(lambda g: jax.lax.pmean(g, axis)) if pmap_mode else (lambda g: g),
        num_shards=mesh.size if pmap_mode else 1,
        shard_index=(lambda: jax.lax.axis_index(axis)) if pmap_mode else (lambda: 0),
    )
    global_batch = batch_size if dataset is not None else None
    data_spec = par.data_sharding(mesh)

    def one_model(state, images, swept, data):
        if images is None:
            if pmap_mode:
                local = global_batch // mesh.size
                shard = (jax.lax.axis_index(axis) * local, local)
                images = _sample_images(data, state.key, state.step, global_batch, shard)
            else:
                images = _sample_images(data, state.key, state.step, global_batch)
                images = jax.lax.with_sharding_constraint(images, data_spec)
        return update(state, images, {**static_hyper, **swept})

    def step_fn(state, images, data):
        if num_models is None:
            return one_model(state, images, {}, data)
        if sweep_mode == "vmap":
            return jax.vmap(one_model, in_axes=(0, None, 0, None))(state, images, swept_hyper, data)
        outputs = [
            one_model(
                jax.tree.map(lambda x, i=i: x[i], state),
                images,
                {name: value[i] for name, value in swept_hyper.items()},
                data,
            )
            for i in range(num_models)
        ]
        return jax.tree.map(lambda *xs: jnp.stack(xs), *outputs)

    donate_argnums = (0,) if donate else ()
    replicated = par.replicated_sharding(mesh)
    compiler_options = STEP_COMPILER_OPTIONS.get(mesh.devices.flat[0].platform)
    if pmap_mode:
        # pmap closes over the dataset (a device-resident dataset becomes a constant of
        # the program); the jit path passes it as a replicated argument instead.
        devices = list(mesh.devices.flat)
        pmapped = {
            sampled: jax.pmap(
                (lambda s: step_fn(s, None, dataset))
                if sampled
                else (lambda s, x: step_fn(s, x, dataset)),
                axis_name=axis,
                devices=devices,
                donate_argnums=donate_argnums,
            )
            for sampled in (True, False)
        }

        def fn(state, images, data):
            del data
            if images is None:
                state, metrics = pmapped[True](state)
            else:
                state, metrics = pmapped[False](state, images)
            return state, jax.tree.map(lambda m: m[0], metrics)

        def precompile(abstract_state):
            del abstract_state  # pmap compiles on the first call
            return lambda: None

        placed_dataset = None
    else:
        jitted = {
            True: jax.jit(
                lambda s, data: step_fn(s, None, data),
                in_shardings=(replicated, replicated),
                out_shardings=(replicated, replicated),
                donate_argnums=donate_argnums,
                compiler_options=compiler_options,
            ),
            False: jax.jit(
                lambda s, x: step_fn(s, x, None),
                in_shardings=(replicated, data_spec),
                out_shardings=(replicated, replicated),
                donate_argnums=donate_argnums,
                compiler_options=compiler_options,
            ),
        }

        def fn(state, images, data):
            if images is None:
                return jitted[True](state, data)
            return jitted[False](state, images)

        def precompile(abstract_state):
            # ahead-of-time compile of the in-step-sampling program; calls then use it
            if dataset is None:
                return lambda: None
            lowered = jitted[True].lower(abstract_state, placed_dataset)

            def finish():
                jitted[True] = lowered.compile()

            return finish

        # a device-resident dataset is put on the devices once, replicated
        placed_dataset = None if dataset is None else jax.device_put(dataset, replicated)

    def init_fn(key):
        return create_train_state(
            key,
            model,
            tx,
            discriminator=discriminator,
            discriminator_tx=discriminator_tx,
            out_sharding=None if pmap_mode else replicated,
        )

    return TrainStep(
        fn=fn,
        mesh=mesh,
        parallel=parallel,
        num_models=num_models,
        global_batch=global_batch,
        init_fn=init_fn,
        dataset=placed_dataset,
        precompile_fn=precompile,
    )


def _sweep_hyperparameters(hyper: Mapping[str, Any], num_models: int | None):
    """Splits hyperparameters into closed-over constants and per-model ``[S]`` arrays."""
    static: dict[str, Any] = {}
    swept: dict[str, jax.Array] = {}
    for name, value in hyper.items():
        if isinstance(value, str | bool) or value is None:
            static[name] = value
            continue
        shape = np.shape(value)
        if shape == ():
            static[name] = value
        elif num_models is not None and shape == (num_models,):
            swept[name] = jnp.asarray(value)
        else:
            expected = "a scalar" if num_models is None else f"a scalar or shape ({num_models},)"
            raise ValueError(f"hyperparameter {name!r} must be {expected}, got shape {shape}")
    return static, swept
