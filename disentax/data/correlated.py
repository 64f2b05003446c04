"""Correlated factors: any ground-truth dataset with chosen factor pairs made dependent.

Träuble et al. (ICML 2021) train on data whose factors are not independent: a chosen pair
``(c1, c2)`` is drawn from

    p(c1, c2) ∝ exp(−(c1 − α c2)² / (2 σ²))

on the *normalised* factor values (class index ``k`` of a factor with ``K`` values is
``k / (K − 1)``, so each factor spans [0, 1]); every other factor stays uniform and
independent. ``σ`` is the strength (smaller: stronger), ``α`` the slope; ``σ = ∞`` is the
independent dataset.

:class:`Correlated` wraps any :class:`~disentax.data.GroundTruthData`: ``observations``
and everything else are the wrapped dataset's; only ``sample_factors`` changes. The pair
is drawn *exactly* from the distribution above restricted to the discrete grid: one
categorical draw over the ``K1 × K2`` joint table of the pair (no rejection, no
approximation). The wrapper is a pytree whose only child is the wrapped dataset (its
arrays stay arguments of a jitted step; the pairs are static), so a procedural dataset is
still sampled inside the train step.

Several pairs may be correlated at once; they must be disjoint (a factor in two pairs
would need the joint of three factors, which the paper does not use).

References:
  Träuble, Creager, Kilbertus, Locatello, Dittadi, Goyal, Schölkopf, Bauer. On
  Disentangled Representations Learned from Correlated Data. ICML 2021.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from disentax.data.ground_truth import GroundTruthData, check_key, check_num
from disentax.typing import Array, ArrayLike, PRNGKey

__all__ = ["Correlated", "CorrelatedPair", "correlate", "parse_correlations"]


class CorrelatedPair(NamedTuple):
    """One correlated pair: factor indices (or names before :func:`correlate`), α and σ.

    Attributes:
      first: the factor ``c1`` (an index, or a name given to :func:`correlate`).
      second: the factor ``c2``.
      alpha: the slope ``α`` (finite).
      sigma: the strength ``σ > 0``; ``inf`` leaves the pair independent.
    """

    first: Any
    second: Any
    alpha: float = 1.0
    sigma: float = 0.2


def _factor_index(dataset, factor, what: str) -> int:
    names = tuple(dataset.factor_names)
    if isinstance(factor, str):
        if factor not in names:
            raise ValueError(
                f"{what} names factor {factor!r}, which the dataset lacks; its factors: "
                f"{', '.join(names)}"
            )
        return names.index(factor)
    if isinstance(factor, bool) or not isinstance(factor, int) or not 0 <= factor < len(names):
        raise ValueError(
            f"{what}: a factor must be a name or an index in [0, {len(names) - 1}], got "
            f"{factor!r}; the dataset's factors: {', '.join(names)}"
        )
    return int(factor)


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"{what} must be a number, got {value!r}") from None
    return float(value)


def _check_pair(dataset, pair, what: str) -> CorrelatedPair:
    if not isinstance(pair, CorrelatedPair):
        if not isinstance(pair, tuple | list) or len(pair) != 4:
            raise ValueError(f"{what} must be (factor, factor, alpha, sigma), got {pair!r}")
        pair = CorrelatedPair(*pair)
    first = _factor_index(dataset, pair.first, what)
    second = _factor_index(dataset, pair.second, what)
    if first == second:
        raise ValueError(
            f"{what} names factor {dataset.factor_names[first]!r} twice; a pair needs two "
            "different factors"
        )
    alpha = _number(pair.alpha, f"{what}: alpha")
    sigma = _number(pair.sigma, f"{what}: sigma")
    if not math.isfinite(alpha):
        raise ValueError(f"{what}: alpha must be a finite number, got {alpha}")
    if math.isnan(sigma) or sigma <= 0:
        raise ValueError(f"{what}: sigma must be > 0 (inf: independent), got {sigma}")
    return CorrelatedPair(first, second, alpha, sigma)


def pair_logits(size_first: int, size_second: int, alpha: float, sigma: float) -> Array:
    """``[K1, K2]`` unnormalised log-probabilities ``−(c1 − α c2)² / 2σ²`` on the grid.

    Class indices are normalised to [0, 1] (``k / (K − 1)``; a single value is 0).

    Examples:
      >>> from disentax.data.correlated import pair_logits
      >>> pair_logits(2, 2, 1.0, 1.0).tolist()  # (0 - 0)², (0 - 1)², (1 - 0)², (1 - 1)²
      [[-0.0, -0.5], [-0.5, -0.0]]
    """
    c1 = jnp.arange(size_first, dtype=jnp.float32) / max(size_first - 1, 1)
    c2 = jnp.arange(size_second, dtype=jnp.float32) / max(size_second - 1, 1)
    diff = c1[:, None] - alpha * c2[None, :]
    return -(diff * diff) / (2.0 * sigma * sigma)


@dataclasses.dataclass(frozen=True, eq=False)
class Correlated:
    """A dataset whose ``sample_factors`` draws the given pairs of factors correlated.

    Build it with :func:`correlate` (which checks the pairs); ``observations``, the factor
    grid and every other attribute are those of ``base``.

    Attributes:
      base: the wrapped :class:`~disentax.data.GroundTruthData` (the independent data).
      pairs: checked :class:`CorrelatedPair` s with factor indices; pairs with ``σ = ∞``
        are dropped, so without finite pairs ``sample_factors`` is ``base``'s, draw for
        draw.

    Examples:
      >>> import jax
      >>> from disentax.data import Identity, correlate
      >>> data = correlate(Identity((8, 8, 3)), [("factor_0", "factor_1", 1.0, 0.05)])
      >>> factors = data.sample_factors(jax.random.key(0), 1000)
      >>> bool(abs(factors[:, 0] - factors[:, 1]).max() <= 2)  # σ = 0.05: nearly equal
      True
    """

    base: Any
    pairs: tuple[CorrelatedPair, ...] = ()

    # -- the wrapped dataset's attributes -------------------------------------------
    @property
    def factor_names(self) -> tuple[str, ...]:
        """The wrapped dataset's factor names."""
        return tuple(self.base.factor_names)

    @property
    def factor_sizes(self) -> tuple[int, ...]:
        """The wrapped dataset's factor sizes."""
        return tuple(self.base.factor_sizes)

    @property
    def observation_shape(self) -> tuple[int, ...]:
        """The wrapped dataset's image shape."""
        return tuple(self.base.observation_shape)

    @property
    def takes_key(self) -> bool:
        """Whether the wrapped dataset's ``observations`` take a key."""
        return bool(getattr(self.base, "takes_key", False))

    def __getattr__(self, name: str):
        # Anything else (name, factor_values, factor_space, host_only, ...) is base's.
        if name.startswith("__") or name in ("base", "pairs"):
            raise AttributeError(name)
        return getattr(self.base, name)

    def observations(self, factors: ArrayLike, key: PRNGKey | None = None) -> Array:
        """The wrapped dataset's images of ``factors`` (``key`` only if it takes one)."""
        if key is None:
            return self.base.observations(factors)
        return self.base.observations(factors, key=key)

    # -- the correlated draw ---------------------------------------------------------
    def sample_factors(self, key: PRNGKey, num: int) -> Array:
        """``[num, F]`` int32 factors: the pairs correlated, the others as ``base`` draws.

        Jittable. Each pair's columns are replaced by an exact draw from its joint table
        (:func:`pair_logits`); the other columns are the wrapped dataset's draw.
        """
        if not self.pairs:
            return self.base.sample_factors(key, num)
        check_key(key)
        num = check_num(num)
        key_base, key_pairs = jax.random.split(key)
        factors = self.base.sample_factors(key_base, num)
        sizes = self.factor_sizes
        for i, pair in enumerate(self.pairs):
            k1, k2 = sizes[pair.first], sizes[pair.second]
            logits = pair_logits(k1, k2, pair.alpha, pair.sigma).reshape(-1)
            flat = jax.random.categorical(jax.random.fold_in(key_pairs, i), logits, shape=(num,))
            factors = factors.at[:, pair.first].set((flat // k2).astype(jnp.int32))
            factors = factors.at[:, pair.second].set((flat % k2).astype(jnp.int32))
        return factors

    def joint(self, index: int = 0) -> Array:
        """``[K1, K2]`` exact probabilities of pair ``index`` (rows: its first factor).

        Examples:
          >>> from disentax.data import Identity, correlate
          >>> data = correlate(Identity((2, 2)), [(0, 1, 1.0, 1e-3)])
          >>> data.joint().round(3).tolist()  # all mass on c1 = c2
          [[0.5, 0.0], [0.0, 0.5]]
        """
        pair = self.pairs[index]
        logits = pair_logits(
            self.factor_sizes[pair.first], self.factor_sizes[pair.second], pair.alpha, pair.sigma
        )
        return jax.nn.softmax(logits.reshape(-1)).reshape(logits.shape)

    def describe(self) -> dict:
        """JSON-ready description: ``distribution`` and the pairs by factor name.

        Examples:
          >>> from disentax.data import Identity, correlate
          >>> correlate(Identity((2, 3)), [(0, 1, 1.0, 0.2)]).describe()["pairs"]
          [{'factors': ['factor_0', 'factor_1'], 'alpha': 1.0, 'sigma': 0.2}]
        """
        names = self.factor_names
        pairs = [
            {"factors": [names[p.first], names[p.second]], "alpha": p.alpha, "sigma": p.sigma}
            for p in self.pairs
        ]
        return {"distribution": "correlated" if pairs else "independent", "pairs": pairs}


def _flatten(data: Correlated):
    return (data.base,), data.pairs


def _unflatten(pairs, children):
    return Correlated(children[0], pairs)


jax.tree_util.register_pytree_node(Correlated, _flatten, _unflatten)


def correlate(dataset: GroundTruthData, pairs) -> Correlated:
    """``dataset`` with the factor ``pairs`` correlated as in Träuble et al. (2021).

    Args:
      dataset: any :class:`~disentax.data.GroundTruthData`.
      pairs: a sequence of ``(factor, factor, alpha, sigma)`` (or :class:`CorrelatedPair`);
        a factor is a name of ``dataset.factor_names`` or an index. ``sigma = inf``
        leaves that pair independent.

    Returns:
      The :class:`Correlated` dataset.

    Raises:
      ValueError: a pair names a factor the dataset lacks or the same factor twice, a
        factor appears in two pairs, ``sigma <= 0`` or NaN, or ``alpha`` is not finite.
      TypeError: ``dataset`` does not follow the protocol, or alpha/sigma are not numbers.

    Examples:
      >>> from disentax.data import DSprites, correlate
      >>> correlate(DSprites(), [("posX", "posY", 1.0, 0.2)]).pairs
      (CorrelatedPair(first=3, second=4, alpha=1.0, sigma=0.2),)
      >>> correlate(DSprites(), [("posX", "posX", 1.0, 0.2)])
      Traceback (most recent call last):
      ...
      ValueError: correlations[0] names factor 'posX' twice; a pair needs two different factors
    """
    if not isinstance(dataset, GroundTruthData):
        raise TypeError(
            f"dataset must follow disentax.data.GroundTruthData, got {type(dataset).__name__}"
        )
    if isinstance(pairs, CorrelatedPair) or not isinstance(pairs, tuple | list):
        raise TypeError(f"pairs must be a list of (factor, factor, alpha, sigma), got {pairs!r}")
    checked, used = [], {}
    for i, pair in enumerate(pairs):
        pair = _check_pair(dataset, pair, f"correlations[{i}]")
        for factor in (pair.first, pair.second):
            if factor in used:
                raise ValueError(
                    f"correlations[{i}]: factor {dataset.factor_names[factor]!r} is already in "
                    f"correlations[{used[factor]}]; correlated pairs must be disjoint"
                )
            used[factor] = i
        if math.isfinite(pair.sigma):
            checked.append(pair)
    return Correlated(dataset, tuple(checked))


def parse_correlations(text: str) -> list[tuple[str, str, float, float]]:
    """Pairs from a config string ``"factorA,factorB,alpha,sigma[;...]"``.

    Empty (or blank) text means no pairs. ``sigma`` may be ``inf``.

    Raises:
      ValueError: an entry without exactly four comma-separated fields, or a field that
        is not a number where alpha and sigma belong.

    Examples:
      >>> from disentax.data import parse_correlations
      >>> parse_correlations("posX,posY,1,0.2; shape,scale,-1,inf")
      [('posX', 'posY', 1.0, 0.2), ('shape', 'scale', -1.0, inf)]
    """
    if not isinstance(text, str):
        raise TypeError(
            f"correlations must be a string 'factorA,factorB,alpha,sigma', got {text!r}"
        )
    pairs = []
    for i, entry in enumerate(e for e in text.split(";") if e.strip()):
        fields = [f.strip() for f in entry.split(",")]
        if len(fields) != 4:
            raise ValueError(
                f"correlations entry {i} {entry.strip()!r} must be 'factorA,factorB,alpha,sigma'"
            )
        try:
            alpha, sigma = float(fields[2]), float(fields[3])
        except ValueError:
            raise ValueError(
                f"correlations entry {i} {entry.strip()!r}: alpha and sigma must be numbers"
            ) from None
        pairs.append((fields[0], fields[1], alpha, sigma))
    return pairs
