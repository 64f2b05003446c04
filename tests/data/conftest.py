"""Shared builders of the dataset tests: small files in each published layout.

The published files cannot be downloaded here, so every test of a file-reading dataset
writes a small file in the published layout (see each reader's docstring) with the
writers of :class:`FakeFiles`; the oracle for an image is the array written at the grid
position of its factors. ``FILE_WRITERS`` maps each file-reading registry entry to the
writer it needs, so that the tests parametrised over ``disentax.data.DATASETS``
(``registry_name`` / ``registry_entry``) build every entry, including ones added later.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import h5py
import jax
import numpy as np
import pytest
import scipy.io
from PIL import Image

from disentax import data
from disentax.data import dsprites_file, resident, shapes3d, smallnorb, tfds_adapter
from disentax.data.files import DatasetNotFoundError


def write_matrix(path, array):
    """NYU binary-matrix writer (header per cs.nyu.edu/~ylclab/data/norb-v1.0-small)."""
    magic = {np.uint8: 0x1E3D4C55, np.int32: 0x1E3D4C54}[array.dtype.type]
    dims = list(array.shape) + [1] * max(0, 3 - array.ndim)
    header = struct.pack(f"<ii{len(dims)}i", magic, array.ndim, *dims)
    path.write_bytes(header + array.astype(array.dtype.newbyteorder("<")).tobytes())


def lanczos_64(image: np.ndarray) -> np.ndarray:
    """The readers' resize to 64x64 (PIL Lanczos), as floats in [0, 1]."""
    small = Image.fromarray(image).resize((64, 64), Image.Resampling.LANCZOS)
    return np.asarray(small) / 255.0


class FakeFiles:
    """Writes small dataset files under ``root``; each writer returns its oracle arrays.

    The grids written are class attributes, so tests read them from the fixture.
    """

    dsprites_sizes = (1, 3, 2, 2, 4, 4)  # colour, shape, scale, orientation, posX, posY
    shapes3d_sizes = (2, 2, 2, 2, 3, 3)
    mpi3d_sizes = (2, 2, 1, 2, 1, 3, 4)
    smallnorb_grid = (2, 2, 3, 2)  # category, elevation, azimuth, lighting
    smallnorb_instances = {"training": 4, "testing": 0}
    cars = ("car_001_mesh", "car_002_mesh", "car_003_mesh")
    cars_order = ("car_003_mesh", "car_001_mesh", "car_002_mesh")  # list.txt order
    write_matrix = staticmethod(write_matrix)
    lanczos_64 = staticmethod(lanczos_64)

    def __init__(self, root, monkeypatch):
        self.root = root
        self.monkeypatch = monkeypatch
        self.rng = np.random.default_rng(0)

    # -- dSprites ------------------------------------------------------------------------
    def dsprites_arrays(self):
        """``(imgs [P, 64, 64] 0/1, latents_classes [P, 6], latents_values [P, 6])``."""
        classes = np.indices(self.dsprites_sizes).reshape(6, -1).T.astype(np.int64)
        values = classes.astype(np.float64) * np.array([0, 1, 0.5, 0.3, 1 / 3, 1 / 3])
        values[:, 0], values[:, 1] = 1.0, classes[:, 1] + 1.0
        imgs = (self.rng.random((len(classes), 64, 64)) < 0.3).astype(np.uint8)
        return imgs, classes, values

    def dsprites_npz(self):
        """The published ``.npz`` (with its pickled metadata); returns the arrays."""
        imgs, classes, values = self.dsprites_arrays()
        meta = {b"latents_sizes": np.array(self.dsprites_sizes), b"title": b"dSprites dataset"}
        np.savez_compressed(
            self.root / dsprites_file.NPZ_NAME,
            imgs=imgs,
            latents_classes=classes,
            latents_values=values,
            metadata=np.array(meta, dtype=object),
        )
        return imgs, classes, values

    def dsprites_hdf5(self):
        """The ``.hdf5`` twin, rows in a shuffled order; returns the arrays (grid order)."""
        imgs, classes, values = self.dsprites_arrays()
        perm = self.rng.permutation(len(imgs))
        path = self.root / dsprites_file.NPZ_NAME.replace(".npz", ".hdf5")
        with h5py.File(path, "w") as h5:
            h5["imgs"] = imgs[perm]
            h5["latents/classes"] = classes[perm]
            h5["latents/values"] = values[perm]
        return imgs, classes, values

    # -- Shapes3D ------------------------------------------------------------------------
    def shapes3d_arrays(self):
        """``(images [P, 64, 64, 3] uint8, labels [P, 6])`` over ``self.shapes3d_sizes``."""
        classes = np.indices(self.shapes3d_sizes).reshape(6, -1).T
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
        images = self.rng.integers(0, 256, (len(classes), 64, 64, 3), dtype=np.uint8)
        return images, labels

    def shapes3d(self, name: str = shapes3d.FILENAME, rows: slice = slice(None)):
        """Writes ``images``/``labels`` (``rows`` of them) to ``name``; returns them."""
        images, labels = self.shapes3d_arrays()
        with h5py.File(self.root / name, "w") as h5:
            h5["images"] = images[rows]
            h5["labels"] = labels[rows]
        return images, labels

    # -- MPI3D ---------------------------------------------------------------------------
    def mpi3d(self, variant: str = "real", sizes=None):
        """``mpi3d/mpi3d_<variant>.npz`` with ``images`` in factor order; returns them."""
        sizes = sizes or self.mpi3d_sizes
        images = self.rng.integers(0, 256, (int(np.prod(sizes)), 64, 64, 3), dtype=np.uint8)
        (self.root / "mpi3d").mkdir(exist_ok=True)
        np.savez(self.root / "mpi3d" / f"mpi3d_{variant}.npz", images=images)
        return images

    # -- smallNORB -----------------------------------------------------------------------
    def smallnorb(self):
        """Both splits (one instance each); returns ``{(c, instance, e, a, l): image}``."""
        written = {}
        for split, instance in self.smallnorb_instances.items():
            grid = np.indices(self.smallnorb_grid).reshape(4, -1).T
            n = len(grid)
            dat = self.rng.integers(0, 256, (n, 2, 96, 96), dtype=np.uint8)
            info = np.stack([np.full(n, instance), grid[:, 1], grid[:, 2] * 2, grid[:, 3]], 1)
            prefix = self.root / "smallnorb" / smallnorb.PREFIXES[split]
            prefix.parent.mkdir(exist_ok=True)
            write_matrix(prefix.with_name(prefix.name + "-dat.mat"), dat)
            write_matrix(prefix.with_name(prefix.name + "-cat.mat"), grid[:, 0].astype(np.int32))
            write_matrix(prefix.with_name(prefix.name + "-info.mat"), info.astype(np.int32))
            for row, img in zip(grid, dat[:, 0], strict=True):
                written[(int(row[0]), instance, *map(int, row[1:]))] = lanczos_64(img)
        return written

    # -- Cars3D --------------------------------------------------------------------------
    def cars3d(self):
        """``data/cars/*.mat`` and a ``list.txt`` in ``self.cars_order``; returns ``{name: im}``."""
        folder = self.root / "data" / "cars"
        folder.mkdir(parents=True, exist_ok=True)
        cars = {}
        for name in self.cars:
            im = self.rng.integers(0, 256, (96, 96, 3, 24, 4), dtype=np.uint8)
            scipy.io.savemat(folder / f"{name}.mat", {"im": im})
            cars[name] = im
        (folder / "list.txt").write_text("\n".join(self.cars_order) + "\n")
        return cars

    # -- TensorFlow Datasets -------------------------------------------------------------
    def tfds_examples(self, name: str, sizes=(2, 2, 2, 2, 2, 3), shape=(8, 8, 3)):
        """TFDS-style examples of builder ``name`` in a shuffled order.

        Returns ``(examples, images, classes)`` with ``images``/``classes`` in grid order.
        """
        spec = tfds_adapter.SPECS[name]
        classes = np.indices(sizes).reshape(len(sizes), -1).T
        top = 2 if spec.binary else 256
        images = self.rng.integers(0, top, (len(classes), *shape), dtype=np.uint8)
        examples = [
            {"image": images[i], **{k: classes[i, j] for j, k in enumerate(spec.labels)}}
            for i in self.rng.permutation(len(classes))
        ]
        return examples, images, classes

    def tfds(self, name: str):
        """A prepared array_record TFDS folder of ``name`` in ``root``, written with the
        installed tensorflow-datasets (no TensorFlow), rows shuffled; the decoded-grid
        cache goes to ``root/cache``. Returns the images in grid order."""
        pytest.importorskip("tensorflow_datasets", reason="optional extra disentax[tfds]")
        from disentax.data import tfds_testing

        sizes = {"dsprites": (3, 2, 2, 2, 2), "smallnorb": (2, 2, 2, 3, 2)}
        shape = {"dsprites": (64, 64, 1), "smallnorb": (96, 96, 1)}
        _, images, classes = self.tfds_examples(
            name, sizes.get(name, (2, 2, 2, 2, 2, 3)), shape.get(name, (64, 64, 3))
        )
        perm = self.rng.permutation(len(images))
        labels = {k: classes[perm, j] for j, k in enumerate(tfds_adapter.SPECS[name].labels)}
        splits = tfds_adapter.SPECS[name].split.split("+")  # smallnorb: train and test
        tfds_testing.write_prepared(name, self.root, images[perm], labels, splits=splits)
        self.monkeypatch.setenv("DISENTAX_CACHE", str(self.root / "cache"))
        return images


def writes(method: Callable, *args, **kwargs) -> Callable[[FakeFiles], dict]:
    """A ``FILE_WRITERS`` entry: ``method(fake, *args)``, then the kwargs of ``data.get``."""

    def build(fake: FakeFiles) -> dict:
        method(fake, *args)
        return {"data_dir": fake.root, **kwargs}

    return build


def image_folder(fake: FakeFiles) -> dict:
    """``images/``: a few PNGs of assorted sizes (read at 8x8, cached under ``root``)."""
    fake.monkeypatch.setenv("DISENTAX_CACHE", str(fake.root / "cache"))
    (fake.root / "images").mkdir(exist_ok=True)
    for i, size in enumerate([(9, 12), (20, 7), (8, 8)]):
        pixels = fake.rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(fake.root / "images" / f"{i}.png")
    return {"data_dir": fake.root / "images", "image_shape": (8, 8, 3)}


def celeba_folder(fake: FakeFiles) -> dict:
    """``celeba/img_align_celeba/`` (178x218 JPEGs) and ``list_attr_celeba.txt``."""
    fake.monkeypatch.setenv("DISENTAX_CACHE", str(fake.root / "cache"))
    folder = fake.root / "celeba" / "img_align_celeba"
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["3", "Smiling Young"]
    for i in range(3):
        pixels = fake.rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i + 1:06d}.jpg")
        lines.append(f"{i + 1:06d}.jpg 1 -1")
    (folder.parent / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return {"data_dir": fake.root, "image_shape": (8, 8, 3)}


# What each file-reading registry entry needs written before ``data.get`` can build it.
FILE_WRITERS: dict[str, Callable[[FakeFiles], dict]] = {
    "dsprites_file": writes(FakeFiles.dsprites_npz),
    "shapes3d": writes(FakeFiles.shapes3d),
    **{
        f"mpi3d_{variant}": writes(FakeFiles.mpi3d, variant, factor_sizes=FakeFiles.mpi3d_sizes)
        for variant in ("toy", "realistic", "real")
    },
    "smallnorb": writes(FakeFiles.smallnorb),
    "cars3d": writes(FakeFiles.cars3d),
    "tfds_dsprites": writes(FakeFiles.tfds, "dsprites"),
    "tfds_shapes3d": writes(FakeFiles.tfds, "shapes3d"),
    "tfds_smallnorb": writes(FakeFiles.tfds, "smallnorb"),
    "images": image_folder,
    "celeba": celeba_folder,
}


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Each test reads its own files: forget datasets loaded by an earlier test.
    resident.clear_cache()
    yield
    resident.clear_cache()


@pytest.fixture
def fake_files(tmp_path, monkeypatch) -> FakeFiles:
    return FakeFiles(tmp_path, monkeypatch)


@pytest.fixture
def assert_round_trip():
    """``check(dataset, expected_images, grid_sizes)``: observations equal the written
    image at the grid point of the factors, eagerly and under ``jit``."""

    def check(dataset, expected_images, grid_sizes, num=64):
        factors = dataset.sample_factors(jax.random.key(0), num)
        index = np.ravel_multi_index(np.asarray(factors).T, grid_sizes)
        got = np.asarray(dataset.observations(factors))
        np.testing.assert_allclose(got, expected_images[index], atol=1e-7)
        jitted = jax.jit(lambda d, f: d.observations(f))(dataset, factors)
        np.testing.assert_array_equal(np.asarray(jitted), got)

    return check


def pytest_generate_tests(metafunc):
    # Every entry of the registry, read when the tests are collected: a dataset added to
    # DATASETS gets the shared tests without a line here.
    if "registry_name" in metafunc.fixturenames:
        metafunc.parametrize("registry_name", data.names())


@pytest.fixture
def registry_entry(registry_name, fake_files, monkeypatch):
    """The registry entry ``registry_name``, built (for file readers: from a fake file).

    A file-reading entry without a writer in ``FILE_WRITERS`` is skipped, naming the gap.
    """
    monkeypatch.setenv("DISENTAX_DATA", str(fake_files.root / "no-user-data"))
    writer = FILE_WRITERS.get(registry_name)
    kwargs = writer(fake_files) if writer else {}
    try:
        return data.get(registry_name, **kwargs)
    except (DatasetNotFoundError, ImportError) as err:
        if writer is not None:
            raise
        pytest.skip(
            f"{registry_name} needs a file or package this machine lacks and "
            f"tests/data/conftest.py FILE_WRITERS has no writer for it: {err}"
        )
