"""Reader of the published dSprites files: round trips of small files and their errors.

The files are written by ``tests/data/conftest.py`` from the published layout; the
oracle for an image is the array written at the grid position of its factors.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from disentax import data
from disentax.data import dsprites_file, resident
from disentax.data.files import DatasetFormatError, DatasetNotFoundError


def test_dsprites_npz_round_trip_and_errors(fake_files, assert_round_trip):
    imgs, _, _ = fake_files.dsprites_npz()
    ds = data.get("dsprites_file", data_dir=fake_files.root)
    assert ds.factor_sizes == (3, 2, 2, 4, 4) and ds.observation_shape == (64, 64, 1)
    assert ds.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    assert ds.packed and ds.nbytes == len(imgs) * 64 * 64 // 8  # bit-packed: 8 px a byte
    assert ds.images.dtype == jnp.uint8
    assert_round_trip(ds, imgs[..., None].astype(np.float32), fake_files.dsprites_sizes[1:])
    np.testing.assert_allclose(ds.factor_values[1], [0.0, 0.5])
    assert data.get("dsprites_file", data_dir=fake_files.root) is ds  # read once per process


def test_dsprites_hdf5_in_shuffled_order(fake_files, assert_round_trip):
    imgs, _, _ = fake_files.dsprites_hdf5()
    ds = data.get("dsprites_file", data_dir=fake_files.root)
    assert_round_trip(ds, imgs[..., None].astype(np.float32), fake_files.dsprites_sizes[1:])


def test_dsprites_file_errors(fake_files, tmp_path, monkeypatch):
    monkeypatch.setenv("DISENTAX_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetNotFoundError) as err:
        data.get("dsprites_file")
    message = str(err.value)
    assert "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz" in message
    assert str(tmp_path / "nowhere") in message and "deepmind/dsprites-dataset" in message
    # A truncated archive: an error naming the file, and nothing cached.
    imgs, classes, values = fake_files.dsprites_arrays()
    path = tmp_path / dsprites_file.NPZ_NAME
    np.savez(path, imgs=imgs, latents_classes=classes, latents_values=values)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DatasetFormatError, match=str(path)):
        data.get("dsprites_file", data_dir=tmp_path)
    assert resident.num_cached() == 0
    # Non-binary pixels and a missing label array are named.
    np.savez(path, imgs=imgs * 255, latents_classes=classes, latents_values=values)
    with pytest.raises(DatasetFormatError, match="binary"):
        data.get("dsprites_file", data_dir=tmp_path)
    np.savez(path, imgs=imgs, latents_values=values)
    with pytest.raises(DatasetFormatError, match="'latents_classes'"):
        data.get("dsprites_file", data_dir=tmp_path)
    np.savez(path, imgs=imgs[:-5], latents_classes=classes[:-5], latents_values=values[:-5])
    with pytest.raises(DatasetFormatError, match="truncated|missing"):
        data.get("dsprites_file", data_dir=tmp_path)
    assert resident.num_cached() == 0
