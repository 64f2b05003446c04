"""MIG (histogram form), the sampled MIG and the MIG of Chen et al.'s published protocol.

Oracles: ``reference_mig`` follows disentanglement_lib ``mig._compute_mig`` line by line
(its ``_histogram_discretize``, the ``reference_bins`` fixture, and
``sklearn.metrics.mutual_info_score``); ``reference_mig_sampled`` is
Chen et al.'s estimator (their ``metric_helpers/mi_metric.py`` definition) written in
float64 NumPy on the same random draws; ``unchunked_mig_sampled`` is the kernel as it was
before chunking (one ``[S, N, F]`` mask), kept to show the chunked one computes the same
numbers; ``reference_mig_chen2018`` follows Chen et al.'s ``disentanglement_metrics.py``
(``estimate_entropies`` per value, averaged over values) in float64 NumPy on the kernel's
draws. Property tests are disentanglement_lib's ``mig_test.py``: identity codes -> 0.9-1,
noise -> ~0, duplicated codes -> ~0.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from disentax.metrics import mig, mig_chen2018, mig_sampled
from disentax.metrics.mig import _mig_sampled, mig_from_mutual_info
from disentax.metrics.mig_chen2018 import CHEN2018_FACTORS, _mig_chen2018, chen2018_factor_columns


def reference_mig(binned, factors):
    """MIG of the histogram-binned codes ``binned [N, L]``."""
    m = np.array([[mutual_info_score(f, b) for f in factors.T] for b in binned.T])
    entropy = np.array([mutual_info_score(f, f) for f in factors.T])
    top = np.sort(m, axis=0)[::-1]
    return np.mean((top[0] - top[1]) / entropy)


def reference_mig_sampled(key, mean, logvar, factors, num_samples):
    # Same draws as the kernel (documented in its docstring), float64 NumPy estimator.
    pick_key, noise_key = jax.random.split(key)
    picks = np.asarray(jax.random.permutation(pick_key, mean.shape[0])[:num_samples])
    noise = np.asarray(jax.random.normal(noise_key, (num_samples, mean.shape[1])), np.float64)
    mean, logvar = mean.astype(np.float64), logvar.astype(np.float64)
    z = mean[picks] + np.exp(0.5 * logvar[picks]) * noise
    log_q = -0.5 * (
        np.log(2 * np.pi) + logvar[None] + (z[:, None] - mean[None]) ** 2 / np.exp(logvar[None])
    )  # [S, N, L]
    q = np.exp(log_q)
    h_z = -np.mean(np.log(q.mean(axis=1)), axis=0)  # [L]
    mi = np.zeros((mean.shape[1], factors.shape[1]))
    for k in range(factors.shape[1]):
        same = factors[picks, k][:, None] == factors[None, :, k]  # [S, N]
        conditional = (q * same[:, :, None]).sum(1) / same.sum(1)[:, None]
        mi[:, k] = h_z + np.mean(np.log(conditional), axis=0)
    mi = np.maximum(mi, 0)
    entropy = np.array([mutual_info_score(f, f) for f in factors.T])
    top = np.sort(mi, axis=0)[::-1]
    return np.mean((top[0] - top[1]) / entropy)


@pytest.fixture(scope="module")
def data(random_factors):
    rng = np.random.default_rng(0)
    n = 2000
    sizes = np.array([3, 6, 10, 8])
    factors = random_factors(rng, n, sizes)
    mixing = np.eye(4, 6) + 0.3 * rng.normal(size=(4, 6))
    codes = (factors / sizes) @ mixing + 0.2 * rng.normal(size=(n, 6))
    return codes.astype(np.float32), factors


def test_mig_matches_reference(data, reference_bins):
    codes, factors = data
    expected = reference_mig(reference_bins(codes), factors)
    np.testing.assert_allclose(float(mig(codes, factors)), expected, atol=1e-5)
    expected = reference_mig(reference_bins(codes, 7), factors)
    np.testing.assert_allclose(float(mig(codes, factors, num_bins=7)), expected, atol=1e-5)


def test_mig_reference_properties(data, identity_codes):
    # Every array has the fixture's shape [2000, 6], so one compiled program serves all.
    _, factors = data
    rng = np.random.default_rng(1)
    identity = identity_codes(factors, 2)
    assert 0.9 <= float(mig(identity, factors)) <= 1.0  # constant codes carry no information
    noise = rng.normal(size=identity.shape).astype(np.float32)
    assert 0.0 <= float(mig(noise, factors)) <= 0.1
    duplicated = np.hstack([identity[:, :3], identity[:, :3]])
    assert 0.0 <= float(mig(duplicated, factors)) <= 0.1


def test_single_valued_factor_is_excluded_and_reported(data, reference_bins):
    codes, factors = data
    with_constant = factors.copy()
    with_constant[:, 2] = 4
    with pytest.warns(UserWarning, match=r"columns \[2\].*excluded"):
        value = float(mig(codes, with_constant))
    expected = reference_mig(reference_bins(codes), factors[:, [0, 1, 3]])
    np.testing.assert_allclose(value, expected, atol=1e-5)
    with pytest.raises(ValueError, match="single value"):
        mig(codes, np.zeros_like(factors))


def test_mig_bad_input(data):
    codes, factors = data
    with pytest.raises(ValueError, match="at least 2 codes"):
        mig(codes[:, :1], factors)
    with pytest.raises(ValueError, match="same number of points"):
        mig(codes[:-1], factors)
    with pytest.raises(ValueError, match="vmap"):
        mig(np.stack([codes, codes]), factors)
    with pytest.raises(TypeError, match="integer"):
        mig(codes, factors.astype(np.float32))


def test_mig_sampled_matches_reference_and_properties(data):
    codes, factors = data
    n = 600
    key = jax.random.key(3)
    logvar = np.log(np.full((n, 6), 0.05, np.float32))
    value = float(mig_sampled(key, codes[:n], logvar, factors[:n], num_samples=200))
    expected = reference_mig_sampled(key, codes[:n], logvar, factors[:n], 200)
    np.testing.assert_allclose(value, expected, atol=2e-4)
    # Precise, factor-aligned posteriors: a high MIG; broad posteriors of codes that
    # ignore x: ~0. (Sharp posteriors on noise codes would not do: with finite N the
    # estimator then gives every code I ~ H(v) -- the posteriors must overlap.)
    rng = np.random.default_rng(4)
    aligned = np.hstack([factors[:n] / factors[:n].max(0), rng.normal(size=(n, 2))])
    aligned = aligned.astype(np.float32)
    logvar = np.log(np.array([1e-4] * 4 + [1.0] * 2, np.float32)) * np.ones((n, 1), np.float32)
    assert float(mig_sampled(key, aligned, logvar, factors[:n], num_samples=200)) > 0.8
    noise = rng.normal(size=(n, 6)).astype(np.float32)
    broad = np.zeros((n, 6), np.float32)
    assert float(mig_sampled(key, noise, broad, factors[:n], num_samples=200)) < 0.1
    with pytest.raises(ValueError, match="num_samples"):
        mig_sampled(key, aligned, logvar, factors[:n], num_samples=n + 1)


@jax.jit
def unchunked_mig_sampled(key, mean, logvar, factors):
    """The kernel before chunking (float32 JAX, an ``[S, N, F]`` mask; S = 300)."""
    from disentax.metrics.information import entropies

    n = mean.shape[0]
    pick_key, noise_key = jax.random.split(key)
    picks = jax.random.permutation(pick_key, n)[:300]
    noise = jax.random.normal(noise_key, (300, mean.shape[1]))
    z = mean[picks] + jnp.exp(0.5 * logvar[picks]) * noise
    same = factors[picks][:, None, :] == factors[None, :, :]
    counts = same.sum(axis=1).astype(jnp.float32)

    def per_latent(args):
        z_j, mean_j, logvar_j = args
        log_q = -0.5 * (
            jnp.log(2 * jnp.pi)
            + logvar_j[None]
            + (z_j[:, None] - mean_j[None]) ** 2 * jnp.exp(-logvar_j)[None]
        )
        shift = log_q.max(axis=1, keepdims=True)
        density = jnp.exp(log_q - shift)
        marginal = jnp.log(density.sum(1)) + shift[:, 0] - jnp.log(n)
        sums = jnp.einsum("sn,snf->sf", density, same.astype(jnp.float32), precision="highest")
        conditional = jnp.log(sums) + shift - jnp.log(counts)
        return conditional.mean(0) - marginal.mean(0)

    mutual_info = jax.lax.map(per_latent, (z.T, mean.T, logvar.T))
    return mig_from_mutual_info(jnp.maximum(mutual_info, 0.0), entropies(factors))


@pytest.mark.parametrize("chunks", [(256, 2048), (7, 100), (1, 1)])
def test_mig_sampled_chunked_equals_unchunked(data, chunks):
    # Chunk sizes that divide nothing, one chunk, single samples and points: the numbers
    # of the unchunked kernel to float32 rounding.
    codes, factors = data
    n = 1000
    rng = np.random.default_rng(5)
    logvar = np.log(rng.uniform(0.01, 0.5, (n, 6))).astype(np.float32)
    key = jax.random.key(11)
    expected = float(unchunked_mig_sampled(key, codes[:n], logvar, factors[:n]))
    samples_per_chunk, points_per_chunk = chunks
    value = mig_sampled(
        key,
        codes[:n],
        logvar,
        factors[:n],
        num_samples=300,
        samples_per_chunk=samples_per_chunk,
        points_per_chunk=points_per_chunk,
    )
    np.testing.assert_allclose(float(value), expected, atol=2e-6)
    assert 0.05 < expected < 0.95  # a score with something to get wrong


def _temp_mib(kernel, n, num_samples, **chunks):
    shape = jax.ShapeDtypeStruct((n, 10), jnp.float32)
    factors = jax.ShapeDtypeStruct((n, 5), jnp.int32)
    lowered = kernel.lower(
        jax.random.key(0), shape, shape, factors, num_samples=num_samples, **chunks
    )
    return lowered.compile().memory_analysis().temp_size_in_bytes / 2**20


@pytest.mark.parametrize("kernel", [_mig_sampled, _mig_chen2018], ids=["sampled", "chen2018"])
def test_memory_does_not_grow_with_samples_times_points(kernel):
    # XLA's own account of the temporaries: the unchunked kernel held [S, N, F] (here
    # 4000 * 40,000 * 5 floats, 3.2 GB); the chunked ones hold O(N * F) sort orders and one
    # chunk, whatever S.
    chunks = {"samples_per_chunk": 256, "points_per_chunk": 2048}
    few, many = (_temp_mib(kernel, 40_000, s, **chunks) for s in (1000, 4000))
    assert many < 50, many
    assert many - few < 1, (few, many)


def reference_mig_chen2018(key, mean, logvar, factors, num_samples):
    """Chen et al.'s protocol in float64 NumPy on the kernel's draws (documented there)."""
    n = mean.shape[0]
    noise_key, order_key = jax.random.split(key)
    eps = np.asarray(jax.random.normal(noise_key, mean.shape), np.float64)
    mean, logvar = mean.astype(np.float64), logvar.astype(np.float64)
    z = mean + np.exp(0.5 * logvar) * eps  # one sample per point, drawn once
    columns = np.concatenate([np.zeros((n, 1), np.int64), factors], 1)
    keys = jax.random.split(order_key, columns.shape[1])

    def estimate_entropies(members):  # members in random order; the first ones sampled
        s = members[:num_samples]
        log_q = -0.5 * (
            np.log(2 * np.pi)
            + logvar[None, members]
            + (z[s][:, None] - mean[None, members]) ** 2 / np.exp(logvar[None, members])
        )
        return -np.mean(np.log(np.exp(log_q).mean(1)), 0)

    entropy = []
    for k in range(columns.shape[1]):
        perm = np.asarray(jax.random.permutation(keys[k], n))
        order = perm[np.argsort(columns[perm, k], kind="stable")]
        values = columns[order, k]
        entropy.append(
            sum((values == v).mean() * estimate_entropies(order[values == v]) for v in set(values))
        )
    mi = np.maximum(entropy[0][:, None] - np.stack(entropy[1:], 1), 0)
    top = np.sort(mi, 0)[::-1]
    sizes = factors.max(0) + 1
    return np.mean((top[0] - top[1]) / np.log(sizes))


def _grid(sizes, repeat=1):
    grid = np.indices(sizes).reshape(len(sizes), -1).T
    return np.repeat(grid, repeat, axis=0).astype(np.int32)


@pytest.mark.parametrize(("num_samples", "chunks"), [(10000, (256, 2048)), (50, (7, 13))])
def test_mig_chen2018_matches_reference(num_samples, chunks):
    # 5 copies of a 3 x 4 x 5 grid: 100 / 75 / 60 points per value; with 50 samples the
    # marginal and every value use a random subset, with 10,000 all points.
    factors = _grid((3, 4, 5), repeat=5)
    n = factors.shape[0]
    rng = np.random.default_rng(0)
    mixing = np.eye(3, 4) + 0.3 * rng.normal(size=(3, 4))
    mean = (factors / np.array([3, 4, 5])) @ mixing + 0.1 * rng.normal(size=(n, 4))
    logvar = np.log(rng.uniform(0.005, 0.05, (n, 4)))
    mean, logvar = mean.astype(np.float32), logvar.astype(np.float32)
    key = jax.random.key(1)
    samples_per_chunk, points_per_chunk = chunks
    value = mig_chen2018(
        key,
        mean,
        logvar,
        factors,
        num_samples=num_samples,
        samples_per_chunk=samples_per_chunk,
        points_per_chunk=points_per_chunk,
    )
    expected = reference_mig_chen2018(key, mean, logvar, factors, num_samples)
    np.testing.assert_allclose(float(value), expected, atol=2e-6)


def _mixture_entropy(centres, sd):
    """Differential entropy (nats) of an equal-weight 1-D Gaussian mixture, by quadrature."""
    x = np.linspace(centres.min() - 10 * sd, centres.max() + 10 * sd, 200_001)
    p = np.exp(-0.5 * ((x[:, None] - centres) / sd) ** 2).mean(1) / (sd * np.sqrt(2 * np.pi))
    return -np.trapezoid(p * np.log(np.maximum(p, 1e-300)), x)


def test_mig_chen2018_of_a_grid_posterior_matches_quadrature():
    # A full 4 x 5 x 6 x 10 grid; the last factor is a nuisance the protocol does not
    # score (as shape on dSprites). Latent k < 3 is N(v_k / (size_k - 1), 0.15^2), latent 3
    # is N(0, 1) for every image. Then I(z_k; v_k) = H(mixture of the size_k Gaussians) -
    # H(N(0, 0.15^2)) and every other mutual information is 0, so
    # MIG = mean_k I(z_k; v_k) / log(size_k); Chen's estimator is an unbiased Monte-Carlo
    # estimate of it (the grid's aggregate posterior is that mixture exactly).
    sizes, sd = (4, 5, 6), 0.15
    grid = _grid((*sizes, 10))
    mean = np.zeros((grid.shape[0], 4), np.float32)
    mean[:, :3] = grid[:, :3] / (np.array(sizes) - 1.0)
    logvar = np.zeros_like(mean)
    logvar[:, :3] = 2 * np.log(sd)
    gaussian = 0.5 * np.log(2 * np.pi * np.e * sd**2)
    informations = [_mixture_entropy(np.arange(s) / (s - 1.0), sd) - gaussian for s in sizes]
    expected = np.mean(np.array(informations) / np.log(sizes))
    keys = jax.random.split(jax.random.key(0), 8)
    scored = grid[:, :3]
    values = np.asarray(jax.vmap(lambda k: mig_chen2018(k, mean, logvar, scored))(keys))
    spread = values.std(ddof=1)
    assert 0 < spread < 0.02, values
    assert abs(values.mean() - expected) < 3 * spread / np.sqrt(len(values)), (
        values.mean(),
        spread,
        expected,
    )


def test_chen2018_factor_selection():
    dsprites = ("shape", "scale", "orientation", "posX", "posY")
    for name in ("dsprites", "dsprites_file", "tfds_dsprites"):
        assert chen2018_factor_columns(name, dsprites) == (1, 2, 3, 4)  # no shape
    assert CHEN2018_FACTORS["dsprites"] == ("scale", "orientation", "posX", "posY")
    assert chen2018_factor_columns("shapes3d", ("a", "b", "c")) == (0, 1, 2)  # not published
    assert chen2018_factor_columns(None, ("a", "b")) == (0, 1)
    with pytest.raises(ValueError, match="no factor"):
        chen2018_factor_columns("dsprites", ("shape", "scale"))


def test_mig_chen2018_bad_input():
    factors = _grid((3, 4))
    mean = np.zeros((12, 3), np.float32)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="same shape"):
        mig_chen2018(key, mean, mean[:, :2], factors)
    with pytest.raises(ValueError, match="at least 2 codes"):
        mig_chen2018(key, mean[:, :1], mean[:, :1], factors)
    with pytest.raises(ValueError, match="num_samples"):
        mig_chen2018(key, mean, mean, factors, num_samples=0)
    with pytest.raises(TypeError, match="points_per_chunk"):
        mig_chen2018(key, mean, mean, factors, points_per_chunk=2.0)
