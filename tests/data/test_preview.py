"""`disentax data show` and ``data.show``: image grids and factor tables."""

import numpy as np
from PIL import Image

from disentax import cli, data


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
