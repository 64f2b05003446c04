"""Test harness: 8 simulated CPU devices and a persistent compilation cache.

Both must be configured before jax is imported anywhere, hence at the top of the
conftest (pytest imports it before any test module).
"""

import os
import pathlib

_flags = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in _flags:
    os.environ["XLA_FLAGS"] = (_flags + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# The cache folder belongs to the test run (inside the checkout, git-ignored), so a
# second run of the suite reuses the compiled programs of the first.
_CACHE_DIR = pathlib.Path(__file__).resolve().parent.parent / ".jax_cache" / "tests"
_CACHE_DIR.mkdir(parents=True, exist_ok=True)

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_compilation_cache_dir", str(_CACHE_DIR))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@pytest.fixture(scope="session")
def num_devices() -> int:
    return jax.device_count()
