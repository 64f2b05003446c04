"""Animated traversals: the reference cycles, frame layout and the GIF file."""

import jax
import numpy as np
import pytest
import scipy.stats
from PIL import Image

from disentax import viz

# The kernels are called through jit, as library users would inside their programs.
cycle_interval = jax.jit(viz.cycle_interval, static_argnums=1)
cycle_gaussian = jax.jit(viz.cycle_gaussian, static_argnums=1)
cycle_values = jax.jit(viz.cycle_values, static_argnums=(0, 4))


def reference_triangle(start01, num_frames):
    """Oracle: the folding of disentanglement_lib ``visualize_util.cycle_interval``
    (linspace over two units, then reflected back into [0, 1])."""
    grid = np.linspace(start01, start01 + 2.0, num=num_frames, endpoint=False)
    grid -= np.maximum(0, 2 * grid - 2)
    grid += np.maximum(0, -2 * grid)
    return grid


@pytest.mark.parametrize("start", [-2.0, -0.7, 0.0, 1.3, 2.0])
def test_cycle_interval_matches_the_reference_folding(start):
    values = np.asarray(cycle_interval(np.float32(start), 20, -2.0, 2.0))
    expected = reference_triangle((start + 2.0) / 4.0, 20) * 4.0 - 2.0
    np.testing.assert_allclose(values, expected, atol=1e-5)
    assert values[0] == pytest.approx(start, abs=1e-6)
    assert values.min() >= -2.0 - 1e-6 and values.max() <= 2.0 + 1e-6


@pytest.mark.parametrize(("start", "loc", "scale"), [(0.0, 0.0, 1.0), (0.4, 1.0, 0.5)])
def test_cycle_gaussian_matches_scipy_quantiles(start, loc, scale):
    values = np.asarray(cycle_gaussian(np.float32(start), 16, loc, scale))
    probs = reference_triangle(scipy.stats.norm.cdf(start, loc, scale), 16)
    expected = scipy.stats.norm.ppf(np.clip(probs, 0.001, 0.999), loc, scale)
    np.testing.assert_allclose(values, expected, atol=2e-4)


def test_cycle_values_fitted_gaussian_uses_the_aggregate_posterior():
    rng = np.random.default_rng(0)
    mean = rng.normal(1.0, 2.0, (50, 3)).astype(np.float32)
    logvar = rng.normal(-1.0, 0.3, (50, 3)).astype(np.float32)
    seeds = mean[:2]
    values = np.asarray(cycle_values("fitted_gaussian", seeds, mean, logvar, 12))
    assert values.shape == (2, 3, 12)
    # Moment-matched Gaussian of the mixture of posteriors: E[var] + Var[mean].
    loc = mean.mean(0)
    scale = np.sqrt(np.exp(logvar).mean(0) + mean.var(0))
    for s in range(2):
        for j in range(3):
            expected = scipy.stats.norm.ppf(
                np.clip(
                    reference_triangle(scipy.stats.norm.cdf(seeds[s, j], loc[j], scale[j]), 12),
                    0.001,
                    0.999,
                ),
                loc[j],
                scale[j],
            )
            np.testing.assert_allclose(values[s, j], expected, atol=2e-3)
    minmax = np.asarray(cycle_values("minmax_interval", seeds, mean, logvar, 12))
    low, high = mean.min(0), mean.max(0)
    for s in range(2):
        for j in range(3):
            start01 = (seeds[s, j] - low[j]) / (high[j] - low[j])
            expected = reference_triangle(start01, 12) * (high[j] - low[j]) + low[j]
            np.testing.assert_allclose(minmax[s, j], expected, atol=1e-4)
    with pytest.raises(ValueError, match="cycle"):
        viz.cycle_values("spiral", seeds, mean, logvar, 12)


def test_animation_frames_and_gif(tiny_vae, tiny_images, inactive_latent, tmp_path):
    model, params = tiny_vae
    animation = viz.animate(
        model, params, tiny_images[:3], reference_images=tiny_images, num_frames=14
    )
    assert animation.frames.shape == (14, 4, 3, 8, 8, 1)  # [T, R, S, H, W, C]
    assert animation.values.shape == (3, 4, 14)
    frames = np.asarray(animation.frames)
    row = int(np.flatnonzero(np.asarray(animation.latents) == inactive_latent)[0])
    assert not bool(animation.active[row])
    np.testing.assert_array_equal(
        frames[:, row], np.broadcast_to(frames[:1, row], frames[:, row].shape)
    )
    assert np.abs(frames[7, 0] - frames[0, 0]).max() > 0.05  # half a cycle moves an active row

    labels = [f"z{i}" for i in np.asarray(animation.latents)]
    tiled = viz.gif_frames(animation, pad=2, row_labels=labels)
    assert tiled.dtype == np.uint8 and tiled.shape[0] == 14
    assert tiled.shape[1] == 4 * 8 + 5 * 2  # rows of latents, with borders
    path = tmp_path / "traversal.gif"
    viz.write_gif(path, tiled, fps=10)
    with Image.open(path) as gif:
        assert gif.n_frames == 14
        assert gif.size == (tiled.shape[2], tiled.shape[1])
        assert gif.info["duration"] == 100 and gif.info["loop"] == 0
        gif.seek(7)
        halfway = np.asarray(gif.convert("RGB"))
    np.testing.assert_allclose(halfway, tiled[7], atol=8)  # GIF palette quantisation


def test_greyscale_gif_round_trips(tmp_path):
    frames = np.stack([np.full((6, 5), v, np.uint8) for v in (0, 80, 160, 240)])
    viz.write_gif(tmp_path / "g.gif", frames[..., None], fps=4)
    with Image.open(tmp_path / "g.gif") as gif:
        assert gif.n_frames == 4 and gif.info["duration"] == 250
        gif.seek(2)
        assert np.asarray(gif.convert("L"))[0, 0] == 160
    with pytest.raises(ValueError, match="frames"):
        viz.write_gif(tmp_path / "bad.gif", frames.astype(np.float32))
    with pytest.raises(ValueError, match="fps"):
        viz.write_gif(tmp_path / "bad.gif", frames, fps=0)


def test_render_matches_the_separate_functions_in_one_program(tiny_vae, tiny_images):
    model, params = tiny_vae
    seeds, reference = tiny_images[:2], tiny_images[2:]
    together = viz.render(
        model,
        params,
        seeds,
        reference_images=reference,
        num_steps=5,
        cycles=("fixed_interval", "fitted_gaussian"),
        num_frames=6,
        num_reconstructions=4,
    )
    grid = viz.traverse(model, params, seeds, reference_images=reference, num_steps=5)
    np.testing.assert_allclose(together.traversal.images, grid.images, atol=1e-6)
    np.testing.assert_array_equal(together.traversal.latents, grid.latents)
    np.testing.assert_array_equal(together.traversal.active, grid.active)
    separate = viz.animate_cycles(
        model,
        params,
        seeds,
        reference_images=reference,
        num_frames=6,
        cycles=("fixed_interval", "fitted_gaussian"),
    )
    for cycle, animation in separate.items():
        np.testing.assert_allclose(together.animations[cycle].frames, animation.frames, atol=1e-6)
        np.testing.assert_allclose(together.animations[cycle].values, animation.values, atol=1e-6)
    np.testing.assert_allclose(
        together.reconstructions, viz.reconstruct(model, params, reference[:4]), atol=1e-6
    )
    np.testing.assert_allclose(together.kl[grid.latents], grid.kl, rtol=1e-6)
    with pytest.raises(ValueError, match="num_reconstructions"):
        viz.render(model, params, seeds, reference_images=reference[:2], num_reconstructions=3)
