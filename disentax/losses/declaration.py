"""Declaring an objective: its hyperparameters (defaults, checks), aux keys and needs.

:func:`objective` wraps a loss function into an :class:`Objective` record; the pieces every
objective is built from (:func:`vae_terms`, :func:`elbo_aux`) and the hyperparameter
checks (:func:`nonnegative`, :func:`positive`, :func:`one_of`) live here with it, so a new
objective in any losses module imports them without importing the registry.

Objectives that train on more than a batch of images declare what they need: the kind of
batch the train step samples (``batch``, e.g. ``"pairs"``) and the hyperparameters that
configure it (``batch_hyperparameters``, e.g. the pairs' ``k``), the batch entries the loss
reads besides ``images`` (``inputs``), and how the model is applied to the batch
(``forward``, a function of :class:`ModelFns`, in place of the standard pass).
"""

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from disentax.losses.divergence import gaussian_kl
from disentax.losses.reconstruction import RECONSTRUCTIONS, reconstruction_nll
from disentax.typing import Array


class ForwardPass(Protocol):
    """What an objective reads of a forward pass (e.g. ``disentax.models.VAEOutput``).

    ``mean, logvar, z [N,L]`` and ``logits [N,H,W,C]``; losses never import the models.
    """

    mean: Array
    logvar: Array
    z: Array
    logits: Array


#: ``fn(images, out, *, step, reconstruction, **hyper) -> (loss, aux)``.
ObjectiveFn = Callable[..., tuple[Array, dict[str, Array]]]
Check = Callable[[str, Any], None]  # (name, concrete value) -> None, or raises ValueError


class ModelFns(NamedTuple):
    """The model as a declared ``forward`` sees it: callables on this shard's rows.

    Attributes:
        encode: ``images [n,H,W,C] -> (mean [n,L], logvar [n,L])``.
        decode: ``z [n,L] -> logits [n,H,W,C]``.
        noise: ``noise(stream, n) -> [n,L]`` standard normal: this shard's ``n`` rows of a
            draw made for the global batch (``n`` times the number of shards rows), so
            every parallel layout gives the same noise to the same row; stream 0 of the
            images' rows is the noise of the standard pass.
    """

    encode: Callable
    decode: Callable
    noise: Callable


COMMON_AUX = ("loss", "recon", "kl", "elbo")  # the aux keys every objective returns


# ------------------------------------------------------------------ hyperparameter checks


def _real_scalar(key: str, value: Any) -> float:
    arr = np.asarray(value)
    if arr.ndim != 0 or not np.issubdtype(arr.dtype, np.number) or arr.dtype == bool:
        raise ValueError(f"{key} must be a real scalar, got {value!r}")
    return float(arr)


def nonnegative(key: str, value: Any) -> None:
    """Check: a finite real scalar >= 0 (a weight such as β, γ, λ or a capacity)."""
    v = _real_scalar(key, value)
    if not (v >= 0 and v < float("inf")):
        raise ValueError(f"{key} must be finite and >= 0, got {value!r}")


def positive(key: str, value: Any) -> None:
    """Check: a finite real scalar > 0 (e.g. a number of steps)."""
    v = _real_scalar(key, value)
    if not v > 0:
        raise ValueError(f"{key} must be > 0, got {value!r}")
    if not v < float("inf"):
        raise ValueError(f"{key} must be finite and >= 0, got {value!r}")


def one_of(options: tuple) -> Check:
    """Check: one of ``options``."""

    def check(key: str, value: Any) -> None:
        if value not in options:
            raise ValueError(f"{key} must be one of {options}, got {value!r}")

    return check


# ------------------------------------------------------------------------ the record


class Hyperparameter(NamedTuple):
    """A declared hyperparameter: its default and the check of a concrete value."""

    default: Any
    check: Check | None = None


@dataclasses.dataclass(frozen=True, eq=False)
class Objective:
    """An objective function with its declarations (built by :func:`objective`).

    Calling it validates the concrete hyperparameters given, fills in the defaults of the
    missing ones and calls ``fn`` with all of them but the ``batch_hyperparameters``;
    ``discriminator_logits`` is passed on to objectives that declare
    ``needs_discriminator``, and the batch entries named in ``inputs`` to those that
    declare them.

    Attributes:
        fn: ``fn(images, out, *, step, reconstruction, **hyper) -> (loss, aux)``.
        hyperparameters: name -> :class:`Hyperparameter` (default, check).
        aux: the ``aux`` keys it returns besides ``COMMON_AUX``.
        needs_discriminator: trained with a discriminator on ``z`` (FactorVAE): it takes
            ``discriminator_logits [N,2]`` and the train step adds the discriminator's
            update (``factor_vae_discriminator_loss``).
        batch: the kind of batch the train step samples for it: ``"images"`` (the
            default) or another key of ``disentax.train.step_sampling.BATCH_SAMPLERS``
            (``"pairs"``: ``images``, ``images_2``, ``changed``).
        batch_hyperparameters: the hyperparameters that configure the batch sampler
            (static values, e.g. the pairs' ``k``); passed to the sampler, not to ``fn``.
        inputs: the batch entries besides ``images`` that ``fn`` takes as keyword
            arguments (global arrays, e.g. ``images_2``).
        forward: ``forward(model: ModelFns, batch, **hyper) -> out`` applies the model to
            this shard's rows of the batch (a dict of arrays) and returns a pytree whose
            leaves lead with the row axis, what ``fn`` receives as ``out``; None for the
            standard reparameterised pass of ``images`` (a ``ForwardPass``). With
            ``needs_discriminator``, ``out.z [N,L]`` is what the discriminator sees.
        init_params: ``init_params(key, dataset, **hyper) -> params`` for an objective
            with learned parameters of its own (e.g. a supervised regulariser's scale):
            the train step keeps them in the VAE's tree as ``params["vae"]["objective"]``
            (the model ignores that entry), trains them with the VAE's optimizer and
            passes them to ``fn`` as ``objective_params``; None (the default) for none.

    Examples:
        >>> from disentax.losses import OBJECTIVES
        >>> entry = OBJECTIVES["beta_tcvae"]
        >>> entry.name, entry.aux, entry.needs_discriminator
        ('beta_tcvae', ('tc',), False)
        >>> entry.defaults
        {'beta': 6.0, 'estimator': 'mws', 'dataset_size': None}
        >>> entry.resolve({"beta": 2.0})
        {'beta': 2.0, 'estimator': 'mws', 'dataset_size': None}
    """

    fn: ObjectiveFn
    hyperparameters: Mapping[str, Hyperparameter]
    aux: tuple[str, ...] = ()
    needs_discriminator: bool = False
    batch: str = "images"
    batch_hyperparameters: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    forward: Callable | None = None
    init_params: Callable | None = None

    def __post_init__(self):
        hyper = {k: Hyperparameter(*v) for k, v in self.hyperparameters.items()}
        object.__setattr__(self, "hyperparameters", hyper)
        unknown = [name for name in self.batch_hyperparameters if name not in hyper]
        if unknown:
            raise ValueError(f"batch_hyperparameters {unknown} are not declared hyperparameters")
        sig = inspect.signature(self.fn)
        params = [
            p.replace(default=hyper[p.name].default) if p.name in hyper else p
            for p in sig.parameters.values()
        ]
        for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
            object.__setattr__(self, attr, getattr(self.fn, attr))
        object.__setattr__(self, "__wrapped__", self.fn)
        object.__setattr__(self, "__signature__", sig.replace(parameters=params))

    @property
    def name(self) -> str:
        """The function's name (its key in ``OBJECTIVES``)."""
        return self.fn.__name__

    @property
    def takes_params(self) -> bool:
        """True when it has learned parameters of its own (``init_params``)."""
        return self.init_params is not None

    def params_init(self, dataset, hyper: Mapping[str, Any]) -> Callable | None:
        """``key -> params``: ``init_params`` bound to ``dataset`` and ``hyper``; None without.

        Per-model (``[S]``) values of a sweep are left out: the parameters' shapes follow
        the static hyperparameters (e.g. the regulariser and the labeller), which all the
        models of a sweep share.
        """
        if self.init_params is None:
            return None
        static = {k: v for k, v in hyper.items() if isinstance(v, str | bool) or np.ndim(v) == 0}
        resolved = self.resolve(static)
        return lambda key: self.init_params(key, dataset, **resolved)

    @property
    def needs_pairs(self) -> bool:
        """True when it trains on pairs of observations (``batch == "pairs"``)."""
        return self.batch == "pairs"

    def loss_hyperparameters(self, hyper: Mapping[str, Any]) -> dict[str, Any]:
        """``hyper`` without the ``batch_hyperparameters`` (what ``fn`` and ``forward`` take)."""
        return {k: v for k, v in hyper.items() if k not in self.batch_hyperparameters}

    def batch_options(self, hyper: Mapping[str, Any]) -> dict[str, Any]:
        """The sampler's options: ``hyper``'s ``batch_hyperparameters``, with defaults."""
        full = {**self.defaults, **hyper}
        return {k: full[k] for k in self.batch_hyperparameters}

    @property
    def defaults(self) -> dict[str, Any]:
        """Default value of every hyperparameter."""
        return {k: h.default for k, h in self.hyperparameters.items()}

    def validate(self, hyper: Mapping[str, Any]) -> None:
        """Checks the names in ``hyper`` and their concrete values; traced values pass unchecked.

        Args:
            hyper: hyperparameter name -> value.

        Raises:
            ValueError: names the first hyperparameter that is unknown or whose concrete
                value fails its check.
        """
        for key, value in hyper.items():
            if key not in self.hyperparameters:
                raise ValueError(
                    f"{key!r} is not a hyperparameter of {self.name!r}; "
                    f"expected some of {sorted(self.hyperparameters)}"
                )
            check = self.hyperparameters[key].check
            if check is not None and not isinstance(value, jax.core.Tracer):
                check(key, value)

    def resolve(self, hyper: Mapping[str, Any]) -> dict[str, Any]:
        """``hyper`` validated, with the defaults of the hyperparameters it lacks."""
        self.validate(hyper)
        return {**self.defaults, **hyper}

    def __call__(self, images, out, *, step=0, reconstruction="bernoulli", **kwargs):
        """Calls ``fn`` with the hyperparameters validated and the missing ones at their defaults.

        Args:
            images: ``[N,H,W,C]``.
            out: the forward pass (:class:`ForwardPass`).
            step: the training step (may be traced).
            reconstruction: a name in ``RECONSTRUCTIONS``.
            **kwargs: the hyperparameters, the batch entries named in ``inputs`` and, if
                ``needs_discriminator``, ``discriminator_logits [N,2]`` (None when not
                given).

        Returns:
            ``(loss, aux)`` as returned by ``fn``.

        Raises:
            ValueError: from :meth:`validate`.
        """
        inputs = {}
        if self.needs_discriminator:
            inputs["discriminator_logits"] = kwargs.pop("discriminator_logits", None)
        if self.takes_params:
            inputs["objective_params"] = kwargs.pop("objective_params", None)
        inputs.update({name: kwargs.pop(name) for name in self.inputs if name in kwargs})
        hyper = self.loss_hyperparameters(self.resolve(kwargs))
        missing = [name for name in self.inputs if name not in inputs]
        if missing:
            raise ValueError(f"objective {self.name!r} needs the batch entries {missing}")
        return self.fn(images, out, step=step, reconstruction=reconstruction, **inputs, **hyper)


def objective(
    hyperparameters: Mapping[str, tuple],
    *,
    aux: tuple[str, ...] = (),
    needs_discriminator=False,
    batch: str = "images",
    batch_hyperparameters: tuple[str, ...] = (),
    inputs: tuple[str, ...] = (),
    forward: Callable | None = None,
    init_params: Callable | None = None,
) -> Callable[[ObjectiveFn], Objective]:
    """Decorator: declares an objective function's hyperparameters and needs.

    Args:
        hyperparameters: name -> ``(default, check)`` (see :class:`Hyperparameter`).
        aux: the ``aux`` keys the function returns besides ``COMMON_AUX``.
        needs_discriminator: see :class:`Objective`.
        batch: see :class:`Objective`.
        batch_hyperparameters: see :class:`Objective`.
        inputs: see :class:`Objective`.
        forward: see :class:`Objective`.
        init_params: see :class:`Objective`.

    Examples:
        >>> from disentax.losses.objectives import elbo_aux, nonnegative, objective, vae_terms
        >>> @objective({"beta": (1.0, nonnegative)})
        ... def weighted_vae(images, out, *, step=0, reconstruction="bernoulli", beta):
        ...     recon, kl = vae_terms(images, out, reconstruction)
        ...     return elbo_aux(recon + beta * kl, recon, kl)
        >>> weighted_vae.defaults
        {'beta': 1.0}
    """
    return lambda fn: Objective(
        fn,
        hyperparameters,
        aux=aux,
        needs_discriminator=needs_discriminator,
        batch=batch,
        batch_hyperparameters=tuple(batch_hyperparameters),
        inputs=tuple(inputs),
        forward=forward,
        init_params=init_params,
    )


# -------------------------------------------------------------------- shared terms


def vae_terms(images, out: ForwardPass, reconstruction: str) -> tuple[Array, Array]:
    """``(recon, kl)``: batch means of the reconstruction NLL and of ``KL(q(z|x) || p(z))``."""
    if reconstruction not in RECONSTRUCTIONS:
        raise ValueError(f"reconstruction must be one of {RECONSTRUCTIONS}, got {reconstruction!r}")
    recon = jnp.mean(reconstruction_nll(images, out.logits, reconstruction))
    kl = jnp.mean(jnp.sum(gaussian_kl(out.mean, out.logvar), axis=1))
    return recon, kl


def elbo_aux(loss, recon, kl, **extra) -> tuple[Array, dict[str, Array]]:
    """``(loss, aux)`` with ``COMMON_AUX`` and ``extra``."""
    return loss, {"loss": loss, "recon": recon, "kl": kl, "elbo": -(recon + kl), **extra}


# ------------------------------------------------------------------- the objectives
# Defaults inside the study's grids (Locatello et al. 2019, Table 2).
