"""Reader of the published Cars3D files (per-car MATLAB ``.mat`` meshes).

Published layout (Reed et al. 2015, ``nips2015-analogy-data.tar.gz``): a folder
``data/cars/`` of 183 files ``car_XXX_mesh.mat``, each holding ``im`` of shape
``(128, 128, 3, 24, 4)`` uint8: RGB images over 24 azimuths and 4 elevations, plus a
``list.txt`` giving the order of the cars. Each image is resized to 64x64 (Lanczos),
giving 183 x 24 x 4 = 17,568 images over the factors (elevation 4, azimuth 24,
object 183) as in disentanglement_lib. The images stay uint8 on the device (216 MB).

References:
  Reed, Zhang, Zhang, Lee. Deep Visual Analogy-Making. NeurIPS 2015.
"""

from __future__ import annotations

import pathlib

import jax.numpy as jnp
import numpy as np
import scipy.io

from disentax._extras import require
from disentax.data import files
from disentax.data.files import DatasetFormatError
from disentax.data.ground_truth import FactorSpace
from disentax.data.resident import ArrayData, cached

SOURCE = (
    "http://www.scottreed.info/files/nips2015-analogy-data.tar.gz (extract it; the cars "
    "are in data/cars/)"
)
FACTOR_NAMES = ("elevation", "azimuth", "object")
IMAGE_SIZE = 64


def car_files(folder: pathlib.Path) -> list[pathlib.Path]:
    """The car files in ``list.txt`` order (sorted names when there is no list.txt)."""
    listing = folder / "list.txt"
    if listing.is_file():
        names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
        paths = [folder / (n if n.endswith(".mat") else f"{n}.mat") for n in names]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise DatasetFormatError(
                f"{listing}: lists {len(missing)} files that are missing, e.g. {missing[0]}"
            )
        return paths
    return sorted(folder.glob("car_*_mesh.mat"))


def load(data_dir=None, *, folder: str | pathlib.Path | None = None) -> ArrayData:
    """Cars3D as a device-resident dataset (elevation 4, azimuth 24, object 183; 64x64x3).

    Args:
      data_dir: folder holding ``cars/`` or ``data/cars/`` (default ``$DISENTAX_DATA``
        or ``~/disentax_data``; also looked for in its ``cars3d/`` sub-folder).
      folder: the folder of ``car_*_mesh.mat`` files itself, overriding ``data_dir``.

    Raises:
      DatasetNotFoundError: the folder or its files are not there.
      DatasetFormatError: a file is unreadable or its ``im`` array has the wrong shape.
    """
    if folder is None:
        folder = files.find_file(
            ["cars", "data/cars"], dataset="cars3d", data_dir=data_dir, source=SOURCE
        )
    folder = pathlib.Path(folder)
    paths = car_files(folder) if folder.is_dir() else []
    if not paths:
        raise files.DatasetNotFoundError(
            f"dataset 'cars3d': no car_*_mesh.mat files in {folder}. Get them from {SOURCE}"
        )
    return cached(paths[0], ("cars3d", tuple(map(str, paths))), lambda: _read(paths))


def _read(paths: list[pathlib.Path]) -> ArrayData:
    cars = []
    expected = None
    for path in paths:
        try:
            mat = scipy.io.loadmat(path)
        except Exception as err:  # scipy raises assorted errors on corrupt files
            raise DatasetFormatError(f"{path}: not a readable MATLAB .mat file ({err})") from err
        if "im" not in mat:
            keys = sorted(k for k in mat if not k.startswith("__"))
            raise DatasetFormatError(f"{path}: no array 'im' (it holds {keys})")
        im = mat["im"]
        if im.ndim != 5 or im.shape[2] != 3 or im.dtype != np.uint8:
            raise DatasetFormatError(
                f"{path}: 'im' must be uint8 [H, W, 3, azimuths, elevations], "
                f"got {im.dtype} {im.shape}"
            )
        if expected is not None and im.shape != expected:
            raise DatasetFormatError(f"{path}: 'im' has shape {im.shape}, other cars {expected}")
        expected = im.shape
        # (H, W, 3, azimuth, elevation) -> (elevation, azimuth, H, W, 3), resized.
        views = np.transpose(im, (4, 3, 0, 1, 2))
        cars.append(np.stack([[_resize(v) for v in row] for row in views]))
    data = np.stack(cars, axis=2)  # (elevation, azimuth, object, 64, 64, 3)
    grid = FactorSpace(data.shape[:3], FACTOR_NAMES)
    return ArrayData(
        name="cars3d",
        images=jnp.asarray(data.reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 3)),
        grid=grid,
        observation_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
    )


def _resize(image: np.ndarray) -> np.ndarray:
    if image.shape[:2] == (IMAGE_SIZE, IMAGE_SIZE):
        return image
    image_module = require("PIL.Image", "files", "reading Cars3D")  # resizing (Lanczos)
    resized = image_module.fromarray(image).resize(
        (IMAGE_SIZE, IMAGE_SIZE), image_module.Resampling.LANCZOS
    )
    return np.asarray(resized)
