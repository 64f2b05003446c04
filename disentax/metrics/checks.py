"""Input checks shared by the metric kernels, run before anything reaches XLA.

Shape, rank and dtype are known even under ``jax.jit``/``jax.vmap`` and are always
checked. Value checks (finite codes, non-negative factors, labels in range) need concrete
numbers and are skipped for tracers, so a jitted metric costs nothing extra per call.

Every failure is a ``ValueError`` or ``TypeError`` that names the argument and says what
was expected.
"""

from __future__ import annotations

import os
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from disentax.typing import Array, ArrayLike

__all__ = [
    "CLASS_INDEX_HINT",
    "check_codes",
    "check_finite_float32",
    "check_memory",
    "class_counts",
    "check_factors",
    "check_labels",
    "check_nonnegative",
    "check_num_bins",
    "check_positive_int",
    "check_same_num_columns",
    "check_same_num_points",
    "check_train_test",
    "is_concrete",
    "memory_budget",
    "single_valued_factors",
]

_MODEL_AXIS_HINT = (
    "; to score several models at once, jax.vmap the metric over the leading model axis "
    "(in_axes=None for an argument shared by all models)"
)


def is_concrete(x: ArrayLike) -> bool:
    """True when ``x`` holds numbers (not a tracer inside ``jit``/``vmap``/``grad``)."""
    return not isinstance(x, jax.core.Tracer)


def _as_array(x: ArrayLike, name: str) -> Array | np.ndarray:
    if isinstance(x, jax.Array | np.ndarray):
        return x
    if isinstance(x, list | tuple | int | float | np.generic):
        return np.asarray(x)
    raise TypeError(f"{name} must be an array, got {type(x).__name__}")


def _check_rank2(x, name: str, letters: str) -> None:
    if x.ndim != 2:
        hint = _MODEL_AXIS_HINT if x.ndim == 3 else ""
        raise ValueError(
            f"{name} must have rank 2 with shape {letters}, got shape {tuple(x.shape)}{hint}"
        )


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_finite_float32(values, name: str) -> None:
    """Checks concrete real ``values`` are finite, and still finite once cast to float32.

    The metrics compute in float32 (x64 is off in JAX), so a float64 entry beyond
    float32's range (``|x| > 3.4e38``) would silently become ``inf`` after the cast.
    Tracers are not checked.

    Raises:
      ValueError: naming ``name``, the count and the first offending entry.
    """
    if not is_concrete(values):
        return
    values = np.asarray(values)
    if values.dtype == np.bool_ or np.issubdtype(values.dtype, np.integer):
        return  # every int32/int64 value is finite in float32 (int64 rounds, < 1e19)
    finite = np.isfinite(values)
    if not finite.all():
        where = np.argwhere(~finite)[0].tolist()
        raise ValueError(
            f"{name} must be finite, found {int((~finite).sum())} NaN/inf entries "
            f"(first at index {tuple(where)})"
        )
    _check_float32_range(values, name)


def _check_float32_range(values: np.ndarray, name: str) -> None:
    """Raises if a finite float64 ``values`` entry would overflow float32."""
    if values.dtype.itemsize <= 4 or not np.issubdtype(values.dtype, np.floating):
        return
    beyond = np.abs(values) > _FLOAT32_MAX
    if beyond.any():
        where = np.argwhere(beyond)[0]
        raise ValueError(
            f"{name} must lie within float32's range (|x| <= {_FLOAT32_MAX:.4g}; the "
            f"metrics compute in float32), found {int(beyond.sum())} entries beyond it "
            f"(first at index {tuple(where.tolist())}: {values[tuple(where)]:.4g}); "
            "rescale them"
        )


def check_codes(codes: ArrayLike, *, name: str = "codes", min_points: int = 1) -> Array:
    """Checks a ``[N, L]`` real array of codes and returns it as float32.

    Args:
      codes: ``[N, L]`` real array (float, or int/bool which are converted).
      name: the argument name used in error messages.
      min_points: smallest accepted ``N``.

    Returns:
      ``[N, L]`` float32 array.

    Raises:
      TypeError: non-numeric or complex dtype.
      ValueError: wrong rank, too few points, no columns, or (concrete input only)
        NaN/inf entries or entries beyond float32's range (they would become inf).
    """
    codes = _as_array(codes, name)
    _check_rank2(codes, name, "[N, L]")
    dtype = np.dtype(codes.dtype)
    if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)) and (
        dtype != np.bool_
    ):
        raise TypeError(f"{name} must be a real floating array, got dtype {dtype}")
    if codes.shape[0] < min_points:
        raise ValueError(
            f"{name} must have at least {min_points} points (rows), got shape {codes.shape}"
        )
    if codes.shape[1] < 1:
        raise ValueError(f"{name} must have at least one code (column), got shape {codes.shape}")
    if is_concrete(codes):
        finite = np.isfinite(np.asarray(codes, dtype=np.float64))
        if not finite.all():
            rows, cols = np.nonzero(~finite)
            raise ValueError(
                f"{name} must be finite, found {rows.size} NaN/inf entries "
                f"(first at row {rows[0]}, column {cols[0]})"
            )
        _check_float32_range(np.asarray(codes), name)
    return jnp.asarray(codes, dtype=jnp.float32)


def check_factors(factors: ArrayLike, *, name: str = "factors") -> Array:
    """Checks a ``[N, F]`` array of non-negative integer factor values; returns int32.

    Concrete input comes back as a NumPy array (so it stays concrete inside a trace),
    traced input as a traced int32 array.

    Raises:
      TypeError: a non-integer dtype (floats are refused rather than silently truncated).
      ValueError: wrong rank, no points or factors, or (concrete input only) negative
        values or values that do not fit in int32.
    """
    factors = _as_array(factors, name)
    _check_rank2(factors, name, "[N, F]")
    dtype = np.dtype(factors.dtype)
    if not (np.issubdtype(dtype, np.integer) or dtype == np.bool_):
        raise TypeError(f"{name} must hold integer class indices (e.g. int32), got dtype {dtype}")
    if factors.shape[0] < 1 or factors.shape[1] < 1:
        raise ValueError(f"{name} must have at least one point and one factor, got {factors.shape}")
    if is_concrete(factors):
        values = np.asarray(factors)
        if values.size and values.min() < 0:
            col = int(np.nonzero((values < 0).any(axis=0))[0][0])
            raise ValueError(
                f"{name} must be non-negative class indices, column {col} has value "
                f"{int(values[:, col].min())}"
            )
        if values.size and values.max() > np.iinfo(np.int32).max:
            raise ValueError(f"{name} values must fit in int32, got max {values.max()}")
        # Stays a concrete (NumPy) array even inside a jit trace, so static sizes (the
        # number of classes) and degenerate factors can still be read from it.
        return values.astype(np.int32, copy=False)
    return jnp.asarray(factors, dtype=jnp.int32)


def check_labels(labels: ArrayLike, num_classes: int, *, name: str = "y") -> Array:
    """Checks a ``[N]`` integer label vector with values in ``[0, num_classes)``."""
    labels = _as_array(labels, name)
    if labels.ndim != 1:
        raise ValueError(f"{name} must have rank 1 with shape [N], got {tuple(labels.shape)}")
    dtype = np.dtype(labels.dtype)
    if not (np.issubdtype(dtype, np.integer) or dtype == np.bool_):
        raise TypeError(f"{name} must hold integer class indices, got dtype {dtype}")
    if not isinstance(num_classes, int | np.integer) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if is_concrete(labels):
        values = np.asarray(labels)
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(
                f"{name} must lie in [0, num_classes={num_classes}), "
                f"got values in [{values.min()}, {values.max()}]"
            )
    return jnp.asarray(labels, dtype=jnp.int32)


def check_same_num_points(*named: tuple[str, ArrayLike]) -> None:
    """Checks that every ``(name, array)`` pair has the same leading size ``N``."""
    sizes = {name: int(np.shape(x)[0]) for name, x in named}
    if len(set(sizes.values())) > 1:
        listing = ", ".join(f"{name} has {n}" for name, n in sizes.items())
        raise ValueError(f"arguments must have the same number of points (rows): {listing}")


def check_same_num_columns(*named: tuple[str, ArrayLike]) -> None:
    """Checks that every ``(name, array)`` pair has the same trailing size."""
    sizes = {name: int(np.shape(x)[-1]) for name, x in named}
    if len(set(sizes.values())) > 1:
        listing = ", ".join(f"{name} has {n}" for name, n in sizes.items())
        raise ValueError(f"arguments must have the same number of columns: {listing}")


def check_train_test(
    codes_train: ArrayLike,
    factors_train: ArrayLike,
    codes_test: ArrayLike,
    factors_test: ArrayLike,
    *,
    min_train_points: int = 1,
) -> tuple[Array, Array, Array, Array]:
    """Checks a train/test split of codes and factors; returns the four checked arrays.

    Each codes array is ``[N, L]`` and each factors array ``[N, F]``; codes and factors
    of one split have the same ``N``, and both splits the same ``L`` and ``F``.
    """
    codes_train = check_codes(codes_train, name="codes_train", min_points=min_train_points)
    codes_test = check_codes(codes_test, name="codes_test")
    factors_train = check_factors(factors_train, name="factors_train")
    factors_test = check_factors(factors_test, name="factors_test")
    check_same_num_points(("codes_train", codes_train), ("factors_train", factors_train))
    check_same_num_points(("codes_test", codes_test), ("factors_test", factors_test))
    check_same_num_columns(("codes_train", codes_train), ("codes_test", codes_test))
    check_same_num_columns(("factors_train", factors_train), ("factors_test", factors_test))
    return codes_train, factors_train, codes_test, factors_test


def check_num_bins(num_bins: int, num_points: int, *, name: str = "num_bins") -> None:
    """Checks a static bin count: a positive int no larger than the number of points."""
    if isinstance(num_bins, bool) or not isinstance(num_bins, int | np.integer):
        raise TypeError(f"{name} must be a static Python int, got {type(num_bins).__name__}")
    if num_bins < 1:
        raise ValueError(f"{name} must be >= 1, got {num_bins}")
    if num_points < num_bins:
        raise ValueError(
            f"{name}={num_bins} needs at least as many points, got only {num_points} points"
        )


def check_nonnegative(value, name: str) -> None:
    """Checks a hyperparameter that may be traced: ``>= 0`` when concrete."""
    if is_concrete(value) and not float(np.asarray(value)) >= 0.0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")


def check_positive_int(value, name: str) -> None:
    """Checks a static count (iterations, sweeps): a Python int ``>= 1``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be a static Python int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")


def single_valued_factors(factors: Array, *, metric: str, name: str = "factors") -> None:
    """Warns (concrete input) about factors with one value; raises if all are so.

    A factor that takes a single value has zero entropy and carries no information;
    metrics normalised by the factor entropy exclude it from their average.
    """
    if not is_concrete(factors):
        return
    values = np.asarray(factors)
    constant = np.nonzero((values == values[:1]).all(axis=0))[0]
    if constant.size == values.shape[1]:
        raise ValueError(
            f"every column of {name} takes a single value; {metric} is undefined "
            "(it needs at least one factor with two or more values)"
        )
    if constant.size:
        warnings.warn(
            f"{name} columns {constant.tolist()} take a single value and are excluded "
            f"from the {metric} average",
            stacklevel=3,
        )


def class_counts(num_classes, *factor_arrays) -> tuple[int, ...]:
    """Static number of classes per factor column: ``num_classes`` or read from the data.

    Args:
      num_classes: ``None`` (read ``max + 1`` per column from the concrete factors), an
        int (every factor), or a sequence with one int per factor.
      *factor_arrays: ``[N_i, F]`` factor arrays sharing the ``F`` columns (train, test).

    Returns:
      tuple of ``F`` ints.

    Raises:
      ValueError: ``num_classes`` missing while the factors are traced, or too small.
      TypeError: ``num_classes`` is not an int or a sequence of ints.
    """
    num_factors = factor_arrays[0].shape[1]
    concrete = all(is_concrete(f) for f in factor_arrays)
    observed = None
    if concrete:
        observed = np.max([np.max(np.asarray(f), axis=0) for f in factor_arrays], axis=0) + 1
    if num_classes is None:
        if not concrete:
            raise ValueError(
                "num_classes must be given (a static int, or one per factor, above every "
                "factor value) when the factors are traced (under jax.jit); it is read from "
                "the factors otherwise"
            )
        return tuple(int(k) for k in observed)
    if isinstance(num_classes, int | np.integer) and not isinstance(num_classes, bool):
        counts = (int(num_classes),) * num_factors
    elif isinstance(num_classes, tuple | list) and all(
        isinstance(k, int | np.integer) and not isinstance(k, bool) for k in num_classes
    ):
        counts = tuple(int(k) for k in num_classes)
        if len(counts) != num_factors:
            raise ValueError(
                f"num_classes needs one count per factor ({num_factors}), got {len(counts)}"
            )
    else:
        raise TypeError(f"num_classes must be a static int or tuple of ints, got {num_classes!r}")
    if observed is not None and np.any(observed > np.asarray(counts)):
        bad = int(np.argmax(observed > np.asarray(counts)))
        raise ValueError(
            f"num_classes={num_classes} but factor {bad} takes value {int(observed[bad]) - 1}"
        )
    return counts


CLASS_INDEX_HINT = (
    "factor values are class indices 0..K-1 (a class count read from the data is the "
    "largest value + 1): relabel sparse values, e.g. np.unique(column, "
    "return_inverse=True)[1], or pass fewer points"
)


def memory_budget() -> int:
    """Bytes a metric kernel may use: the default device's memory, else the host's RAM."""
    try:
        stats = jax.devices()[0].memory_stats() or {}
    except Exception:  # noqa: BLE001 - a backend without memory statistics
        stats = {}
    if stats.get("bytes_limit"):
        return int(stats["bytes_limit"])
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _format_bytes(num_bytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if num_bytes < 1024 or unit == "PiB":
            return f"{num_bytes:.3g} {unit}"
        num_bytes /= 1024
    raise AssertionError("unreachable")


def check_memory(num_bytes: float, *, what: str, cause: str) -> None:
    """Refuses, before anything is traced, a kernel whose working memory cannot fit.

    Args:
      num_bytes: the kernel's estimated peak working memory (its dominant arrays).
      what: the kernel, e.g. ``"sap"``.
      cause: the sizes and the argument that drive the estimate, and what to change.

    Raises:
      ValueError: ``num_bytes`` exceeds :func:`memory_budget`.
    """
    budget = memory_budget()
    if num_bytes > budget:
        raise ValueError(
            f"{what} would need about {_format_bytes(num_bytes)} of memory, more than the "
            f"{_format_bytes(budget)} of this machine: {cause}"
        )
