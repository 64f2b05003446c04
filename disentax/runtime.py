"""Process-level settings of the host runtime, for programs that own their process.

XLA:CPU gives every execution of a compiled program one fresh temporary buffer for all
its intermediates (``xla::CpuDeviceMemory``, through ``posix_memalign``) and frees it
afterwards. glibc's ``malloc`` serves any block above its mmap threshold (at most 32 MiB)
with a fresh ``mmap`` and returns it with ``munmap`` on free, and a thread's own arena
falls back to ``mmap`` for blocks larger than its 64 MiB heaps whatever the threshold.
So every train step of the reference β-VAE at batch 64 (a 74 MiB temporary buffer)
page-faulted 18,926 zeroed 4 KiB pages in and out again.

:func:`configure_host_allocator` keeps freed memory in the process instead (mode
``"retain"``): one malloc arena (so no thread-arena ``mmap`` fallback), no ``mmap`` for
large blocks (the heap grows with ``brk``) and no trimming of the heap top, so the next step
reuses the pages of the last (0 page faults per step). Where the kernel offers transparent
huge pages on request (``madvise`` mode), mode ``"huge_pages"`` (the default) also advises
the first 1 GiB of that heap for them (``MADV_HUGEPAGE``), which cuts the TLB misses of
XLA's large buffers. ``disentax bench host/allocator`` times the reference step under each
mode, each in its own process, and records the peak resident size. The costs: the
process keeps its high-water mark of host memory until it exits, which suits training and
benchmark processes, and the compiler's threads contend for the one arena, which made the
first (compiling) step of ``disentax train`` ~2.5 s later on 2 cores (8.2 vs 4.6 s in
``disentax bench startup/first_step``; the faster steps repay it after ~120 steps). The
``disentax`` command and ``disentax bench`` call it first thing; Python users may call it
at the start of their own program.
``DISENTAX_HOST_ALLOCATOR=retain|system`` chooses a lesser mode.

The same settings can be given to any process through the environment, before it starts:
``GLIBC_TUNABLES=glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=2147483647:glibc.malloc.hugetlb=1``.

References:
    The GNU C Library manual, "Malloc Tunable Parameters" (``mallopt``: ``M_ARENA_MAX``,
    ``M_MMAP_MAX``, ``M_TRIM_THRESHOLD``).
    The Linux kernel's admin guide, "Transparent Hugepage Support" (``madvise`` mode).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import pathlib
import platform
import sys

# mallopt parameter numbers from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
_TRIM_NEVER = 2**31 - 1  # the largest value mallopt's int accepts (2 GiB)
_MADV_HUGEPAGE = 14  # <sys/mman.h>
_HUGE_PAGE = 2 << 20
HUGE_PAGE_HEAP = 1 << 30  # bytes of heap advised for huge pages (address space, not memory)
_THP_MODE = pathlib.Path("/sys/kernel/mm/transparent_hugepage/enabled")

ENV_VAR = "DISENTAX_HOST_ALLOCATOR"
_CHOICES = ("huge_pages", "retain", "system")


def _thread_count() -> int | None:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def _thp_mode() -> str | None:
    """The kernel's transparent-huge-page mode (``always``, ``madvise``, ``never``)."""
    try:
        text = _THP_MODE.read_text()
    except OSError:
        return None
    start, end = text.find("["), text.find("]")
    return text[start + 1 : end] if 0 <= start < end else None


def _advise_huge_pages(libc: ctypes.CDLL) -> bool:
    """Grows the (non-trimmed) heap by ``HUGE_PAGE_HEAP``, advises its aligned part for
    transparent huge pages and frees it, so that later blocks are carved from it. Only in
    ``madvise`` mode (``always`` needs nothing; ``never`` allows nothing); done once."""
    global _huge_pages_advised
    if _huge_pages_advised or _thp_mode() != "madvise":
        return _huge_pages_advised
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    block = libc.malloc(HUGE_PAGE_HEAP)
    if not block:
        return False
    start = -(-block // _HUGE_PAGE) * _HUGE_PAGE
    length = (block + HUGE_PAGE_HEAP - start) // _HUGE_PAGE * _HUGE_PAGE
    _huge_pages_advised = libc.madvise(start, length, _MADV_HUGEPAGE) == 0
    libc.free(block)  # stays in the heap: trimming is off
    return _huge_pages_advised


_huge_pages_advised = False


def configure_host_allocator(mode: str | None = None) -> str:
    """Makes glibc's ``malloc`` keep and reuse freed memory (see the module docstring).

    Call it before JAX runs its first computation: a thread that has already been given
    its own malloc arena keeps it. Calling it again is harmless.

    Args:
        mode: ``"huge_pages"`` (keep freed memory and advise the heap for huge pages),
            ``"retain"`` (keep freed memory only) or ``"system"`` (change nothing);
            ``None`` reads ``DISENTAX_HOST_ALLOCATOR`` and defaults to ``"huge_pages"``.

    Returns:
        What was done, in words (for logs and benchmark records).

    Raises:
        ValueError: ``mode`` (or the environment variable) is not one of the choices.
    """
    source = "mode"
    if mode is None:
        mode, source = os.environ.get(ENV_VAR, "huge_pages"), ENV_VAR
    if mode not in _CHOICES:
        raise ValueError(f"{source} must be one of {_CHOICES}, got {mode!r}")
    if mode == "system":
        return f"system malloc defaults ({source}=system)"
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return "system malloc defaults (not glibc)"
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    settings = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, _TRIM_NEVER))
    if not all(libc.mallopt(param, value) == 1 for param, value in settings):
        return "system malloc defaults (mallopt refused the settings)"
    note = "glibc malloc: one arena, no mmap, no trim"
    if mode == "huge_pages" and _advise_huge_pages(libc):
        note += f", {HUGE_PAGE_HEAP >> 20} MiB of heap advised for huge pages"
    threads = _thread_count()
    if threads is not None and threads > 1:
        note += f" (set with {threads} threads running: their arenas were kept)"
    return note
