"""Image grids and labelled figures: tiling, row labels, PNG files, heatmaps and curves."""

import json

import numpy as np
import pytest
import scipy.stats
from PIL import Image

from disentax import viz


def test_tile_places_cells_with_borders():
    grid = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5, 1) / 120.0
    tiled = viz.tile(grid, pad=1, pad_value=1.0)
    assert tiled.shape == (2 * 4 + 3, 3 * 5 + 4, 1)
    for r in range(2):  # oracle: the cell at row r, column c starts at 1 + r*(4+1), 1 + c*(5+1)
        for c in range(3):
            top, left = 1 + r * 5, 1 + c * 6
            np.testing.assert_array_equal(tiled[top : top + 4, left : left + 5], grid[r, c])
    assert np.all(tiled[0] == 1.0) and np.all(tiled[:, -1] == 1.0)
    with pytest.raises(ValueError, match="grid"):
        viz.tile(np.zeros((2, 4, 5, 1)))


def test_to_uint8_and_rgb():
    image = np.array([[-0.5, 0.0, 0.5, 1.0, 2.0]], np.float32)[..., None]
    np.testing.assert_array_equal(viz.to_uint8(image)[0, :, 0], [0, 0, 128, 255, 255])
    assert viz.to_rgb(image).shape == (1, 5, 3)


def test_reconstruction_grid_puts_inputs_above_reconstructions(tiny_vae, tiny_images):
    model, params = tiny_vae
    images = tiny_images[:5]
    recons = viz.reconstruct(model, params, images)
    grid = np.asarray(viz.reconstruction_grid(images, recons, columns=3))
    assert grid.shape == (4, 3, 8, 8, 1)
    np.testing.assert_array_equal(grid[0], np.asarray(images[:3]))
    np.testing.assert_array_equal(grid[1], np.asarray(recons[:3]))
    np.testing.assert_array_equal(grid[2, :2], np.asarray(images[3:]))
    np.testing.assert_array_equal(grid[3, 2], np.ones((8, 8, 1)))  # padding cell
    mean, _ = viz.encode_images(model, params, images)
    np.testing.assert_allclose(recons, viz.decode_latents(model, params, mean), atol=1e-6)


def test_row_labels_name_latent_kl_and_most_informative_factor():
    mutual_info = np.array([[0.1, 0.9, 0.0], [0.7, 0.2, 0.1], [0.0, 0.0, 0.01]])
    labels = viz.traversal_row_labels(
        [1, 0, 2],
        [2.345, 1.0, 0.001],
        [True, True, False],
        informativeness=mutual_info,
        factor_names=["shape", "scale", "posX"],
    )
    assert labels == [
        "z1  KL 2.35  shape (MI 0.70)",
        "z0  KL 1.00  scale (MI 0.90)",
        "z2  KL 0.00  inactive",
    ]
    with pytest.raises(ValueError, match="factor_names"):
        viz.traversal_row_labels([0], [1.0], [True], informativeness=mutual_info, factor_names=[])


def test_traversal_figure_labels_rows_and_writes_png(tiny_vae, tiny_images, tmp_path):
    model, params = tiny_vae
    grid = viz.traverse(model, params, tiny_images[:2], reference_images=tiny_images, num_steps=5)
    labels = viz.traversal_row_labels(grid.latents, grid.kl, grid.active)
    figure = viz.traversal_figure(grid, row_labels=labels, inputs=tiny_images[:2])
    axes = figure.axes[0]
    assert [t.get_text() for t in axes.get_yticklabels()] == labels
    ticks = [t.get_text() for t in axes.get_xticklabels()]
    # Oracle: the N(0, 1) quantiles at 5 probabilities evenly spaced between cdf(-2), cdf(2).
    quantiles = scipy.stats.norm.ppf(np.linspace(*scipy.stats.norm.cdf([-2.0, 2.0]), 5))
    assert ticks == ["input", *(f"{round(q, 1) + 0.0:+.1f}" for q in quantiles)] * 2
    assert ticks[:6] == ["input", "-2.0", "-0.6", "+0.0", "+0.6", "+2.0"]
    inactive = [t.get_color() for t, a in zip(axes.get_yticklabels(), grid.active, strict=True)]
    assert inactive[-1] != "black" and inactive[0] == "black"
    path = tmp_path / "traversal.png"
    viz.save_figure(figure, path)
    with Image.open(path) as png:
        width, height = png.size
    # Cells of 8 px are enlarged 5x to 40 px; 4 rows of 40 px plus 2 px borders fit.
    assert height >= 4 * 40 + 5 * 2 and width >= 2 * (6 * 40 + 7 * 2)
    with pytest.raises(ValueError, match="inputs"):
        viz.traversal_figure(grid, inputs=tiny_images[:3])


def test_kl_heatmap_and_curve_figures(tmp_path):
    kl_fig = viz.kl_figure(np.array([2.0, 0.001, 0.5]), kl_threshold=0.01)
    bars = kl_fig.axes[0].patches
    assert [round(b.get_height(), 3) for b in bars] == [2.0, 0.001, 0.5]
    assert bars[1].get_facecolor() != bars[0].get_facecolor()  # the inactive latent is grey

    heat = viz.heatmap_figure(np.eye(3)[:, :2], title="MI", factor_names=["a", "b"])
    axes = heat.axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["a", "b"]
    assert [t.get_text() for t in axes.get_yticklabels()] == ["z0", "z1", "z2"]
    assert sorted(t.get_text() for t in axes.texts).count("1.00") == 2

    log = tmp_path / "metrics.jsonl"
    rows = [{"step": s, "loss": 10.0 / s, "recon": 5.0, "kl": 1.0 + s} for s in (1, 2, 4)]
    log.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    records = viz.read_jsonl(log)
    assert records == rows
    curves = viz.curves_figure(records)
    assert [a.get_title() for a in curves.axes] == ["loss", "recon", "kl"]
    np.testing.assert_allclose(curves.axes[2].lines[0].get_ydata(), [2.0, 3.0, 5.0])
    viz.save_figure(curves, tmp_path / "curves.png")
    assert Image.open(tmp_path / "curves.png").size[0] > 0

    log.write_text('{"step": 1}\nnot json\n')
    with pytest.raises(ValueError, match=r"metrics.jsonl:2"):
        viz.read_jsonl(log)
    with pytest.raises(ValueError, match="records"):
        viz.curves_figure([{"step": 1}])
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        viz.read_jsonl(tmp_path / "missing.jsonl")


def test_posterior_range_figure_numbers_the_steps(tiny_vae, tiny_images):
    model, params = tiny_vae
    grid = viz.traverse(
        model,
        params,
        tiny_images[:1],
        reference_images=tiny_images,
        num_steps=4,
        value_range="posterior",
    )
    mean, _ = viz.encode_images(model, params, tiny_images)
    rows = np.asarray(grid.latents)
    np.testing.assert_allclose(grid.values[:, 0], np.asarray(mean).min(0)[rows], atol=1e-6)
    np.testing.assert_allclose(grid.values[:, -1], np.asarray(mean).max(0)[rows], atol=1e-6)
    axes = viz.traversal_figure(grid).axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["0", "1", "2", "3"]
    assert "posterior range" in axes.get_xlabel()
