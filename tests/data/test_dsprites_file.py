"""Readers of the published files: each round-trips a small file written in its format.

The files are written here from the published layouts (see each reader's docstring);
the oracle for an image is the array written at the grid position of its factors.
"""

import pickle
import struct

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.io
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from PIL import Image

from disentax import data
from disentax.data import resident, smallnorb
from disentax.data.files import DatasetFormatError, DatasetNotFoundError

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _fresh_cache():
    resident.clear_cache()
    yield
    resident.clear_cache()


def _check_round_trip(dataset, expected_images, grid_sizes, num=64):
    """observations(factors) equals the written image at the grid point of factors."""
    factors = dataset.sample_factors(jax.random.key(0), num)
    index = np.ravel_multi_index(np.asarray(factors).T, grid_sizes)
    got = np.asarray(dataset.observations(factors))
    np.testing.assert_allclose(got, expected_images[index], atol=1e-7)
    jitted = jax.jit(lambda d, f: d.observations(f))(dataset, factors)
    np.testing.assert_array_equal(np.asarray(jitted), got)


# -- dSprites ------------------------------------------------------------------------
DS_SIZES = (1, 3, 2, 2, 4, 4)  # colour, shape, scale, orientation, posX, posY


def _dsprites_arrays():
    classes = np.indices(DS_SIZES).reshape(6, -1).T.astype(np.int64)
    values = classes.astype(np.float64) * np.array([0, 1, 0.5, 0.3, 1 / 3, 1 / 3])
    values[:, 0], values[:, 1] = 1.0, classes[:, 1] + 1.0
    imgs = (RNG.random((len(classes), 64, 64)) < 0.3).astype(np.uint8)
    return imgs, classes, values


def test_dsprites_npz_round_trip_and_errors(tmp_path):
    imgs, classes, values = _dsprites_arrays()
    meta = {b"latents_sizes": np.array(DS_SIZES), b"title": b"dSprites dataset"}
    np.savez_compressed(
        tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",
        imgs=imgs,
        latents_classes=classes,
        latents_values=values,
        metadata=np.array(meta, dtype=object),
    )
    ds = data.get("dsprites_file", data_dir=tmp_path)
    assert ds.factor_sizes == (3, 2, 2, 4, 4) and ds.observation_shape == (64, 64, 1)
    assert ds.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    assert ds.packed and ds.nbytes == len(imgs) * 64 * 64 // 8  # bit-packed: 8 px a byte
    assert ds.images.dtype == jnp.uint8
    _check_round_trip(ds, imgs[..., None].astype(np.float32), DS_SIZES[1:])
    np.testing.assert_allclose(ds.factor_values[1], [0.0, 0.5])
    assert data.get("dsprites_file", data_dir=tmp_path) is ds  # read once per process


def test_dsprites_hdf5_in_shuffled_order(tmp_path):
    imgs, classes, values = _dsprites_arrays()
    perm = RNG.permutation(len(imgs))
    with h5py.File(tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.hdf5", "w") as h5:
        h5["imgs"] = imgs[perm]
        h5["latents/classes"] = classes[perm]
        h5["latents/values"] = values[perm]
    ds = data.get("dsprites_file", data_dir=tmp_path)
    _check_round_trip(ds, imgs[..., None].astype(np.float32), DS_SIZES[1:])


def test_dsprites_file_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("DISENTAX_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetNotFoundError) as err:
        data.get("dsprites_file")
    message = str(err.value)
    assert "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz" in message
    assert str(tmp_path / "nowhere") in message and "deepmind/dsprites-dataset" in message
    # A truncated archive: an error naming the file, and nothing cached.
    imgs, classes, values = _dsprites_arrays()
    path = tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    np.savez(path, imgs=imgs, latents_classes=classes, latents_values=values)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DatasetFormatError, match=str(path)):
        data.get("dsprites_file", data_dir=tmp_path)
    assert not resident._CACHE
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
    assert not resident._CACHE


# -- Shapes3D ------------------------------------------------------------------------
def test_shapes3d_round_trip(tmp_path):
    sizes = (2, 2, 2, 2, 3, 3)
    classes = np.indices(sizes).reshape(6, -1).T
    # Label values as published: hue k/10, scale linspace(0.75, 1.25, 8), shape k,
    # orientation linspace(-30, 30, 15) (subsets of each).
    labels = np.stack(
        [
            classes[:, 0] * 0.1 + 0.3,
            classes[:, 1] * 0.1,
            classes[:, 2] * 0.1 + 0.7,
            np.linspace(0.75, 1.25, 8)[classes[:, 3] + 2],
            classes[:, 4].astype(np.float64),
            np.linspace(-30, 30, 15)[classes[:, 5] * 4],
        ],
        axis=1,
    )
    images = RNG.integers(0, 256, (len(classes), 64, 64, 3), dtype=np.uint8)
    with h5py.File(tmp_path / "3dshapes.h5", "w") as h5:
        h5["images"] = images
        h5["labels"] = labels
    ds = data.get("shapes3d", data_dir=tmp_path)
    assert ds.factor_sizes == sizes and ds.observation_shape == (64, 64, 3)
    assert ds.factor_names[0] == "floor_hue" and ds.factor_names[-1] == "orientation"
    assert ds.images.dtype == jnp.uint8
    _check_round_trip(ds, images.astype(np.float32) / 255.0, sizes)
    np.testing.assert_allclose(ds.factor_values[5], [-30.0, -12.857142, 4.285714], rtol=1e-5)

    with h5py.File(tmp_path / "bad.h5", "w") as h5:
        h5["images"] = images[:-1]
        h5["labels"] = labels[:-1]
    with pytest.raises(DatasetFormatError, match="bad.h5"):
        data.get("shapes3d", path=tmp_path / "bad.h5")
    (tmp_path / "junk.h5").write_bytes(b"not an hdf5 file")
    with pytest.raises(DatasetFormatError, match="not a readable HDF5"):
        data.get("shapes3d", path=tmp_path / "junk.h5")


# -- MPI3D ---------------------------------------------------------------------------
def test_mpi3d_round_trip(tmp_path):
    sizes = (2, 2, 1, 2, 1, 3, 4)
    images = RNG.integers(0, 256, (int(np.prod(sizes)), 64, 64, 3), dtype=np.uint8)
    (tmp_path / "mpi3d").mkdir()
    np.savez(tmp_path / "mpi3d" / "mpi3d_real.npz", images=images)
    ds = data.get("mpi3d_real", data_dir=tmp_path, factor_sizes=sizes)
    assert ds.factor_sizes == sizes and ds.factor_names[-1] == "vertical_axis"
    _check_round_trip(ds, images.astype(np.float32) / 255.0, sizes)
    # The published reshape [6, 6, 2, 3, 3, 40, 40, 64, 64, 3] is the same order.
    index = np.ravel_multi_index((1, 0, 0, 1, 0, 2, 3), sizes)
    np.testing.assert_array_equal(
        images.reshape(*sizes, 64, 64, 3)[1, 0, 0, 1, 0, 2, 3], images[index]
    )
    # Replicated over an 8-device mesh, sampled inside a jitted step by sharded factors.
    mesh = Mesh(np.array(jax.devices()), ("data",))
    replicated = ds.to(NamedSharding(mesh, PartitionSpec()))
    assert replicated.images.sharding.is_fully_replicated
    factors = jax.device_put(
        ds.sample_factors(jax.random.key(3), 16), NamedSharding(mesh, PartitionSpec("data"))
    )
    got = jax.jit(lambda d, f: d.observations(f))(replicated, factors)
    index = np.ravel_multi_index(np.asarray(factors).T, sizes)
    np.testing.assert_allclose(np.asarray(got), images[index] / 255.0, atol=1e-7)
    with pytest.raises(DatasetFormatError, match=r"96 images but the factor grid"):
        data.get("mpi3d_real", data_dir=tmp_path)
    with pytest.raises(DatasetNotFoundError, match="mpi3d_toy.npz"):
        data.get("mpi3d_toy", data_dir=tmp_path)


# -- smallNORB -----------------------------------------------------------------------
def _write_matrix(path, array):
    """NYU binary-matrix writer (header per cs.nyu.edu/~ylclab/data/norb-v1.0-small)."""
    magic = {np.uint8: 0x1E3D4C55, np.int32: 0x1E3D4C54}[array.dtype.type]
    dims = list(array.shape) + [1] * max(0, 3 - array.ndim)
    header = struct.pack(f"<ii{len(dims)}i", magic, array.ndim, *dims)
    path.write_bytes(header + array.astype(array.dtype.newbyteorder("<")).tobytes())


def test_smallnorb_round_trip_with_instance_nuisance(tmp_path):
    written = {}
    for split, instance in (("training", 4), ("testing", 0)):
        grid = np.indices((2, 2, 3, 2)).reshape(4, -1).T  # category, elevation, azimuth, light
        n = len(grid)
        dat = RNG.integers(0, 256, (n, 2, 96, 96), dtype=np.uint8)
        info = np.stack([np.full(n, instance), grid[:, 1], grid[:, 2] * 2, grid[:, 3]], axis=1)
        prefix = tmp_path / "smallnorb" / smallnorb.PREFIXES[split]
        prefix.parent.mkdir(exist_ok=True)
        _write_matrix(prefix.with_name(prefix.name + "-dat.mat"), dat)
        _write_matrix(prefix.with_name(prefix.name + "-cat.mat"), grid[:, 0].astype(np.int32))
        _write_matrix(prefix.with_name(prefix.name + "-info.mat"), info.astype(np.int32))
        for row, img in zip(grid, dat[:, 0], strict=True):
            small = Image.fromarray(img).resize((64, 64), Image.Resampling.LANCZOS)
            written[(int(row[0]), instance, *map(int, row[1:]))] = np.asarray(small) / 255.0
    ds = data.get("smallnorb", data_dir=tmp_path)
    assert ds.factor_names == ("category", "elevation", "azimuth", "lighting")
    assert ds.factor_sizes == (2, 2, 3, 2) and ds.observation_shape == (64, 64, 1)
    np.testing.assert_array_equal(ds.factor_values[2], [0, 2, 4])
    factors = ds.sample_factors(jax.random.key(1), 16)
    seen = set()
    for k in range(4):
        images = np.asarray(ds.observations(factors, key=jax.random.key(k)))[..., 0]
        for f, img in zip(np.asarray(factors), images, strict=True):
            c, e, a, light = (int(v) for v in f)
            matches = [i for i in (0, 4) if np.allclose(img, written[(c, i, e, a, light)])]
            assert len(matches) == 1
            seen.add(matches[0])
    assert seen == {0, 4}  # the instance is drawn per image
    fixed = np.asarray(ds.observations(factors))
    np.testing.assert_array_equal(fixed, np.asarray(ds.observations(factors)))


def test_smallnorb_binary_matrix_errors(tmp_path):
    path = tmp_path / "m.mat"
    _write_matrix(path, np.arange(12, dtype=np.int32).reshape(3, 4))
    np.testing.assert_array_equal(smallnorb.read_matrix(path), np.arange(12).reshape(3, 4))
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(DatasetFormatError, match=r"m.mat: header announces \[3, 4\]"):
        smallnorb.read_matrix(path)
    path.write_bytes(struct.pack("<iiiii", 0x1234, 1, 1, 1, 1) + b"\0")
    with pytest.raises(DatasetFormatError, match="magic number 0x1234"):
        smallnorb.read_matrix(path)
    with pytest.raises(DatasetNotFoundError, match="training-dat.mat"):
        data.get("smallnorb", data_dir=tmp_path)


# -- Cars3D --------------------------------------------------------------------------
def test_cars3d_round_trip_in_list_order(tmp_path):
    folder = tmp_path / "data" / "cars"
    folder.mkdir(parents=True)
    cars = {}
    for name in ("car_001_mesh", "car_002_mesh", "car_003_mesh"):
        im = RNG.integers(0, 256, (96, 96, 3, 24, 4), dtype=np.uint8)
        scipy.io.savemat(folder / f"{name}.mat", {"im": im})
        cars[name] = im
    order = ["car_003_mesh", "car_001_mesh", "car_002_mesh"]
    (folder / "list.txt").write_text("\n".join(order) + "\n")
    ds = data.get("cars3d", data_dir=tmp_path)
    assert ds.factor_names == ("elevation", "azimuth", "object")
    assert ds.factor_sizes == (4, 24, 3) and ds.observation_shape == (64, 64, 3)
    factors = np.asarray(ds.sample_factors(jax.random.key(2), 24))
    images = np.asarray(ds.observations(factors))
    for (e, a, o), img in zip(factors, images, strict=True):
        view = cars[order[o]][:, :, :, a, e]
        small = Image.fromarray(view).resize((64, 64), Image.Resampling.LANCZOS)
        np.testing.assert_allclose(img, np.asarray(small) / 255.0, atol=1e-7)
    (folder / "car_002_mesh.mat").write_bytes(pickle.dumps("not matlab"))
    resident.clear_cache()
    with pytest.raises(DatasetFormatError, match="car_002_mesh.mat"):
        data.get("cars3d", data_dir=tmp_path)
