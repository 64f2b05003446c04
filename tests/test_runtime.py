"""disentax.runtime: the host allocator settings reuse XLA's temporary buffers."""

import json
import os
import platform
import subprocess
import sys
import textwrap

import pytest

from disentax import runtime

# A jitted program whose one temporary buffer (a barrier-materialised 96 MiB intermediate)
# is larger than glibc's 64 MiB thread-arena heaps, so under glibc's defaults every call
# maps it afresh; the child prints the minor page faults per steady-state call. It runs on
# one core: on two, XLA:CPU splits this elementwise program across threads and the
# retained modes still showed 64 MiB of faults per call (cause not found), while the
# reference train step showed 0 faults per step on two cores as on one.
_CHILD = textwrap.dedent(
    """
    import json, os, resource, sys
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
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
    # One host device, as `disentax train` runs (the tests' 8 forced host devices add
    # threads whose allocations interleave with the buffer's and sometimes move it).
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, mode], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="the settings are glibc's",
)
def test_retain_stops_per_call_page_faults():
    huge, retain, system = _faults("huge_pages"), _faults("retain"), _faults("system")
    assert retain["note"] == "glibc malloc: one arena, no mmap, no trim"
    assert system["note"].startswith("system malloc defaults")
    # glibc's defaults map and zero the 96 MiB buffer on every call (24,576 4 KiB pages
    # measured here); retained, the pages of the last call are reused.
    assert system["faults"] > 10_000
    assert retain["faults"] < 0.05 * system["faults"]
    assert huge["faults"] < 0.05 * system["faults"]
    assert retain["huge_kb"] == system["huge_kb"] == 0  # nothing else asks for huge pages
    if runtime._thp_mode() == "madvise":  # this machine's kernel: huge pages on request
        assert "1024 MiB of heap advised for huge pages" in huge["note"]
        assert huge["huge_kb"] >= 96 * 1024  # the 96 MiB buffer (and more) in 2 MiB pages


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
