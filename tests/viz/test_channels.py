"""Observations that are not pictures (a vector dataset's [1, 1, 4]) are drawn all the same.

Each channel becomes a grey cell, side by side: the traversal figure, the GIF frames and
tiled grids take any channel count.
"""

import numpy as np
import pytest

from disentax import viz


def test_displayable_lays_channels_side_by_side_and_enlarges_small_images():
    vectors = np.arange(2 * 4, dtype=np.float32).reshape(2, 1, 1, 4) / 8.0
    shown = viz.displayable(vectors)
    assert shown.shape == (2, 1, 4, 1)
    np.testing.assert_array_equal(shown[1, 0, :, 0], vectors[1, 0, 0])  # channel c -> column c
    big = viz.displayable(vectors, min_size=8)
    assert big.shape == (2, 8, 32, 1)
    np.testing.assert_array_equal(big[1, :, 8:16, 0], vectors[1, 0, 0, 1])  # nearest
    rgb = np.zeros((3, 16, 16, 3), np.float32)
    assert viz.displayable(rgb, min_size=32) is rgb  # pictures pass through, not copied
    assert viz.tile(np.zeros((2, 3, 1, 1, 4)), pad=1).shape == (2 + 3, 3 * 5 + 1, 1)
    with pytest.raises(ValueError, match="images"):
        viz.displayable(np.zeros(4))


def test_traversal_figure_and_gif_frames_of_four_channel_observations(tmp_path):
    rng = np.random.default_rng(0)
    num_seeds, num_rows, num_cols = 2, 3, 5
    traversal = viz.Traversal(
        images=rng.uniform(size=(num_seeds, num_rows, num_cols, 1, 1, 4)).astype(np.float32),
        latents=np.arange(num_rows, dtype=np.int32),
        values=np.tile(np.linspace(-2, 2, num_cols, dtype=np.float32), (num_rows, 1)),
        kl=np.array([1.0, 0.5, 0.0], np.float32),
        active=np.array([True, True, False]),
    )
    inputs = rng.uniform(size=(num_seeds, 1, 1, 4)).astype(np.float32)
    figure = viz.traversal_figure(traversal, inputs=inputs)
    viz.save_figure(figure, tmp_path / "traversal.png")
    assert (tmp_path / "traversal.png").stat().st_size > 0

    frames = rng.uniform(size=(6, num_rows, num_seeds, 1, 1, 4)).astype(np.float32)
    animation = viz.Animation(
        frames=frames,
        latents=traversal.latents,
        values=np.zeros((num_seeds, num_rows, 6), np.float32),
        kl=traversal.kl,
        active=traversal.active,
    )
    gif = viz.gif_frames(animation, pad=2, row_labels=["z0", "z1", "z2 off"])
    # cells enlarged to 16 px high, 4 channels x 16 px wide; a white label strip on the left
    assert gif.shape[:2] == (6, num_rows * (16 + 2) + 2)
    assert gif.shape[2] > num_seeds * (4 * 16 + 2) + 2
    assert gif.dtype == np.uint8 and gif.shape[-1] == 3
    viz.write_gif(tmp_path / "traversal.gif", gif)
