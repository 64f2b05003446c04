"""disentax: disentangled representation learning in JAX.

Models and objectives of the VAE family, jit-compiled data-parallel training, and the
field's disentanglement metrics as pure, vmappable JAX kernels.

The public API lives in the sub-packages (``disentax.data``, ``disentax.models``,
``disentax.losses``, ``disentax.metrics``, ``disentax.train``, ``disentax.viz``); this
module holds only the version.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
