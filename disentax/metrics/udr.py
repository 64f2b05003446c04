"""Unsupervised Disentanglement Ranking (UDR; Duan et al. 2020), as in disentanglement_lib.

Given ``S`` models encoding the same ``N`` inputs (``codes [S, N, L]``) and their mean
per-latent KL to the prior (``kl [S, L]``): each model's codes are standardised
(``ddof=0``; a constant code is left at 0) and multiplied by ``kl > 0.01``; for every
ordered pair ``(a, b)``, ``a != b``, a correlation matrix ``R [L, L]`` between model
``a``'s latents (rows) and model ``b``'s (columns) is the absolute Lasso coefficient
(``Lasso(alpha=0.1)`` regressing ``b``'s codes on ``a``'s) or the absolute Spearman
correlation; rows and columns of latents with ``kl <= kl_threshold`` are dropped; then
``d[a, b] = (mean_cols max_r R^2 / sum_r R + mean_rows max_c R^2 / sum_c R) / 2``
(0/0 and NaN entries count as 0, as ``np.nan_to_num``), and model ``b``'s score is the
median over ``a != b`` of ``d[a, b]``.

Differences from the reference, deliberate: the Lasso is ``estimators.fit_lasso`` (cyclic
coordinate descent, fixed sweeps) rather than scikit-learn's tolerance-stopped solver;
a pair in which a model has no latent above the threshold scores 0 instead of NaN.

References:
  Duan et al., "Unsupervised Model Selection for Variational Disentangled Representation
  Learning", ICLR 2020.
  disentanglement_lib (GitHub) ``evaluation/udr/metrics/udr.py``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from disentax.metrics.checks import check_finite_float32
from disentax.metrics.estimators.linear import lasso_coordinate_descent
from disentax.metrics.estimators.ranks import average_ranks
from disentax.typing import Array, ArrayLike

__all__ = ["relative_strength_disentanglement", "udr"]

_ACTIVE_KL = 0.01  # hard-coded in the reference, separate from kl_threshold


def relative_strength_disentanglement(
    correlation: Array, row_mask: Array | None = None, col_mask: Array | None = None
) -> Array:
    """The pairwise UDR score of a non-negative ``[La, Lb]`` correlation matrix.

    Rows/columns outside the masks are ignored (the reference slices them away).
    Returns 0 when no row or no column is left.

    Examples:
      >>> import jax.numpy as jnp
      >>> from disentax.metrics import relative_strength_disentanglement
      >>> round(float(relative_strength_disentanglement(jnp.eye(3))), 2)  # one-to-one latents
      1.0
      >>> round(float(relative_strength_disentanglement(jnp.ones((3, 3)))), 2)  # all mixed
      0.33
    """
    rows, cols = correlation.shape
    row_mask = jnp.ones((rows,), bool) if row_mask is None else row_mask
    col_mask = jnp.ones((cols,), bool) if col_mask is None else col_mask
    keep = row_mask[:, None] & col_mask[None, :]
    nan = jnp.isnan(correlation) & keep
    values = jnp.where(keep & ~nan, correlation, 0.0)

    def directional(axis, mask):
        peak = values.max(axis=axis)
        total = values.sum(axis=axis)
        ratio = jnp.where(total > 0, peak**2 / jnp.where(total > 0, total, 1.0), 0.0)
        ratio = jnp.where(nan.any(axis=axis), 0.0, ratio)
        return jnp.sum(jnp.where(mask, ratio, 0.0)) / jnp.maximum(jnp.sum(mask), 1)

    score = 0.5 * (directional(0, col_mask) + directional(1, row_mask))
    return jnp.where(row_mask.any() & col_mask.any(), score, 0.0)


def udr(
    codes: ArrayLike,
    kl: ArrayLike,
    *,
    correlation: str = "lasso",
    kl_threshold: float = 0.01,
    filter_low_kl: bool = True,
    alpha: float = 0.1,
    num_sweeps: int = 300,
) -> dict[str, Array]:
    """UDR model scores for ``S`` models evaluated on the same inputs.

    Args:
      codes: ``[S, N, L]`` codes (e.g. posterior means) of ``S >= 2`` models.
      kl: ``[S, L]`` mean KL divergence to the prior per latent and model.
      correlation: static, ``"lasso"`` or ``"spearman"``.
      kl_threshold: latents with ``kl <= kl_threshold`` are dropped from each pair.
      filter_low_kl: static; drop those latents (else keep every latent).
      alpha: Lasso L1 strength.
      num_sweeps: static coordinate-descent sweeps of the Lasso.

    Returns:
      ``{"model_scores": [S], "pairwise": [S, S]}``; ``pairwise[a, b]`` scores model
      ``a``'s latents against model ``b``'s (diagonal 0), ``model_scores[b]`` is the
      median of column ``b`` without the diagonal.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from disentax.metrics.udr import udr
      >>> z = jax.random.normal(jax.random.key(0), (300, 3))
      >>> codes = jnp.stack([z, z[:, ::-1]])  # [S=2, N, L]: model 1 permutes model 0's latents
      >>> scores = udr(codes, jnp.ones((2, 3)))
      >>> scores["pairwise"].shape, bool(scores["model_scores"].min() > 0.8)
      ((2, 2), True)
    """
    if correlation not in ("lasso", "spearman"):
        raise ValueError(f"correlation must be 'lasso' or 'spearman', got {correlation!r}")
    for name, value in (("codes", codes), ("kl", kl)):
        check_finite_float32(value, name)
    codes_arr, kl_arr = jnp.asarray(codes), jnp.asarray(kl)
    if codes_arr.ndim != 3:
        raise ValueError(f"codes must have shape [S, N, L] (models first), got {codes_arr.shape}")
    if kl_arr.shape != (codes_arr.shape[0], codes_arr.shape[2]):
        raise ValueError(
            f"kl must have shape [S, L] = {(codes_arr.shape[0], codes_arr.shape[2])}, "
            f"got {kl_arr.shape}"
        )
    if codes_arr.shape[0] < 2 or codes_arr.shape[1] < 2:
        raise ValueError(f"codes needs at least 2 models and 2 points, got {codes_arr.shape}")
    if not jnp.issubdtype(codes_arr.dtype, jnp.floating):
        raise TypeError(f"codes must be a float array, got dtype {codes_arr.dtype}")
    return _udr(
        codes_arr.astype(jnp.float32),
        kl_arr.astype(jnp.float32),
        jnp.float32(kl_threshold),
        jnp.float32(alpha),
        correlation=correlation,
        filter_low_kl=bool(filter_low_kl),
        num_sweeps=int(num_sweeps),
    )


@functools.partial(jax.jit, static_argnames=("correlation", "filter_low_kl", "num_sweeps"))
def _udr(codes, kl, kl_threshold, alpha, *, correlation, filter_low_kl, num_sweeps):
    num_models, _, num_latents = codes.shape
    std = codes.std(axis=1, keepdims=True)
    scaled = (codes - codes.mean(axis=1, keepdims=True)) / jnp.where(std > 0, std, 1.0)
    scaled = scaled * (kl > _ACTIVE_KL)[:, None, :]
    masks = kl > kl_threshold if filter_low_kl else jnp.ones_like(kl, bool)

    if correlation == "spearman":
        # Ranks once per model (not once per pair), centred, with their column norms:
        # the terms of spearman_correlation(scaled[a], scaled[b]).
        ranks = jax.lax.map(average_ranks, scaled)  # [S, N, L]
        ranks = ranks - ranks.mean(axis=1, keepdims=True)
        norms = jnp.sqrt(jnp.sum(ranks * ranks, axis=1))  # [S, L]

    def pair(a, b):
        if correlation == "lasso":
            params = lasso_coordinate_descent(scaled[a], scaled[b], alpha, num_sweeps=num_sweeps)
            matrix = jnp.abs(params.weights)  # [L_a, L_b]
        else:
            cov = jnp.matmul(ranks[a].T, ranks[b], precision="highest")
            matrix = jnp.abs(cov / (norms[a][:, None] * norms[b][None, :]))
        return relative_strength_disentanglement(matrix, masks[a], masks[b])

    index = jnp.arange(num_models)
    # One model a at a time (lax.map) against all b: memory O(S N L), not O(S^2 N L).
    pairwise = jax.lax.map(lambda a: jax.vmap(lambda b: pair(a, b))(index), index)
    off_diagonal = ~jnp.eye(num_models, dtype=bool)
    pairwise = jnp.where(off_diagonal, pairwise, 0.0)
    column = jnp.where(off_diagonal, pairwise, jnp.nan)
    del num_latents
    return {"model_scores": jnp.nanmedian(column, axis=0), "pairwise": pairwise}
