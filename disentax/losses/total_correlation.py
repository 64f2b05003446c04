"""Minibatch total-correlation estimators and the FactorVAE latent permutation.

The total correlation of the aggregate posterior ``q(z) = E_x q(z|x)`` is
``TC = KL(q(z) || prod_l q(z_l)) = E_q[log q(z) - sum_l log q(z_l)]``. Both estimators
evaluate every ``log q(z_i | x_j)`` of a batch (``[B,B,L]``) and replace the densities
by weighted minibatch sums (Chen et al. 2018, Section 3 and Appendix C):

* ``"mws"`` (minibatch weighted sampling): ``log q(z_i) ~ logsumexp_j log q(z_i|x_j) -
  log(N B)`` and likewise for each marginal, so the estimate carries the constant
  ``(L-1) log(N B)`` (``N`` the dataset size, ``B`` the batch size).
  disentanglement_lib (whose β-TCVAE the reference study trained) drops it;
  the authors' code keeps it. Here ``dataset_size=None`` drops it and an integer
  ``dataset_size`` adds it. The constant has no gradient.
* ``"mss"`` (minibatch stratified sampling): importance weights ``1/N`` for the
  sample's own posterior, ``(N-B+1)/(N(B-1))`` for one other member (here the next
  one, ``(i+1) mod B``) and ``1/(B-1)`` for the rest; they sum to one, so no constant is
  left. ``dataset_size=None`` is the limit ``N -> inf`` (own weight 0, all others
  ``1/(B-1)``): the right weights for a continuous data distribution.

References:
    Chen, Li, Grosse & Duvenaud, "Isolating Sources of Disentanglement in Variational
    Autoencoders", NeurIPS 2018.
    Kim & Mnih, "Disentangling by Factorising", ICML 2018 (permuted latents).
"""

import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from disentax.losses.divergence import gaussian_log_density
from disentax.typing import Array, ArrayLike, PRNGKey

#: Minibatch estimators of the aggregate posterior (Chen et al. 2018): weighted or
#: stratified sampling.
ESTIMATORS = ("mws", "mss")


def check_dataset_size(dataset_size, batch_size: int | None = None, estimator: str = "mws"):
    """Raises ValueError unless ``dataset_size`` is None or a usable positive integer."""
    if dataset_size is None:
        return
    if (
        isinstance(dataset_size, bool)
        or not isinstance(dataset_size, numbers.Integral)
        or dataset_size < 1
    ):
        raise ValueError(f"dataset_size must be None or a positive integer, got {dataset_size!r}")
    if estimator == "mss" and batch_size is not None and dataset_size < batch_size:
        raise ValueError(
            f"dataset_size must be >= the batch size {batch_size} for estimator='mss', "
            f"got {dataset_size}"
        )


def mss_log_weights(batch_size: int, dataset_size: int | None = None) -> np.ndarray:
    """``[B,B]`` log importance weights of minibatch stratified sampling (rows sum to 1).

    Row ``i``: ``1/N`` at ``j = i``, ``(N-B+1)/(N(B-1))`` at ``j = (i+1) mod B``, ``1/(B-1)``
    elsewhere; ``dataset_size=None`` gives the ``N -> inf`` limit.

    Examples:
        >>> import numpy as np
        >>> from disentax.losses import mss_log_weights
        >>> weights = np.exp(mss_log_weights(4, dataset_size=10))
        >>> weights[0].round(4).tolist()  # 1/N, (N-B+1)/(N(B-1)), then 1/(B-1)
        [0.1, 0.2333, 0.3333, 0.3333]
        >>> weights.sum(axis=1).round(6).tolist()
        [1.0, 1.0, 1.0, 1.0]
    """
    if batch_size < 2:
        raise ValueError(f"estimator='mss' needs a batch of at least 2, got {batch_size}")
    check_dataset_size(dataset_size, batch_size, "mss")
    b = batch_size
    w = np.full((b, b), -math.log(b - 1))
    rows = np.arange(b)
    if dataset_size is None:
        w[rows, rows] = -np.inf
    else:
        n = float(dataset_size)
        w[rows, (rows + 1) % b] = math.log(n - b + 1) - math.log(n * (b - 1))
        w[rows, rows] = -math.log(n)
    return w


def total_correlation(
    z: ArrayLike,
    mean: ArrayLike,
    logvar: ArrayLike,
    *,
    estimator: str = "mws",
    dataset_size: int | None = None,
) -> Array:
    """Minibatch estimate of the total correlation of ``q(z)``.

    Args:
        z: ``[B,L]`` samples, ``z_i ~ q(z|x_i)``.
        mean: ``[B,L]`` posterior means of the same batch.
        logvar: ``[B,L]`` posterior log-variances.
        estimator: ``"mws"`` or ``"mss"`` (see the module docstring).
        dataset_size: ``N``. For ``"mws"``: ``None`` omits the constant
            ``(L-1) log(N B)`` exactly as disentanglement_lib does; an integer includes it as
            the authors' code does. For ``"mss"``: the stratification weights use it;
            ``None`` means an infinite (continuous) data distribution.

    Returns:
        Scalar TC estimate in nats, averaged over the batch.

    Examples:
        A batch whose posteriors are all ``N(0, 1)`` (``B = 2``, ``L = 3``): ``"mws"``
        without ``dataset_size`` gives ``-(L-1) log B``; with it the constant
        ``(L-1) log(N B)`` is added; ``"mss"`` needs no constant.

        >>> import jax.numpy as jnp
        >>> from disentax.losses.total_correlation import total_correlation
        >>> z = mean = logvar = jnp.zeros((2, 3))
        >>> round(float(total_correlation(z, mean, logvar)), 4)  # -2 log 2
        -1.3863
        >>> round(float(total_correlation(z, mean, logvar, dataset_size=100)), 4)  # 2 log 100
        9.2103
        >>> round(float(total_correlation(z, mean, logvar, estimator="mss")), 4)
        0.0
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    z, mean, logvar = jnp.asarray(z), jnp.asarray(mean), jnp.asarray(logvar)
    if z.ndim != 2 or z.shape != mean.shape or z.shape != logvar.shape:
        raise ValueError(
            f"z, mean and logvar must all have shape [B, L], got {tuple(z.shape)}, "
            f"{tuple(mean.shape)} and {tuple(logvar.shape)}"
        )
    batch, num_latents = z.shape
    check_dataset_size(dataset_size, batch, estimator)
    # log q(z_il | x_j): [B (sample i), B (posterior j), L].
    log_qzx = gaussian_log_density(z[:, None, :], mean[None, :, :], logvar[None, :, :])
    if estimator == "mss":
        log_w = jnp.asarray(mss_log_weights(batch, dataset_size), log_qzx.dtype)
        log_qz = logsumexp(jnp.sum(log_qzx, axis=2) + log_w, axis=1)
        log_marginals = logsumexp(log_qzx + log_w[:, :, None], axis=1)
        return jnp.mean(log_qz - jnp.sum(log_marginals, axis=1))
    log_qz = logsumexp(jnp.sum(log_qzx, axis=2), axis=1)
    log_marginals = logsumexp(log_qzx, axis=1)
    tc = jnp.mean(log_qz - jnp.sum(log_marginals, axis=1))
    if dataset_size is not None:
        tc = tc + (num_latents - 1) * math.log(float(dataset_size) * batch)
    return tc


def permute_dims(key: PRNGKey, z: ArrayLike) -> Array:
    """Permutes each latent column independently across the batch (FactorVAE).

    Samples of the permuted batch follow (approximately) the product of the marginals
    ``prod_l q(z_l)``: each column keeps its multiset of values while dependence between
    columns is broken.

    Args:
        key: PRNG key.
        z: ``[N,L]``.

    Returns:
        ``[N,L]``; column ``l`` is a uniformly random permutation of ``z[:, l]``.

    Examples:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> from disentax.losses import permute_dims
        >>> z = jnp.arange(8.0).reshape(4, 2)
        >>> permuted = permute_dims(jax.random.key(0), z)
        >>> permuted.shape
        (4, 2)
        >>> bool((jnp.sort(permuted, axis=0) == z).all())  # each column keeps its values
        True
    """
    z = jnp.asarray(z)
    if z.ndim != 2:
        raise ValueError(f"z must have shape [N, L], got {tuple(z.shape)}")
    order = jnp.argsort(jax.random.uniform(key, z.shape), axis=0)
    return jnp.take_along_axis(z, order, axis=0)
