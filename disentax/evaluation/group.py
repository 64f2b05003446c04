"""A group's evaluation as programs: :func:`evaluate_group` scores S models at once.

The models of a group share their architecture, dataset and evaluation settings; their
parameters are stacked on a leading model axis ``[S, ...]`` (as a sweep trains them).
:func:`evaluate_group` computes every model's representations in one program (the
encoder ``jax.vmap``-ed over the stacked parameters, split over a models mesh when one is
given) and runs each metric of the table ``vmap``-ed over the model axis: the array
metrics on the shared train/test sets, and the metrics that draw their own points
(posterior and interventional) with their renders made once for the group when the key
is shared. ``models_per_chunk`` bounds how many models one program holds (memory).

Each model's record is :func:`disentax.evaluation.evaluate`'s record of that model alone
(same keys, same points, scores equal within float rounding), plus ``group``: how many
models were scored together and which metrics were scored one model at a time. Its
``seconds`` are the group's wall seconds of each metric (all its models together).

A metric whose kernel cannot be traced over the model axis (a host-side step) falls back
to the suite's path, one model at a time, and the record's ``group.per_model`` says so
with the reason; a dataset without factors is scored one model at a time by the suite.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from disentax import parallel
from disentax.evaluation import suite
from disentax.evaluation.representation import make_posterior_fn, make_representation_fn
from disentax.evaluation.table import METRICS
from disentax.metrics.interventions import (
    as_jit_argument,
    check_interventional_args,
    unwrap_dataset,
)
from disentax.typing import PRNGKey

__all__ = ["PER_MODEL", "evaluate_group"]

# Metrics scored one model at a time, with the reason. Their gradient-boosted trees turn a
# last-bit difference of a vmapped reduction into another split (DCI moved by ~1e-3), so
# vmapped they would score a model differently in a group than alone.
PER_MODEL = {
    "dci": "gradient-boosted trees: vmapped rounding moves their splits",
    "reduced_downstream_task": "gradient-boosted trees: vmapped rounding moves their splits",
}


@dataclasses.dataclass(frozen=True)
class _Group:
    """What every program of a group reads (frozen: the runners only read it)."""

    key: PRNGKey  # one key (shared by the models) or a [S] batch
    dataset: object
    model: object
    params: object  # leaves [S, ...]
    num_models: int
    num_train: int
    num_test: int
    sizes: tuple[int, ...]
    interventional: tuple  # the sizes' (name, value) items: a static argument
    mesh: object
    per_chunk: int

    @property
    def batched_key(self) -> bool:
        """Whether each model has its own key."""
        return self.key.ndim == 1


def _model_inputs(static: Mapping, dataset, key, params, train, test) -> suite._Inputs:
    """The suite's inputs of one model (arrays, or tracers inside a vmapped program)."""
    model = static["model"]
    return suite._Inputs(
        key=key,
        dataset=dataset,
        representation_fn=make_representation_fn(model, params),
        posterior_fn=make_posterior_fn(model, params),
        num_train=static["num_train"],
        sizes=static["sizes"],
        interventional=dict(static["interventional"]),
        train=train,
        test=test,
    )


_STATIC = ("model", "name", "num_train", "sizes", "interventional", "batched_key")


@functools.partial(jax.jit, static_argnames=_STATIC)
def _metric_program(key, dataset, params, train, test, **static):
    """One metric of the table, vmapped over the model axis of ``params`` (and ``key``)."""
    dataset = unwrap_dataset(dataset)

    def one(k, p, tr, te):
        return suite._run(METRICS[static["name"]], _model_inputs(static, dataset, k, p, tr, te))

    axis = 0 if static["batched_key"] else None
    return jax.vmap(one, in_axes=(axis, 0, 0, 0))(key, params, train, test)


@functools.partial(jax.jit, static_argnames=("model", "num_train", "num_test", "batched_key"))
def _sets_program(key, dataset, params, *, model, num_train, num_test, batched_key):
    """The shared train and test ``(codes, factors)`` of every model, as the suite draws."""
    dataset = unwrap_dataset(dataset)

    def one(k, p):
        represent = make_representation_fn(model, p)
        train = suite.sample_codes(jax.random.fold_in(k, 1), dataset, represent, num_train)
        test = suite.sample_codes(jax.random.fold_in(k, 2), dataset, represent, num_test)
        return train, test

    return jax.vmap(one, in_axes=(0 if batched_key else None, 0))(key, params)


def _pad(tree, size: int):
    """``tree``'s leading axis padded to ``size`` with copies of its first entry."""

    def pad(a):
        extra = size - a.shape[0]
        return a if extra == 0 else jnp.concatenate([a, jnp.repeat(a[:1], extra, axis=0)])

    return jax.tree.map(pad, tree)


def _map_models(program: Callable, group: _Group, batched: tuple, **static) -> list:
    """``program`` over the group, ``per_chunk`` models a time; one output per model.

    ``batched`` holds the arguments with a leading model axis (the parameters and
    per-model arrays); each chunk is padded to the models mesh and placed over it.
    """
    outputs = []
    for start in range(0, group.num_models, group.per_chunk):
        part = jax.tree.map(lambda a, s=start: a[s : s + group.per_chunk], batched)
        count = jax.tree.leaves(part)[0].shape[0]
        key = group.key[start : start + count] if group.batched_key else group.key
        if group.mesh is not None:
            size = parallel.padded_num_models(count, group.mesh)
            part, key = _pad(part, size), (_pad(key, size) if group.batched_key else key)
            split = parallel.model_sharding(group.mesh)
            part = jax.device_put(part, split)
            shared = split if group.batched_key else parallel.replicated_sharding(group.mesh)
            key = jax.device_put(key, shared)
        # on the host: a model's slice of a split output would live on one device
        out = jax.device_get(program(key, as_jit_argument(group.dataset), *part, **static))
        outputs += [jax.tree.map(lambda a, i=i: a[i], out) for i in range(count)]
    return outputs


def _static(group: _Group, name: str) -> dict:
    return {
        "model": group.model,
        "name": name,
        "num_train": group.num_train,
        "sizes": group.sizes,
        "interventional": group.interventional,
        "batched_key": group.batched_key,
    }


def _model_key(group: _Group, index: int):
    return group.key[index] if group.batched_key else group.key


def _one_by_one(group: _Group, name: str, sets) -> list:
    """The suite's run of metric ``name`` for each model in turn (Scored or a skip reason)."""
    outcomes = []
    for i in range(group.num_models):
        params = jax.tree.map(lambda a, i=i: a[i], group.params)
        train, test = jax.tree.map(lambda a, i=i: a[i], sets) if sets else (None, None)
        inputs = _model_inputs(
            _static(group, name), group.dataset, _model_key(group, i), params, train, test
        )
        try:
            outcomes.append(suite._run(METRICS[name], inputs))
        except ValueError as err:  # degenerate-but-valid input, as the suite skips it
            outcomes.append(str(err))
    return outcomes


def _score_metric(group: _Group, name: str, sets, per_model: dict) -> list:
    """Metric ``name`` of every model: vmapped, else one by one (reason in ``per_model``).

    A kernel that refuses traced input (it reads a size from the concrete data, or runs
    a host-side step) is scored by the suite's path per model, where a degenerate input
    is skipped with the suite's reason.
    """
    if name in PER_MODEL:
        per_model[name] = PER_MODEL[name]
        return _one_by_one(group, name, sets)
    train, test = sets if sets else (None, None)
    try:
        return _map_models(
            _metric_program, group, (group.params, train, test), **_static(group, name)
        )
    except (ValueError, jax.errors.JAXTypeError) as err:
        outcomes = _one_by_one(group, name, sets)
        if not all(isinstance(out, str) for out in outcomes):  # not a skip: it scored
            per_model[name] = f"not traceable over models: {str(err).splitlines()[0][:200]}"
        return outcomes


def _score_all(group: _Group, names, sets, progress_fn) -> tuple[list[dict], dict, dict]:
    """Per model ``{"scores", "matrices", "skipped"}``; group seconds; per-model reasons."""
    parts = [{"scores": {}, "matrices": {}, "skipped": {}} for _ in range(group.num_models)]
    seconds, per_model = {}, {}
    for name in names:
        start = time.perf_counter()
        outcomes = jax.block_until_ready(_score_metric(group, name, sets, per_model))
        took = time.perf_counter() - start
        reported = []
        for part, out in zip(parts, outcomes, strict=True):
            if isinstance(out, str):
                part["skipped"][name] = out
                reported.append(out)
                continue
            scores = {k: suite._to_json(v) for k, v in out.scores.items()}
            part["scores"].update(scores)
            part["matrices"].update({k: suite._to_json(v) for k, v in out.matrices.items()})
            reported.append(scores)
        if any(not isinstance(r, str) for r in reported):
            seconds[name] = took
        if progress_fn is not None:
            progress_fn(name, reported, took)
    return parts, seconds, per_model


def _num_models(stacked_params) -> int:
    leaves = jax.tree.leaves(stacked_params)
    counts = {int(a.shape[0]) if getattr(a, "ndim", 0) else None for a in leaves}
    if not leaves or len(counts) != 1 or None in counts or 0 in counts:
        raise ValueError(
            "stacked_params must have one leading model axis [S, ...] (S >= 1) on every "
            f"leaf, got leading sizes {sorted(counts, key=str)}"
        )
    return counts.pop()


def _check_key(key, num_models: int) -> None:
    if not (isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)):
        raise TypeError(f"key must be a typed PRNG key (jax.random.key), got {key!r}")
    if key.shape not in ((), (num_models,)):
        raise ValueError(
            f"key must be one key (shared) or a [{num_models}] batch (one per model), "
            f"got shape {key.shape}"
        )


def _without_factors(key, dataset, model, stacked_params, num_models, names, **kwargs) -> list:
    """The suite's record of each model in turn (a dataset without factors)."""
    records = []
    for i in range(num_models):
        params = jax.tree.map(lambda a, i=i: a[i], stacked_params)
        record = suite.evaluate(
            key[i] if key.ndim else key,
            dataset,
            make_representation_fn(model, params),
            metrics=names,
            posterior_fn=make_posterior_fn(model, params),
            **kwargs,
        )
        record["group"] = {"models": num_models, "per_model": dict.fromkeys(names, "no factors")}
        records.append(record)
    return records


def evaluate_group(
    key: PRNGKey,
    dataset,
    model,
    stacked_params,
    *,
    metrics: Sequence[str] | None = None,
    num_train: int = 10000,
    num_test: int = 5000,
    interventional_sizes: Mapping[str, int] | None = None,
    mesh=None,
    models_per_chunk: int | None = None,
    progress_fn: Callable[[str, list, float], None] | None = None,
) -> list[dict]:
    """Scores S models of one architecture, each as :func:`~disentax.evaluation.evaluate`.

    Model ``i`` is scored on its posterior mean (``make_representation_fn(model,
    params_i)``, with ``make_posterior_fn`` for the posterior metrics), with the key
    ``key`` (or ``key[i]``): its record equals ``evaluate``'s for that model alone.

    Args:
      key: typed PRNG key shared by the models (their points are drawn and rendered once
        for the group), or a ``[S]`` batch of keys, one per model.
      dataset: :class:`disentax.data.GroundTruthData` with jittable observations.
      model: the models' :class:`disentax.models.VAE`.
      stacked_params: the models' parameters, every leaf ``[S, ...]``.
      metrics: names from :data:`~disentax.evaluation.METRICS` (default: all).
      num_train: shared training points of the array metrics (reference: 10000).
      num_test: shared test points (reference: 5000).
      interventional_sizes: as for :func:`~disentax.evaluation.evaluate`.
      mesh: a mesh with a ``models`` axis (:func:`disentax.parallel.make_model_mesh`):
        each program's models are split over it (padded to a multiple of its size).
        None: the default device.
      models_per_chunk: at most this many models in one program (memory); None: all.
      progress_fn: called as each metric ends with ``(name, outcomes, seconds)``: a list
        of each model's scores (or the reason it was skipped) and the group's seconds.

    Returns:
      One record per model, in order: ``evaluate``'s keys plus ``group`` (``models``:
      S; ``per_model``: metric -> why it was scored one model at a time).

    Raises:
      TypeError / ValueError: a bad key, parameters, metric name, size or chunk (before
        anything is compiled).

    Example:
      >>> import jax
      >>> from disentax.data import Identity
      >>> from disentax.models import make_model
      >>> from disentax.models.vae import init_params
      >>> model = make_model("fc", num_latents=2, image_shape=(1, 1, 2))
      >>> params = jax.vmap(lambda k: init_params(model, k))(jax.random.split(jax.random.key(0), 3))
      >>> records = evaluate_group(jax.random.key(0), Identity((3, 4)), model, params,
      ...                          metrics=["mig"], num_train=200, num_test=100)
      >>> len(records), sorted(records[0]["metrics"]), records[0]["group"]["models"]
      (3, ['mig'], 3)
    """
    names = list(METRICS) if metrics is None else list(metrics)
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: {sorted(METRICS)}")
    num_models = _num_models(stacked_params)
    _check_key(key, num_models)
    if models_per_chunk is not None and (
        isinstance(models_per_chunk, bool) or not isinstance(models_per_chunk, int)
        or models_per_chunk < 1
    ):  # fmt: skip
        raise ValueError(f"models_per_chunk must be an int >= 1 or None, got {models_per_chunk!r}")
    if not getattr(dataset, "has_factors", True):
        return _without_factors(
            key, dataset, model, stacked_params, num_models, names,
            num_train=num_train, num_test=num_test, interventional_sizes=interventional_sizes,
        )  # fmt: skip
    check_interventional_args(
        key[0] if key.ndim else key, dataset, num_train=num_train, num_test=num_test
    )
    if mesh is not None and jax.tree.leaves(dataset):  # its arrays on every device
        dataset = jax.device_put(dataset, parallel.replicated_sharding(mesh))
    group = _Group(
        key=key,
        dataset=dataset,
        model=model,
        params=stacked_params,
        num_models=num_models,
        num_train=int(num_train),
        num_test=int(num_test),
        sizes=tuple(int(k) for k in dataset.factor_sizes),
        interventional=tuple(suite._interventional_sizes(interventional_sizes).items()),
        mesh=mesh,
        per_chunk=models_per_chunk or num_models,
    )
    return _records(group, names, progress_fn)


def _records(group: _Group, names: list[str], progress_fn) -> list[dict]:
    """Draws the shared sets (if needed), scores ``names``, assembles each model's record."""
    seconds, sets = {}, None
    if any(name not in suite.OWN_POINTS for name in names):
        start = time.perf_counter()
        outputs = _map_models(
            _sets_program,
            group,
            (group.params,),
            model=group.model,
            num_train=group.num_train,
            num_test=group.num_test,
            batched_key=group.batched_key,
        )
        sets = jax.block_until_ready(_stacked(outputs))
        seconds["sampling"] = time.perf_counter() - start
        num_codes = int(sets[0][0].shape[-1])
    else:
        first = jax.tree.map(lambda a: a[0], group.params)
        num_codes = suite._num_codes(group.dataset, make_representation_fn(group.model, first))
    parts, timed, per_model = _score_all(group, names, sets, progress_fn)
    seconds.update(timed)
    sizes = {
        "num_train": group.num_train,
        "num_test": group.num_test,
        "num_codes": num_codes,
        "factor_sizes": list(group.sizes),
        "interventional": dict(group.interventional),
        **suite._grid_records([n for n in names if n in timed], group.dataset),
    }
    data = getattr(group.dataset, "describe", lambda: {"distribution": "independent"})()
    return [
        {
            "metrics": part["scores"],
            "matrices": part["matrices"],
            "seconds": dict(seconds),
            "sizes": dict(sizes),
            "skipped": part["skipped"],
            "data": data,
            "group": {"models": group.num_models, "per_model": dict(per_model)},
        }
        for part in parts
    ]


def _stacked(outputs: list):
    """The per-model outputs of :func:`_map_models` stacked back on a model axis."""
    return jax.tree.map(lambda *a: np.stack(a), *outputs)
