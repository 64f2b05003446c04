"""Test harness and shared fixtures.

8 simulated CPU devices and a persistent compilation cache, both configured before jax is
imported anywhere, hence at the top of the conftest (pytest imports it before any test
module). The fixtures every room shares are defined once here:

* ``tiny_config(*overrides)``: the shipped default config shrunk to a few steps of a
  dense VAE on a synthetic dataset (seconds on a CPU), with ``--config.KEY=VALUE``
  overrides.
* ``tiny_vae``, ``make_vae``, ``tiny_images``, ``inactive_latent``: a tiny dense VAE
  whose weights the tests control. Its encoder and decoder are single dense layers so a
  test can make a latent exactly inactive: zero encoder weights and biases for latent
  ``j`` give ``mean_j = 0`` and ``logvar_j = 0`` (KL exactly 0), and a zero decoder row
  makes the image independent of ``z_j``. The modules plug into ``disentax.models.VAE``
  so the library functions run through the real ``encode``/``decode`` path.
"""

import contextlib
import gc
import os
import pathlib

_flags = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in _flags:
    os.environ["XLA_FLAGS"] = (_flags + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# `disentax.cli.main` called in a test would set the command's host allocator (no trim, no
# mmap) for the rest of the worker's life, so every transient peak stays resident; in CI
# two such workers outgrew 24 GiB. Tests keep glibc's defaults (an explicit mode wins).
os.environ.setdefault("DISENTAX_HOST_ALLOCATOR", "system")

# The cache folder belongs to the test run (inside the checkout, git-ignored), so a
# second run of the suite reuses the compiled programs of the first.
_CACHE_DIR = pathlib.Path(__file__).resolve().parent.parent / ".jax_cache" / "tests"
_CACHE_DIR.mkdir(parents=True, exist_ok=True)

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from disentax.models import VAE  # noqa: E402

jax.config.update("jax_compilation_cache_dir", str(_CACHE_DIR))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drops the compiled programs of a test module when it ends.

    A worker runs a hundred modules; their executables (eight simulated devices each)
    would otherwise add up to gigabytes. The persistent cache makes a recompile cheap.
    """
    yield
    jax.clear_caches()
    gc.collect()


@pytest.fixture(scope="session")
def num_devices() -> int:
    return jax.device_count()


IMAGE_SHAPE = (8, 8, 1)
NUM_LATENTS = 4
INACTIVE = 2  # the latent the `tiny_vae` fixture switches off


class TinyEncoder(nn.Module):
    num_latents: int

    @nn.compact
    def __call__(self, images):
        flat = images.reshape(images.shape[0], -1)
        mean = nn.Dense(self.num_latents, name="mean")(flat)
        logvar = nn.Dense(self.num_latents, name="logvar")(flat)
        return mean, logvar


class TinyDecoder(nn.Module):
    image_shape: tuple

    @nn.compact
    def __call__(self, z):
        logits = nn.Dense(int(np.prod(self.image_shape)), name="out")(z)
        return logits.reshape(z.shape[0], *self.image_shape)


def make_tiny_vae(num_latents: int = NUM_LATENTS, image_shape=IMAGE_SHAPE) -> VAE:
    return VAE(TinyEncoder(num_latents), TinyDecoder(tuple(image_shape)))


def tiny_params(model: VAE, *, inactive=(INACTIVE,), seed: int = 0):
    """Random weights (scaled so latents are informative) with ``inactive`` switched off."""
    num_latents, size = model.num_latents, int(np.prod(model.image_shape))
    rng = np.random.default_rng(seed)
    enc_mean = rng.normal(0.0, 1.0, (size, num_latents)) / np.sqrt(size) * 4.0
    enc_logvar = rng.normal(0.0, 0.1, (size, num_latents))
    dec = rng.normal(0.0, 2.0, (num_latents, size))
    bias_logvar = np.full(num_latents, -2.0)
    for j in inactive:
        enc_mean[:, j] = 0.0
        enc_logvar[:, j] = 0.0
        bias_logvar[j] = 0.0
        dec[j, :] = 0.0
    f32 = lambda a: jnp.asarray(a, jnp.float32)
    return {
        "encoder": {
            "mean": {"kernel": f32(enc_mean), "bias": jnp.zeros(num_latents)},
            "logvar": {"kernel": f32(enc_logvar), "bias": f32(bias_logvar)},
        },
        "decoder": {"out": {"kernel": f32(dec), "bias": jnp.zeros(size)}},
    }


@pytest.fixture(scope="session")
def inactive_latent() -> int:
    return INACTIVE


@pytest.fixture(scope="session")
def make_vae():
    """The factory pair ``(make_tiny_vae, tiny_params)`` for tests needing other weights."""
    return make_tiny_vae, tiny_params


@pytest.fixture(scope="module")
def tiny_vae():
    model = make_tiny_vae()
    return model, tiny_params(model)


@pytest.fixture(scope="module")
def tiny_images():
    """``[24, 8, 8, 1]`` random images in [0, 1]."""
    return jax.random.uniform(jax.random.key(1), (24, *IMAGE_SHAPE), jnp.float32)


# A few steps of a dense VAE on a synthetic dataset, evaluation off.
TINY_OVERRIDES = (
    "--config.model=fc",
    "--config.dataset=synthetic_identity",
    "--config.batch_size=8",
    "--config.num_latents=4",
    "--config.num_steps=6",
    "--config.log_every=2",
    "--config.checkpoint_every=3",
    "--config.evaluate=False",
)


@pytest.fixture(scope="session")
def tiny_config():
    """``tiny_config(*overrides)``: the default config shrunk by :data:`TINY_OVERRIDES`."""
    from disentax import runs

    def make(*overrides: str):
        return runs.load_config("default", [*TINY_OVERRIDES, *overrides])

    return make


@pytest.fixture(scope="session")
def identity_representation():
    """``images [N, ...] -> [N, prod(...)]``: the identity representation.

    On the ``synthetic_identity`` dataset (and disentanglement_lib's
    ``IdentityObservationsData``) the flattened observations are the factor values.
    """
    return lambda images: images.reshape(images.shape[0], -1)


@pytest.fixture()
def compile_events():
    """A context manager recording the JAX compile events inside its block.

    ``with compile_events() as events: ...`` then ``events`` lists the names of the
    ``/jax/core/compile/...`` events (tracing, lowering, compiling) recorded by
    ``jax.monitoring``: empty when every call hit a cached program.
    """

    @contextlib.contextmanager
    def record():
        events = []

        def listener(name, seconds, **kwargs):
            if name.startswith("/jax/core/compile/"):
                events.append(name)

        jax.monitoring.register_event_duration_secs_listener(listener)
        try:
            yield events
        finally:
            jax.monitoring.unregister_event_duration_listener(listener)

    return record
