"""The train step: one pure, jit-compiled state transition ``(state, batch) -> (state, metrics)``.

:func:`make_train_step` closes over everything static (model, objective, optimizer,
hyperparameters, dataset, mesh), checks it, and hands the build to one of the paths, each
in its own module; it returns a :class:`TrainStep`, a callable wrapping the compiled
program:

* ``parallel="jit"`` (default, :mod:`disentax.train.step_jit`): ``jax.jit`` over a
  ``Mesh`` with explicit ``NamedSharding``; the state is replicated and donated, the batch
  is split over the mesh's ``"data"`` axis, and batch-level terms see the whole global
  batch, exactly as on one device.
* ``num_models=S`` (:mod:`disentax.train.step_sweep`): a sweep, S models over a leading
  model axis of the state and ``[S]`` hyperparameters in one program (``sweep_mode``
  ``"vmap"`` or ``"unrolled"``), compiled by the jit path.
* ``parallel="pmap"`` (:mod:`disentax.train.step_pmap`): the same update with
  ``jax.pmap`` for pmap-era code; the state is kept stacked over devices
  (:meth:`TrainStep.place` / :meth:`TrainStep.unplace`).

All paths share the single-model update (:mod:`disentax.train.update`) and in-step
sampling (:mod:`disentax.train.step_sampling`).

Data: ``train_step(state, None)`` samples the batch inside the step from a procedural or
device-resident dataset, ``factors = sample_factors_for_step(dataset, data_key, step, N)``;
``train_step(state, batch)`` takes a global batch from a host pipeline that used the
same ``data_key`` (:func:`step_keys`), so both give the same batches. A batch is a dict of
arrays with a leading row axis, ``{"images": [N,H,W,C], ...}``: the entries of the
objective's batch kind (``Objective.batch``: ``"images"``, or ``"pairs"`` for the weakly
supervised objectives, see :mod:`disentax.train.step_sampling`), configured by its
``batch_hyperparameters`` (e.g. the pairs' ``k``).

Randomness: ``data_key, model_key = split(state.key)``; the step's noise (the
reparameterised ``z``, FactorVAE's permutation) comes from ``fold_in(model_key, step)``.

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
from disentax.train.step_jit import STEP_COMPILER_OPTIONS, make_jit_model_step, make_jit_step
from disentax.train.step_pmap import make_pmap_step
from disentax.train.step_sweep import SWEEP_MODES, make_sweep_step, split_hyperparameters
from disentax.train.update import make_update, step_keys

__all__ = ["STEP_COMPILER_OPTIONS", "SWEEP_MODES", "TrainStep", "make_train_step", "step_keys"]


def _batch_of(batch, keys: tuple[str, ...]) -> dict | None:
    """The batch dict of the entries ``keys`` (a bare array or a tuple: images only)."""
    if batch is None:
        return None
    if isinstance(batch, Mapping):
        missing = [k for k in keys if k not in batch]
        if missing:
            raise ValueError(f"batch lacks the entries {missing}; this step takes {list(keys)}")
        return {k: batch[k] for k in keys}
    images = batch[0] if isinstance(batch, tuple | list) else batch
    if keys != ("images",):
        raise ValueError(f"batch must be a mapping with the entries {list(keys)}, got an array")
    return {"images": images}


@dataclasses.dataclass(frozen=True)
class TrainStep:
    """A compiled train step and the layout of the state it expects.

    Call as ``state, metrics = train_step(state, batch)`` with ``batch`` None (sample
    inside the step from ``dataset``), a global ``images [N,H,W,C]`` array, a tuple
    ``(images, factors)``, or a mapping with the entries ``batch_keys`` (required when
    they are more than ``images``, e.g. pairs). The state argument is donated.

    Attributes:
      mesh: the data-parallel mesh.
      parallel: ``"jit"`` or ``"pmap"``.
      num_models: ``S`` for a sweep, else None.
      global_batch: ``N`` when the step samples its own batch, else None.
      batch_keys: the entries of the batch it takes (``("images",)`` unless the
        objective declares another batch kind).

    Examples:
      A step for host batches (no dataset); the layout of its state, without computing
      it (see :func:`make_train_step` for a step that runs):

      >>> import jax
      >>> import optax
      >>> from disentax import models, parallel
      >>> from disentax.train import make_train_step
      >>> model = models.make_model("fc", num_latents=2, image_shape=(1, 1, 4))
      >>> mesh = parallel.make_mesh(1)
      >>> train_step = make_train_step(model, "beta_vae", optax.adam(1e-3), mesh=mesh)
      >>> state = train_step.abstract_state(jax.random.key(0))
      >>> state.step.shape, state.params["vae"]["encoder"]["mean"]["kernel"].shape
      ((), (1200, 2))
    """

    fn: Callable
    mesh: Mesh
    parallel: str
    num_models: int | None
    global_batch: int | None
    init_fn: Callable
    dataset: Any = None
    precompile_fn: Callable | None = None
    batch_keys: tuple[str, ...] = ("images",)
    state_sharding: Any = None  # None: replicated; a sweep on a models mesh: split models

    def __call__(self, state: TrainState, batch=None):
        """Runs one step of the compiled program.

        Args:
          state: the state in this step's layout (:meth:`place`); donated unless the step
            was built with ``donate=False``.
          batch: None (the step samples ``global_batch`` rows from ``dataset``), a global
            ``images [N,H,W,C]`` array, a tuple or list ``(images, factors)`` or a mapping
            with the entries ``batch_keys`` (others are dropped); every entry's leading
            axis divisible by the mesh size.

        Returns:
          ``(state, metrics)``: the next state in the same layout and a dict of scalar
          metrics (``[S]`` arrays in a sweep).

        Raises:
          ValueError: ``batch`` is None but the step was built without a dataset, an
            entry of ``batch_keys`` is missing, or an entry does not split evenly over
            the mesh.
        """
        batch = _batch_of(batch, self.batch_keys)
        if batch is None and self.global_batch is None:
            raise ValueError("batch is None but the step was built without a dataset")
        if batch is not None:
            for name, value in batch.items():
                n = value.shape[0]
                par.check_global_batch(
                    int(n), par.data_axis_size(self.mesh), name=f"batch[{name!r}] rows"
                )
                if self.parallel == "pmap":
                    shape = (self.mesh.size, n // self.mesh.size, *value.shape[1:])
                    batch[name] = np.asarray(value).reshape(shape)
        return self.fn(state, batch, self.dataset)

    def abstract_state(self, key: jax.Array) -> TrainState:
        """Shapes, dtypes and shardings of the state (traced, nothing compiled)."""
        sharding = None if self.parallel == "pmap" else par.replicated_sharding(self.mesh)
        shapes = jax.eval_shape(self.init_fn, key)
        return jax.tree.map(
            lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), shapes
        )

    def precompile(self, key: jax.Array, batch=None) -> Callable[[], None]:
        """Lowers the step's program now; returns a function that compiles it.

        Args:
          key: the run's key (for the state's shapes).
          batch: None for the in-step-sampling program; for host batches, a mapping of
            the entries ``batch_keys`` to ``jax.ShapeDtypeStruct`` of the global batch.

        The returned function may run in another thread (XLA compiles without holding
        the GIL): the job compiles the step while the initialisation compiles and runs.
        Calls made after it returns use the compiled program.
        """
        if self.precompile_fn is None or self.parallel not in ("jit", "pmap"):
            return lambda: None
        if batch is None:
            return self.precompile_fn(self.abstract_state(key))
        return self.precompile_fn(self.abstract_state(key), dict(batch))

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
        sharding = self.state_sharding or par.replicated_sharding(self.mesh)
        if jax.process_count() > 1:  # a host value becomes this process's shards of it
            return jax.tree.map(lambda x: par.global_array(x, sharding), state)
        return jax.device_put(state, sharding)

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
      mesh: data-parallel mesh (``disentax.parallel.make_mesh``); a sweep may take a
        ``models`` × ``data`` mesh (``disentax.parallel.make_model_mesh``): its model axis
        is then split over ``models`` (``num_models`` a multiple of that axis).
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
      sweep_mode: ``"vmap"`` or ``"unrolled"`` (see :mod:`disentax.train.step_sweep`);
        ``None`` picks the platform's default from :data:`SWEEP_MODES`. Both give the same
        trajectories.
      donate: donate the state buffers (default True).

    Returns:
      A :class:`TrainStep`.

    Raises:
      ValueError: unknown objective or parallel mode, a batch not divisible by the device
        count, hyperparameters of the wrong shape, a discriminator without its optimizer,
        a batch the dataset cannot give (pairs of a dataset without factors, the pairs'
        ``k`` outside ``[-1, F]`` or 0), a batch hyperparameter swept over models.
      TypeError: an objective that is neither callable nor a name.

    Examples:
      A β-VAE step that samples its batch of 2 inside the step, on one device:

      >>> import jax
      >>> import optax
      >>> from disentax import data, models, parallel
      >>> from disentax.train import make_train_step
      >>> model = models.make_model("fc", num_latents=2, image_shape=(1, 1, 4))
      >>> train_step = make_train_step(
      ...     model,
      ...     "beta_vae",
      ...     optax.adam(1e-3),
      ...     mesh=parallel.make_mesh(1),
      ...     dataset=data.get("synthetic_identity"),  # 4 factors: 1x1x4 images
      ...     batch_size=2,
      ...     hyperparameters={"beta": 4.0},
      ... )
      >>> train_step.parallel, train_step.num_models, train_step.global_batch
      ('jit', None, 2)
      >>> state = train_step.init(jax.random.key(0))
      >>> state, metrics = train_step(state)  # batch None: sampled inside the step
      >>> int(state.step)
      1
      >>> sorted(metrics)
      ['elbo', 'grad_norm', 'kl', 'loss', 'recon']
    """
    objective = _resolve_objective(objective)
    models_mesh = par.MODELS_AXIS in mesh.axis_names
    if sweep_mode is None:
        sweep_mode = SWEEP_MODES.get(mesh.devices.flat[0].platform, "vmap")
    _check_arguments(
        mesh, dataset, batch_size, discriminator, discriminator_tx, parallel, num_models, sweep_mode
    )
    static_hyper, swept_hyper = split_hyperparameters(hyperparameters or {}, num_models)
    kind, options, batch_keys = _batch_spec(objective, static_hyper, swept_hyper, dataset)
    pmap_mode = parallel == "pmap"
    update = make_update(
        model,
        objective,
        tx,
        reconstruction=reconstruction,
        discriminator=discriminator,
        discriminator_tx=discriminator_tx,
        axis_name=par.DATA_AXIS if pmap_mode else None,
        num_shards=mesh.size if pmap_mode else 1,
    )
    global_batch = batch_size if dataset is not None else None
    if pmap_mode:
        built = make_pmap_step(
            update,
            static_hyper,
            mesh=mesh,
            dataset=dataset,
            global_batch=global_batch,
            donate=donate,
            batch_kind=kind,
            batch_options=options,
        )
    else:
        one_model = make_jit_model_step(
            update,
            static_hyper,
            mesh=mesh,
            global_batch=global_batch,
            batch_kind=kind,
            batch_options=options,
        )
        if num_models is None:
            step_fn = lambda state, batch, data: one_model(state, batch, {}, data)  # noqa: E731
        else:
            step_fn = make_sweep_step(
                one_model,
                swept_hyper,
                num_models=num_models,
                sweep_mode=sweep_mode,
                spmd_axis_name=par.MODELS_AXIS if models_mesh else None,
                mesh=mesh,
            )
        state_sharding = par.model_sharding(mesh) if models_mesh else None
        built = make_jit_step(
            step_fn, mesh=mesh, dataset=dataset, donate=donate, state_sharding=state_sharding
        )
    fn, precompile_fn, placed_dataset = built
    out_sharding = None if pmap_mode else par.replicated_sharding(mesh)
    objective_init = _objective_init(objective, dataset, static_hyper)
    init_fn = _make_init_fn(
        model, tx, discriminator, discriminator_tx, out_sharding, objective_init
    )
    return TrainStep(
        fn=fn,
        mesh=mesh,
        parallel=parallel,
        num_models=num_models,
        global_batch=global_batch,
        init_fn=init_fn,
        dataset=placed_dataset,
        precompile_fn=precompile_fn,
        batch_keys=batch_keys,
        state_sharding=None if pmap_mode or not models_mesh else par.model_sharding(mesh),
    )


def _batch_spec(objective, static_hyper, swept_hyper, dataset):
    """``(kind, options, keys)`` of the objective's batch, checked before any compile.

    Raises:
      ValueError: an unknown batch kind, a batch hyperparameter swept over models (the
        batch is shared by a sweep's models), options or a dataset the kind rejects
        (e.g. pairs of a dataset without factors, ``k`` out of range).
    """
    from disentax.train import step_sampling

    kind = getattr(objective, "batch", "images")
    names = tuple(getattr(objective, "batch_hyperparameters", ()))
    swept = sorted(set(names) & set(swept_hyper))
    if swept:
        raise ValueError(
            f"hyperparameters {swept} configure the batch, which the models of a sweep "
            "share: give one value, not one per model"
        )
    options = objective.batch_options(static_hyper) if names else {}
    if names:
        objective.validate(options)
    step_sampling.check_batch(kind, dataset, options)
    return kind, options, step_sampling.BATCH_KEYS[kind]


def _resolve_objective(objective):
    """The objective function of a name in ``disentax.losses.OBJECTIVES`` or a callable."""
    from disentax import losses

    if isinstance(objective, str):
        if objective not in losses.OBJECTIVES:
            raise ValueError(
                f"objective {objective!r} is unknown; known: {sorted(losses.OBJECTIVES)}"
            )
        objective = losses.OBJECTIVES[objective]
    if not callable(objective):
        raise TypeError(f"objective must be callable or a name, got {type(objective).__name__}")
    return objective


def _check_arguments(
    mesh, dataset, batch_size, discriminator, discriminator_tx, parallel, num_models, sweep_mode
):
    """Raises ValueError for arguments of :func:`make_train_step` that do not fit together."""
    if parallel not in ("jit", "pmap"):
        raise ValueError(f"parallel must be 'jit' or 'pmap', got {parallel!r}")
    if (discriminator is None) != (discriminator_tx is None):
        raise ValueError("discriminator and discriminator_tx must be given together")
    if num_models is not None:
        if not isinstance(num_models, int) or num_models < 1:
            raise ValueError(f"num_models must be a positive int, got {num_models!r}")
        if parallel != "jit":
            raise ValueError("sweeps (num_models) run with parallel='jit' only")
    if sweep_mode not in ("vmap", "unrolled"):
        raise ValueError(f"sweep_mode must be 'vmap', 'unrolled' or None, got {sweep_mode!r}")
    if par.MODELS_AXIS in mesh.axis_names:
        par.check_models_split(num_models, mesh)  # a sweep (jit only, checked above)
    if batch_size is not None:
        par.check_global_batch(batch_size, par.data_axis_size(mesh))
    if batch_size is not None and dataset is None:
        raise ValueError("batch_size is given for in-step sampling but dataset is None")


def _objective_init(objective, dataset, static_hyper):
    """``key -> params`` of an objective with learned parameters (None without them).

    Raises:
      ValueError: the objective has learned parameters but no dataset fixes their shapes.
    """
    if not getattr(objective, "takes_params", False):
        return None
    if dataset is None:
        raise ValueError(
            f"objective {objective.name!r} has learned parameters whose shapes follow the "
            "dataset's factors: build its train step with dataset="
        )
    return objective.params_init(dataset, static_hyper)


def _make_init_fn(model, tx, discriminator, discriminator_tx, out_sharding, objective_init=None):
    """``init_fn(key) -> TrainState``, the initial state in the step's sharding."""

    def init_fn(key):
        return create_train_state(
            key,
            model,
            tx,
            discriminator=discriminator,
            discriminator_tx=discriminator_tx,
            out_sharding=out_sharding,
            objective_init=objective_init,
        )

    return init_fn
