"""disentax._allocator: the host allocator settings reuse XLA's temporary buffers."""

import json
import os
import platform
import subprocess
import sys
import textwrap

import pytest

from disentax import _allocator as allocator

# A jitted program whose one temporary buffer (a barrier-materialised 96 MiB intermediate)
# is larger than glibc's 64 MiB thread-arena heaps and its 32 MiB mmap threshold, so under
# glibc's defaults every call maps it afresh. The child prints the minor page faults of
# each call after a first, compiling one (the second call may still place the buffer
# afresh once; the median is the steady state).
_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from disentax._allocator import configure_host_allocator
    note = configure_host_allocator(sys.argv[1])
    import jax, jax.numpy as jnp
    from jax import lax

    @jax.jit
    def f(x):
        return (lax.optimization_barrier(jnp.sin(x)) * 2).sum()

    x = jnp.ones((24 * 2**20,), jnp.float32)
    f(x).block_until_ready()
    faults = []
    for _ in range(7):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        f(x).block_until_ready()
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    huge = 0
    for line in open("/proc/self/smaps_rollup"):
        if line.startswith("AnonHugePages:"):
            huge = int(line.split()[1])
    print(json.dumps({"note": note, "faults": sorted(faults)[3], "huge_kb": huge}))
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


@pytest.mark.perf
@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="the settings are glibc's",
)
def test_retain_stops_per_call_page_faults():
    huge, retain, system = _faults("huge_pages"), _faults("retain"), _faults("system")
    one = _faults("one_arena")
    assert retain["note"] == "glibc malloc: no mmap, no trim; JAX CPU computations run inline"
    assert system["note"].startswith("system malloc defaults")
    # glibc's defaults map and zero the 96 MiB buffer on every call (24,577 4 KiB pages
    # measured here); retained, the pages of the last call are reused (0 measured).
    assert system["faults"] > 10_000
    assert retain["faults"] < 0.05 * system["faults"]
    assert huge["faults"] < 0.05 * system["faults"]
    assert one["faults"] < 0.05 * system["faults"]
    assert one["note"].startswith("glibc malloc: one arena, no mmap, no trim")
    assert retain["huge_kb"] == system["huge_kb"] == 0  # nothing else asks for huge pages
    if allocator._thp_mode() == "madvise":  # this machine's kernel: huge pages on request
        assert "1024 MiB of heap advised for huge pages" in huge["note"]
        assert huge["huge_kb"] >= 96 * 1024  # the 96 MiB buffer (and more) in 2 MiB pages
        assert "1024 MiB of heap advised for huge pages" in one["note"]


def test_bad_mode_names_the_argument(monkeypatch):
    with pytest.raises(ValueError, match="mode must be one of"):
        allocator.configure_host_allocator("fast")
    monkeypatch.setenv(allocator.ENV_VAR, "nope")
    with pytest.raises(ValueError, match=allocator.ENV_VAR):
        allocator.configure_host_allocator()


def test_default_applies_when_the_environment_is_silent(monkeypatch):
    monkeypatch.delenv(allocator.ENV_VAR, raising=False)
    with pytest.raises(ValueError, match="default must be one of"):
        allocator.configure_host_allocator(default="fast")
    monkeypatch.setenv(allocator.ENV_VAR, "system")  # the environment wins over the default
    assert allocator.configure_host_allocator(default="one_arena").startswith("system malloc")


def test_system_mode_changes_nothing(monkeypatch):
    monkeypatch.setenv(allocator.ENV_VAR, "system")
    assert allocator.configure_host_allocator() == (
        f"system malloc defaults ({allocator.ENV_VAR}=system)"
    )


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="the settings are glibc's",
)
def test_started_backend_is_reported_not_changed():
    # The CPU client fixes its dispatch mode when it starts; a later call says so.
    child = textwrap.dedent(
        """
        import jax
        jax.devices()
        from disentax._allocator import configure_host_allocator
        print(configure_host_allocator("retain"))
        print(jax.config.values["jax_cpu_enable_async_dispatch"])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[-2].endswith("JAX's CPU backend had already started with asynchronous dispatch")
    assert out[-1] == "True"
