"""Supervised regularisers and their annealers: the pieces of the semi-supervised objectives.

A supervised regulariser scores the posterior means ``codes [M,L]`` of a labelled batch
against its ``labels [M,F]`` (class indices, as a labeller returns them) and the number
of values of each label ``label_sizes`` (``[F]`` or ``[M,F]``); the first ``F`` codes are
the supervised ones (``L >= F``), except in ``cov``. The four of disentanglement_lib are
in ``SUPERVISED_REGULARISERS`` (``xent``, ``l2``, ``cov``, ``embed``; their learned
parameters from :func:`init_regulariser_params`), the weight's schedules in ``ANNEALERS``
(``fixed``, ``anneal``, ``fine_tune``). Their semantics and the deliberate differences from
the reference: docs/guides/semi_supervision.md.

References:
    Locatello, Tschannen, Bauer, Rätsch, Schölkopf, Bachem, "Disentangling Factors of
    Variation Using Few Labels", ICLR 2020; disentanglement_lib,
    ``methods/semi_supervised/semi_supervised_vae.py`` (the regularisers and annealers).
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from disentax.typing import Array, ArrayLike, PRNGKey, PyTree

__all__ = [
    "ANNEALERS",
    "SUPERVISED_REGULARISERS",
    "Regulariser",
    "anneal",
    "check_regulariser_options",
    "init_regulariser_params",
    "supervised_cov",
    "supervised_embed",
    "supervised_l2",
    "supervised_loss",
    "supervised_xent",
]


# --------------------------------------------------------------------------- helpers


def _codes_labels(codes, labels, *, need_enough_codes: bool) -> tuple[Array, Array]:
    codes, labels = jnp.asarray(codes), jnp.asarray(labels)
    if codes.ndim != 2 or labels.ndim != 2 or codes.shape[0] != labels.shape[0]:
        raise ValueError(
            "codes and labels must have shapes [M, L] and [M, F] with the same M, got "
            f"{tuple(codes.shape)} and {tuple(labels.shape)}"
        )
    if need_enough_codes and codes.shape[1] < labels.shape[1]:
        raise ValueError(
            f"codes must have at least as many columns (latents, L={codes.shape[1]}) as "
            f"labels has factors (F={labels.shape[1]})"
        )
    return codes.astype(jnp.float32), labels


def _sizes(label_sizes, labels: Array) -> Array:
    sizes = jnp.asarray(label_sizes, jnp.float32)
    if sizes.shape not in ((labels.shape[1],), labels.shape):
        raise ValueError(
            f"label_sizes must have shape [F] or [M, F] = {tuple(labels.shape)}, "
            f"got {tuple(sizes.shape)}"
        )
    return sizes


def _normalised(labels: Array, label_sizes) -> Array:
    """``labels / label_sizes`` in [0, 1) (disentanglement_lib's ``normalize_labels``)."""
    return labels.astype(jnp.float32) / _sizes(label_sizes, labels)


# ----------------------------------------------------------------------- regularisers


def supervised_xent(codes: ArrayLike, labels: ArrayLike, label_sizes: ArrayLike) -> Array:
    """Sigmoid cross-entropy of the first ``F`` codes (logits) and the normalised labels.

    ``sum_{n,f} [softplus(c) - c t]`` with ``c = codes[n,f]``, ``t = labels[n,f] /
    label_sizes[f]``: a sum over the batch and the factors, as the reference.

    Args:
        codes: ``[M,L]`` posterior means of the labelled batch, ``L >= F``.
        labels: ``[M,F]`` class indices.
        label_sizes: ``[F]`` or ``[M,F]`` number of values of each label.

    Returns:
        Scalar.

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.losses import supervised_xent
        >>> round(float(supervised_xent(jnp.zeros((4, 3)), jnp.zeros((4, 2)), [5, 5])), 4)
        5.5452
    """
    codes, labels = _codes_labels(codes, labels, need_enough_codes=True)
    logits = codes[:, : labels.shape[1]]
    targets = _normalised(labels, label_sizes)
    return jnp.sum(jax.nn.softplus(logits) - logits * targets)


def supervised_l2(
    codes: ArrayLike,
    labels: ArrayLike,
    label_sizes: ArrayLike,
    *,
    scale: ArrayLike = 1.0,
    learn_scale: bool = True,
) -> Array:
    """Squared error between the first ``F`` codes and the labels, summed.

    ``learn_scale=True`` (the reference default): ``sum (scale codes - labels)^2`` with
    raw class indices and a learned scalar ``scale`` (initial 1). ``learn_scale=False``:
    ``sum (sigmoid(codes) - labels / label_sizes)^2`` (row by row; see the guide for the
    reference's broadcast in this branch).

    Args:
        codes: ``[M,L]``, ``L >= F``.
        labels: ``[M,F]`` class indices.
        label_sizes: ``[F]`` or ``[M,F]``.
        scale: the learned scale (used only with ``learn_scale``).
        learn_scale: which of the two forms.

    Returns:
        Scalar.

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.losses import supervised_l2
        >>> float(supervised_l2(jnp.ones((2, 2)), jnp.array([[1, 3], [0, 1]]), [4, 4]))
        5.0
    """
    codes, labels = _codes_labels(codes, labels, need_enough_codes=True)
    supervised = codes[:, : labels.shape[1]]
    if learn_scale:
        return jnp.sum(jnp.square(supervised * scale - labels.astype(jnp.float32)))
    return jnp.sum(jnp.square(jax.nn.sigmoid(supervised) - _normalised(labels, label_sizes)))


def supervised_cov(codes: ArrayLike, labels: ArrayLike) -> Array:
    """Sum of the squared off-diagonal entries of the codes-labels cross-covariance.

    ``C[l,f] = mean_n (codes[n,l] - mean codes[:,l]) (labels[n,f] - mean labels[:,f])``,
    ``[L,F]``; entries ``C[i,i]``, ``i < min(L,F)``, are excluded. Raw class indices.

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.losses import supervised_cov
        >>> eye = jnp.eye(2)
        >>> float(supervised_cov(eye, eye[::-1]))  # anti-correlated: off-diagonal +-0.25
        0.125
    """
    codes, labels = _codes_labels(codes, labels, need_enough_codes=False)
    labels = labels.astype(jnp.float32)
    centred_codes = codes - jnp.mean(codes, axis=0)
    centred_labels = labels - jnp.mean(labels, axis=0)
    covariance = centred_codes.T @ centred_labels / codes.shape[0]
    off_diagonal = 1.0 - jnp.eye(*covariance.shape, dtype=covariance.dtype)
    return jnp.sum(jnp.square(covariance * off_diagonal))


def supervised_embed(
    codes: ArrayLike,
    labels: ArrayLike,
    label_sizes: ArrayLike,
    *,
    embedding: ArrayLike,
    sigma: ArrayLike = 1.0,
) -> Array:
    """Softmax cross-entropy of each supervised code against embedded label values.

    For factor ``f``: logits ``-((codes[n,f] - embedding[f,v]) sigma_f)^2`` over the values
    ``v < label_sizes[f]`` (the others masked out), cross-entropy against
    ``labels[n,f]``, mean over ``n``; the sum over ``f``.

    Args:
        codes: ``[M,L]``, ``L >= F``.
        labels: ``[M,F]`` class indices.
        label_sizes: ``[F]`` or ``[M,F]``.
        embedding: ``[F,K]`` embedding of every value, ``K >= max(label_sizes)``.
        sigma: the temperature, a scalar or ``[F]``.

    Returns:
        Scalar.

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.losses import supervised_embed
        >>> codes, labels = jnp.zeros((3, 2)), jnp.zeros((3, 2), jnp.int32)
        >>> embedding = jnp.zeros((2, 4))  # every value at 0: uniform over the sizes
        >>> round(float(supervised_embed(codes, labels, [2, 4], embedding=embedding)), 4)
        2.0794
    """
    codes, labels = _codes_labels(codes, labels, need_enough_codes=True)
    num_factors = labels.shape[1]
    embedding = jnp.asarray(embedding, jnp.float32)
    if embedding.ndim != 2 or embedding.shape[0] != num_factors:
        raise ValueError(
            f"embedding must have shape [F, K] with F={num_factors}, got {embedding.shape}"
        )
    sizes = jnp.broadcast_to(_sizes(label_sizes, labels), labels.shape)
    sigma = jnp.broadcast_to(jnp.asarray(sigma, jnp.float32), (num_factors,))
    distance = (codes[:, :num_factors, None] - embedding[None]) * sigma[None, :, None]
    values = jnp.arange(embedding.shape[1])
    logits = jnp.where(values < sizes[..., None], -jnp.square(distance), -jnp.inf)
    log_p = jax.nn.log_softmax(logits, axis=-1)
    picked = jnp.take_along_axis(log_p, labels.astype(jnp.int32)[..., None], axis=-1)[..., 0]
    return -jnp.sum(jnp.mean(picked, axis=0))


# ---------------------------------------------------------- the regulariser table


class Regulariser(NamedTuple):
    """A supervised regulariser: its loss, its learned parameters and its options.

    Attributes:
        loss: ``loss(codes, labels, label_sizes, params, **options) -> scalar``.
        init: ``init(key, num_factors, max_size, **options) -> params`` (a dict, possibly
            empty): the learned parameters at their reference initial values.
        options: the names of its options (e.g. ``learn_scale``).
    """

    loss: Callable[..., Array]
    init: Callable[..., dict[str, Array]]
    options: tuple[str, ...] = ()


def _glorot_1d(key: PRNGKey, shape: tuple[int, ...], fan: int) -> Array:
    # TensorFlow's default variable initializer (glorot_uniform) with fan_in = fan_out =
    # fan: U(-sqrt(3 / fan), sqrt(3 / fan)).
    limit = np.sqrt(3.0 / fan)
    return jax.random.uniform(key, shape, jnp.float32, -limit, limit)


def _l2_loss(codes, labels, label_sizes, params, *, learn_scale=True):
    scale = params.get("scale", 1.0)
    return supervised_l2(codes, labels, label_sizes, scale=scale, learn_scale=learn_scale)


def _l2_init(key, num_factors, max_size, *, learn_scale=True):
    del key, num_factors, max_size
    return {"scale": jnp.ones((), jnp.float32)} if learn_scale else {}


def _embed_loss(
    codes, labels, label_sizes, params, *, sigma=1.0, learn_sigma=False, use_order=False
):
    if use_order:
        values = jax.lax.stop_gradient(params["values"])  # 0..K-1: carries K, not trained
        embedding = params["slope"][:, None] * values + params["bias"][:, None]
    else:
        embedding = params["embedding"]
    sigma_value = params["sigma"] if learn_sigma else sigma
    return supervised_embed(codes, labels, label_sizes, embedding=embedding, sigma=sigma_value)


def _embed_init(key, num_factors, max_size, *, sigma=1.0, learn_sigma=False, use_order=False):
    del sigma  # a fixed sigma is no parameter
    """Per factor: ``embedding [K]`` (or ``slope``, ``bias``), and ``sigma`` when learned."""
    keys = jax.random.split(key, 3)
    params: dict[str, Array] = {}
    if use_order:
        params["slope"] = _glorot_1d(keys[0], (num_factors,), 1)
        params["bias"] = _glorot_1d(keys[1], (num_factors,), 1)
        params["values"] = jnp.arange(max_size, dtype=jnp.float32)
    else:
        params["embedding"] = _glorot_1d(keys[0], (num_factors, max_size), max_size)
    if learn_sigma:
        params["sigma"] = _glorot_1d(keys[2], (num_factors,), 1)
    return params


def _no_params(key, num_factors, max_size):
    del key, num_factors, max_size
    return {}


#: Name -> :class:`Regulariser`: the names ``regulariser`` takes.
SUPERVISED_REGULARISERS: dict[str, Regulariser] = {
    "xent": Regulariser(lambda c, lab, s, p: supervised_xent(c, lab, s), _no_params),
    "l2": Regulariser(_l2_loss, _l2_init, ("learn_scale",)),
    "cov": Regulariser(lambda c, lab, s, p: supervised_cov(c, lab), _no_params),
    "embed": Regulariser(_embed_loss, _embed_init, ("sigma", "learn_sigma", "use_order")),
}


def _positive_number(value) -> bool:
    if isinstance(value, bool | str) or np.ndim(value) != 0:
        return False
    try:
        return bool(0 < float(value) < float("inf"))
    except (TypeError, ValueError):
        return False


def check_regulariser_options(name: str, **options: Any) -> dict[str, Any]:
    """Checks a regulariser name and its options; returns the options it takes.

    Args:
        name: a key of ``SUPERVISED_REGULARISERS``.
        **options: any of ``learn_scale`` (bool), ``sigma`` (a positive number),
            ``learn_sigma`` (bool), ``use_order`` (bool); those the regulariser does not
            take are dropped.

    Returns:
        The options of ``name``.

    Raises:
        ValueError: an unknown name or a bad option value.

    Examples:
        >>> from disentax.losses import check_regulariser_options
        >>> check_regulariser_options("l2", learn_scale=False, sigma=2.0)
        {'learn_scale': False}
        >>> check_regulariser_options("mse")
        Traceback (most recent call last):
        ...
        ValueError: regulariser must be one of ['cov', 'embed', 'l2', 'xent'], got 'mse'
    """
    if name not in SUPERVISED_REGULARISERS:
        raise ValueError(
            f"regulariser must be one of {sorted(SUPERVISED_REGULARISERS)}, got {name!r}"
        )
    for flag in ("learn_scale", "learn_sigma", "use_order"):
        if flag in options and not isinstance(options[flag], bool | np.bool_):
            raise ValueError(f"{flag} must be True or False, got {options[flag]!r}")
    sigma = options.get("sigma", 1.0)
    if not isinstance(sigma, jax.core.Tracer) and not _positive_number(sigma):
        raise ValueError(f"sigma must be a positive number, got {sigma!r}")
    return {k: v for k, v in options.items() if k in SUPERVISED_REGULARISERS[name].options}


def init_regulariser_params(
    key: PRNGKey, name: str, *, num_factors: int, max_size: int, **options: Any
) -> dict[str, Array]:
    """The learned parameters of regulariser ``name`` at their initial values.

    ``l2`` (``learn_scale``): ``{"scale": 1.0}``. ``embed``: ``{"embedding": [F,K]}``
    (``K = max_size``), or ``{"slope": [F], "bias": [F], "values": 0..K-1}`` with
    ``use_order`` (``values`` only carries ``K`` and receives no gradient), plus
    ``{"sigma": [F]}`` with ``learn_sigma``; drawn from TensorFlow's default initializer
    (Glorot uniform) as the reference. ``xent``, ``cov``: ``{}``.

    Args:
        key: typed PRNG key.
        name: a key of ``SUPERVISED_REGULARISERS``.
        num_factors: ``F``, the number of label columns.
        max_size: ``K``, the largest number of values of a label.
        **options: the regulariser's options (see :func:`check_regulariser_options`).

    Examples:
        >>> import jax
        >>> from disentax.losses import init_regulariser_params
        >>> params = init_regulariser_params(jax.random.key(0), "embed", num_factors=2, max_size=5)
        >>> params["embedding"].shape
        (2, 5)
    """
    options = check_regulariser_options(name, **options)
    return SUPERVISED_REGULARISERS[name].init(key, num_factors, max_size, **options)


def supervised_loss(
    name: str,
    codes: ArrayLike,
    labels: ArrayLike,
    label_sizes: ArrayLike,
    params: PyTree | None = None,
    **options: Any,
) -> Array:
    """Regulariser ``name`` of ``SUPERVISED_REGULARISERS`` on a labelled batch.

    Args:
        name: ``"xent"``, ``"l2"``, ``"cov"`` or ``"embed"``.
        codes: ``[M,L]`` posterior means of the labelled images.
        labels: ``[M,F]`` class indices.
        label_sizes: ``[F]`` or ``[M,F]``.
        params: its learned parameters (:func:`init_regulariser_params`); None for the
            initial values of a regulariser without random initialisation (``xent``,
            ``cov``, ``l2``).
        **options: its options (others are ignored).

    Examples:
        >>> import jax.numpy as jnp
        >>> from disentax.losses import supervised_loss
        >>> float(supervised_loss("l2", jnp.ones((2, 2)), jnp.ones((2, 2), jnp.int32), [2, 2]))
        0.0
    """
    options = check_regulariser_options(name, **options)
    entry = SUPERVISED_REGULARISERS[name]
    if params is None:
        if name == "embed":
            raise ValueError("the embed regulariser needs its params (init_regulariser_params)")
        params = entry.init(None, 0, 0, **options)
    return entry.loss(codes, labels, label_sizes, params, **options)


# --------------------------------------------------------------------------- annealers


def _fixed(gamma, step, iteration_threshold):
    del step, iteration_threshold
    return gamma


def _anneal(gamma, step, iteration_threshold):
    return jnp.minimum(gamma, gamma * step / iteration_threshold)


def _fine_tune(gamma, step, iteration_threshold):
    return gamma * jnp.clip(step - iteration_threshold, 0.0, 1.0)


#: Name -> ``fn(gamma, step, iteration_threshold)``: the weight of the supervised term.
ANNEALERS: dict[str, Callable[..., Array]] = {
    "fixed": _fixed,
    "anneal": _anneal,
    "fine_tune": _fine_tune,
}


def anneal(name: str, gamma: ArrayLike, step: ArrayLike, *, iteration_threshold) -> Array:
    """The supervised weight at ``step`` under annealer ``name``.

    ``fixed``: ``gamma``. ``anneal``: ``min(gamma, gamma step / iteration_threshold)``.
    ``fine_tune``: ``gamma min(1, max(0, step - iteration_threshold))``, i.e. 0 up to and
    including the threshold, ``gamma`` after it.

    Args:
        name: a key of ``ANNEALERS``.
        gamma: the supervised weight ``gamma_sup``.
        step: the training step (may be traced).
        iteration_threshold: the annealer's threshold (> 0).

    Examples:
        >>> from disentax.losses import anneal
        >>> [float(anneal("anneal", 100.0, s, iteration_threshold=100)) for s in (10, 150)]
        [10.0, 100.0]
        >>> [float(anneal("fine_tune", 100.0, s, iteration_threshold=100)) for s in (100, 101)]
        [0.0, 100.0]
    """
    if name not in ANNEALERS:
        raise ValueError(f"annealer must be one of {sorted(ANNEALERS)}, got {name!r}")
    gamma = jnp.asarray(gamma, jnp.float32)
    step = jnp.asarray(step, jnp.float32)
    return jnp.asarray(ANNEALERS[name](gamma, step, iteration_threshold), jnp.float32)
