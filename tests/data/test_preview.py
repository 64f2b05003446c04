"""`disentax data show` and ``data.show``: image grids and factor tables."""

import numpy as np
import pytest
from PIL import Image

from disentax import cli, data
from disentax.data import preview


def test_data_show_writes_a_grid_and_prints_the_factor_table(tmp_path, capsys):
    assert cli.main(["data", "show", "dsprites", "--workdir", str(tmp_path), "--num", "9"]) == 0
    out = capsys.readouterr().out
    assert "observation shape (64, 64, 1)" in out
    names, sizes = ("shape", "scale", "orientation", "posX", "posY"), (3, 6, 40, 32, 32)
    for name, size in zip(names, sizes, strict=True):
        assert any(line.split()[1:3] == [name, str(size)] for line in out.splitlines()[2:7])
    assert "square, ellipse, heart" in out
    png = np.asarray(Image.open(tmp_path / "data_dsprites.png"))
    # 3 x 3 tiles of 64 px with a 1 px border: 3 * 65 + 1 = 196.
    assert png.shape == (196, 196) and png.dtype == np.uint8
    tile = png[1:65, 1:65]
    assert set(np.unique(tile).tolist()) <= {0, 255} and tile.max() == 255


def test_data_show_colour_and_vector_datasets(tmp_path):
    path = data.show("color_dsprites", tmp_path, num=4, seed=1)
    assert np.asarray(Image.open(path)).shape == (131, 131, 3)
    path = data.show("synthetic_identity", tmp_path, num=2)
    # A 4-vector becomes a 1 x 4 strip enlarged 32x: 2 tiles side by side.
    assert np.asarray(Image.open(path)).shape == (34, 2 * 129 + 1)


def test_missing_file_through_the_cli(tmp_path, capsys):
    args = ["data", "show", "shapes3d", "--workdir", str(tmp_path), "--data_dir", str(tmp_path)]
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert "3dshapes.h5 not found in" in err and str(tmp_path) in err
    assert "deepmind/3d-shapes" in err


def test_too_many_samples_or_a_file_as_workdir_fail_before_sampling(tmp_path):
    with pytest.raises(ValueError, match=f"num: at most {preview.MAX_SHOW} samples"):
        data.show("dsprites", tmp_path, num=200_000)
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(NotADirectoryError, match=f"{afile} is a file, not a folder"):
        data.show("dsprites", afile / "sub", num=4)


def test_a_dsprites_file_without_images_is_named(tmp_path, capsys):
    np.savez(
        tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",
        imgs=np.zeros((0, 64, 64), np.uint8),
        latents_classes=np.zeros((0, 6), np.int64),
        latents_values=np.zeros((0, 6)),
    )
    args = ["data", "show", "dsprites_file", "--data_dir", str(tmp_path)]
    args += ["--workdir", str(tmp_path)]
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz: imgs must be" in err
    assert "with N > 0, got uint8 [0, 64, 64]" in err
