"""disentax.runtime: the host allocator settings reuse XLA's temporary buffers."""

import json
import platform
import subprocess
import sys
import textwrap

import pytest

from disentax import runtime

# A jitted program whose one temporary buffer (a barrier-materialised 96 MiB intermediate)
# is larger than glibc's 64 MiB thread-arena heaps, so under glibc's defaults every call
# maps it afresh; the child prints the minor page faults per steady-state call.
_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from disentax.runtime import configure_host_allocator
    note = configure_host_allocator(sys.argv[1])
    import jax, jax.numpy as jnp
    from jax import lax

    @jax.jit
    def f(x):
        return (lax.optimization_barrier(jnp.sin(x)) * 2).sum()

    x = jnp.ones((24 * 2**20,), jnp.float32)
    f(x).block_until_ready()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        f(x).block_until_ready()
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 3
    huge = 0
    for line in open("/proc/self/smaps_rollup"):
        if line.startswith("AnonHugePages:"):
            huge = int(line.split()[1])
    print(json.dumps({"note": note, "faults": faults, "huge_kb": huge}))
    """
)


def _faults(mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, mode], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="the settings are glibc's",
)
def test_retain_stops_per_call_page_faults():
    retain, system = _faults("retain"), _faults("system")
    assert retain["note"].startswith("glibc malloc: one arena")
    assert system["note"].startswith("system malloc defaults")
    # glibc's defaults map and zero the 96 MiB buffer on every call (24,576 4 KiB pages
    # measured here); retained, the pages of the last call are reused.
    assert system["faults"] > 10_000
    assert retain["faults"] < 0.05 * system["faults"]
    if runtime._thp_mode() == "madvise":  # this machine's kernel: huge pages on request
        assert "advised for huge pages" in retain["note"]
        # the 96 MiB buffer (and more) sits in 2 MiB pages; nothing else asks for them
        assert retain["huge_kb"] >= 96 * 1024
        assert system["huge_kb"] == 0


def test_bad_mode_names_the_argument(monkeypatch):
    with pytest.raises(ValueError, match="mode must be one of"):
        runtime.configure_host_allocator("fast")
    monkeypatch.setenv(runtime.ENV_VAR, "nope")
    with pytest.raises(ValueError, match=runtime.ENV_VAR):
        runtime.configure_host_allocator()


def test_system_mode_changes_nothing(monkeypatch):
    monkeypatch.setenv(runtime.ENV_VAR, "system")
    assert runtime.configure_host_allocator() == (
        f"system malloc defaults ({runtime.ENV_VAR}=system)"
    )
