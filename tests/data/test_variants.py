"""Colour, noisy and scream dSprites (Locatello et al. 2019 constructions)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from disentax import data
from disentax.data import dsprites, variants

FACTORS = jnp.asarray([[0, 5, 0, 3, 3], [1, 5, 7, 28, 28], [2, 4, 11, 15, 15]], jnp.int32)
SPRITE = np.asarray(dsprites.render(FACTORS))  # [3, 64, 64, 1] binary, oracle mask


def test_color_dsprites():
    ds = data.get("color_dsprites")
    img = np.asarray(ds.observations(FACTORS))
    assert img.shape == (3, 64, 64, 3)
    inside, outside = SPRITE[..., 0] == 1, SPRITE[..., 0] == 0
    assert (img[outside] == 0).all()
    # One colour per image, each channel uniform in [0.5, 1] (disentanglement_lib).
    for i in range(3):
        colours = img[i][inside[i]]
        assert (colours == colours[0]).all()
        assert ((colours[0] >= 0.5) & (colours[0] <= 1.0)).all()
    # key=None: a fixed function of the factors; a key gives fresh colours.
    np.testing.assert_array_equal(img, np.asarray(ds.observations(FACTORS)))
    fresh = np.asarray(ds.observations(FACTORS, key=jax.random.key(5)))
    assert not np.array_equal(fresh, img)
    np.testing.assert_array_equal(fresh > 0, img > 0)
    jitted = jax.jit(lambda f, k: ds.observations(f, key=k))(FACTORS, jax.random.key(5))
    np.testing.assert_array_equal(np.asarray(jitted), fresh)
    # Colour distribution over many images: mean of U[0.5, 1] is 0.75 (std 0.144).
    many = ds.sample_factors(jax.random.key(0), 2000)
    peak = np.asarray(ds.observations(many, key=jax.random.key(1))).max(axis=(1, 2))
    np.testing.assert_allclose(peak.mean(axis=0), 0.75, atol=0.015)
    assert peak.min() >= 0.5


def test_noisy_dsprites():
    ds = data.get("noisy_dsprites")
    img = np.asarray(ds.observations(FACTORS, key=jax.random.key(2)))
    inside = SPRITE[..., 0] == 1
    assert (img[inside] == 1.0).all()
    background = img[~inside]
    assert background.min() >= 0.0 and background.max() < 1.0
    # Uniform [0, 1] noise: mean 1/2, variance 1/12.
    np.testing.assert_allclose(background.mean(), 0.5, atol=0.01)
    np.testing.assert_allclose(background.var(), 1 / 12, atol=0.003)
    # Independent per channel: the three channels of a pixel differ.
    assert (background.reshape(-1, 3).std(axis=1) > 0).mean() > 0.99


def test_hashed_uniform_noise_statistics():
    # Oracle: properties of i.i.d. U[0, 1) - bin counts (chi-square), and no correlation
    # between neighbouring pixels, channels, or images drawn with different keys.
    keys = jax.random.split(jax.random.key(0), 64)
    u = np.asarray(variants.hashed_uniform(keys, (64, 64, 3)), np.float64)
    assert u.min() >= 0.0 and u.max() < 1.0
    counts = np.bincount((u * 16).astype(int).ravel(), minlength=16)
    expected = u.size / 16
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 45.0  # chi-square, 15 dof: P(chi2 > 45) ~ 1e-4
    flat = u - 0.5
    n = u.size
    for a, b in (
        (flat[:, :, 1:], flat[:, :, :-1]),  # horizontal neighbours
        (flat[:, 1:], flat[:, :-1]),  # vertical neighbours
        (flat[..., 1:], flat[..., :-1]),  # channels
        (flat[1:], flat[:-1]),  # consecutive images
    ):
        corr = np.corrcoef(a.ravel(), b.ravel())[0, 1]
        assert abs(corr) < 5 / np.sqrt(n / 2), corr  # 5 sigma of a null correlation
    same = np.asarray(variants.hashed_uniform(keys[:2], (64, 64, 3)))
    np.testing.assert_array_equal(same, u[:2].astype(np.float32))


def test_scream_dsprites_inverts_the_background_under_the_sprite():
    ds = data.get("scream_dsprites")
    tex = variants.texture()
    assert tex.shape == (*variants.TEXTURE_SHAPE, 3) and tex.dtype == np.float32
    assert tex.min() == 0.0 and tex.max() == 1.0
    # Two sprites far apart with the same per-image key share one background, so where
    # only the first covers a pixel, image_a = 1 - image_b.
    pair = jnp.asarray([[0, 5, 0, 0, 0], [0, 5, 0, 31, 31]], jnp.int32)
    key = jax.random.key(9)
    img = np.asarray(ds.observations(pair, key=jnp.stack([key, key])))
    mask = np.asarray(dsprites.render(pair))[..., 0] == 1
    only_a = mask[0] & ~mask[1]
    np.testing.assert_allclose(img[0][only_a], 1.0 - img[1][only_a], atol=1e-6)
    both_out = ~mask[0] & ~mask[1]
    np.testing.assert_array_equal(img[0][both_out], img[1][both_out])
    # Background = (crop + colour) / 2 with crop, colour in [0, 1].
    assert img.min() >= 0.0 and img.max() <= 1.0
    # The background is a crop of the texture shifted by a constant colour per channel.
    back = img[0][both_out].reshape(-1, 3)
    rows, cols = np.nonzero(both_out)
    span = (tex.shape[0] - 64, tex.shape[1] - 64)

    # shift(p) = 2 * back[p] - tex[r0 + row_p, c0 + col_p] must not depend on p: test
    # every offset (r0, c0) at once on a few pixels, then verify the survivors fully.
    def shift_at(p):
        window = tex[rows[p] : rows[p] + span[0], cols[p] : cols[p] + span[1]]
        return 2 * back[p] - window  # [span0, span1, 3] over all offsets

    probe = np.linspace(0, len(rows) - 1, 6).astype(int)
    base = shift_at(probe[0])
    ok = np.all([np.abs(shift_at(p) - base).max(axis=-1) < 1e-5 for p in probe[1:]], axis=0)
    found = False
    for r0, c0 in zip(*np.nonzero(ok), strict=True):
        shift = 2 * back - tex[r0 + rows, c0 + cols]
        found = found or bool(np.abs(shift - shift[0]).max() < 1e-5)
    assert found and (shift[0] >= -1e-6).all() and (shift[0] <= 1 + 1e-6).all()


def test_variant_key_errors():
    ds = data.get("color_dsprites")
    with pytest.raises(ValueError, match=r"shape \(\) or \(3,\)"):
        ds.observations(FACTORS, key=jax.random.split(jax.random.key(0), 2))
    with pytest.raises(TypeError, match="typed PRNG key"):
        ds.observations(FACTORS, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="'posX'"):
        ds.observations(jnp.asarray([[0, 0, 0, 32, 0]], jnp.int32))
