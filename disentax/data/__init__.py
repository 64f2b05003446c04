"""disentax.data: ground-truth datasets as arrays from keys.

``get(name, **kwargs)`` builds a dataset by name (``names()`` lists them); every
dataset follows the :class:`GroundTruthData` protocol (``factor_names``,
``factor_sizes``, ``observation_shape``, ``sample_factors(key, num)``,
``observations(factors)``). ``dsprites`` (the default) is rendered on the device by a
jittable JAX function; the readers of the published files keep the images uint8 on the
device. :mod:`disentax.data.sampling` makes per-step, per-host global batches.
"""

from disentax.data import sampling
from disentax.data.catalog import DATASETS, get, names
from disentax.data.correlated import Correlated, CorrelatedPair, correlate, parse_correlations
from disentax.data.dsprites import DSprites, render, render_values
from disentax.data.files import DatasetFormatError, DatasetNotFoundError, resolve_data_dir
from disentax.data.ground_truth import FactorSpace, GroundTruthData, factor_table
from disentax.data.image_cache import SkippedImagesWarning
from disentax.data.images import ImageData
from disentax.data.preview import image_grid, show
from disentax.data.resident import ArrayData
from disentax.data.synthetic import Identity, Noise, Rotation
from disentax.data.variants import ColorDSprites, NoisyDSprites, ScreamDSprites

__all__ = [
    "DATASETS",
    "ArrayData",
    "ColorDSprites",
    "Correlated",
    "CorrelatedPair",
    "DSprites",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "FactorSpace",
    "GroundTruthData",
    "Identity",
    "ImageData",
    "Noise",
    "NoisyDSprites",
    "Rotation",
    "ScreamDSprites",
    "SkippedImagesWarning",
    "correlate",
    "factor_table",
    "get",
    "image_grid",
    "names",
    "parse_correlations",
    "render",
    "render_values",
    "resolve_data_dir",
    "sampling",
    "show",
]
