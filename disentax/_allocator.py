"""Process-level settings of the host allocator, private to the ``disentax`` command.

XLA:CPU gives every execution of a compiled program one fresh temporary buffer for its
intermediates and frees it afterwards. glibc's ``malloc`` serves blocks above its mmap
threshold with a fresh ``mmap`` and unmaps them on free (and a thread's own arena does so
for blocks larger than its 64 MiB heaps), so every train step page-faults its temporary
buffer in and out again. :func:`configure_host_allocator` keeps freed memory in the
process instead:

* ``"huge_pages"`` (default of ``disentax train`` and ``disentax bench``): no ``mmap`` for
  large blocks, no trimming of the heap top, JAX's CPU computations run inline on the
  calling thread (so their buffers come from the main heap), and the first 1 GiB of that
  heap advised for transparent huge pages where the kernel is in ``madvise`` mode;
* ``"retain"``: the same without the huge-page advice;
* ``"one_arena"`` (default of ``disentax evaluate`` and its worker process): one glibc
  arena for all threads (``M_ARENA_MAX=1``), because scoring allocates its large buffers
  on XLA's worker threads; it slows compilation and two-thread training, so training does
  not use it;
* ``"system"``: glibc's defaults.

The measurements behind these choices are in ``docs/performance/allocator.md``. The
process keeps its high-water mark of host memory until it exits, which suits the
command's own processes; library users who want the same in their program set the
environment variable ``DISENTAX_HOST_ALLOCATOR`` (one of the modes) and run through the
``disentax`` command, or call :func:`configure_host_allocator` themselves knowing that it
changes their whole process. The variable overrides the mode everywhere.

References:
    The GNU C Library manual, "Malloc Tunable Parameters" (``mallopt``: ``M_ARENA_MAX``,
    ``M_MMAP_MAX``, ``M_TRIM_THRESHOLD``) and its source (``malloc/arena.c``: a thread
    arena's heaps are at most 64 MiB and larger blocks are mapped whatever ``M_MMAP_MAX``
    says).
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
_CHOICES = ("huge_pages", "retain", "one_arena", "system")


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
    """Advises the first ``HUGE_PAGE_HEAP`` bytes of the heap for transparent huge pages.

    Grows the (non-trimmed) heap by that much, advises its aligned part and frees it, so
    that later blocks are carved from it. Only in ``madvise`` mode (``always`` needs
    nothing; ``never`` allows nothing); done once.
    """
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


def _run_inline() -> bool:
    """Makes JAX's CPU backend run one-device computations on the calling thread.

    Returns False (nothing changed) when the backend has already started.
    """
    import jax

    try:  # JAX has no public query for this; without it, assume not started
        from jax._src.xla_bridge import backends_are_initialized
    except ImportError:  # pragma: no cover -- a JAX that moved it

        def backends_are_initialized():
            return False

    if backends_are_initialized():
        return not jax.config.values["jax_cpu_enable_async_dispatch"]
    jax.config.update("jax_cpu_enable_async_dispatch", False)
    return True


def configure_host_allocator(mode: str | None = None, *, default: str = "huge_pages") -> str:
    """Makes glibc's ``malloc`` keep and reuse XLA's temporary buffers.

    See the module docstring for the modes and what each costs.

    Call it before JAX's CPU backend starts (before the first computation or device
    query): the backend fixes its dispatch mode when it starts, and a thread keeps the
    malloc arena it was first given. Calling it again is harmless.

    Args:
        mode: ``"huge_pages"`` (keep freed memory, run computations inline, advise the heap
            for huge pages), ``"retain"`` (the same without huge pages), ``"one_arena"``
            (one malloc arena for all threads, huge pages) or ``"system"`` (change
            nothing); ``None`` reads ``DISENTAX_HOST_ALLOCATOR`` and falls back to
            ``default``.
        default: the mode when ``mode`` is None and the environment variable is unset.

    Returns:
        What was done, in words (for logs and benchmark records).

    Raises:
        ValueError: ``mode`` (or the environment variable, or ``default``) is not one of
            the choices.
    """
    mode, source = _resolve_mode(mode, default)
    if mode == "system":
        return f"system malloc defaults ({source}=system)"
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return "system malloc defaults (not glibc)"
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    settings = ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, _TRIM_NEVER))
    if mode == "one_arena":
        settings = ((_M_ARENA_MAX, 1), *settings)
    if not all(libc.mallopt(param, value) == 1 for param, value in settings):
        return "system malloc defaults (mallopt refused the settings)"
    note = "glibc malloc: " + ("one arena, " if mode == "one_arena" else "") + "no mmap, no trim"
    if mode in ("huge_pages", "one_arena") and _advise_huge_pages(libc):
        note += f", {HUGE_PAGE_HEAP >> 20} MiB of heap advised for huge pages"
    return note + _threads_note(mode)


def _resolve_mode(mode: str | None, default: str) -> tuple[str, str]:
    """``(mode, where it came from)``: the argument, else the environment, else ``default``."""
    source = "mode"
    if mode is None:
        mode, source = os.environ.get(ENV_VAR), ENV_VAR
        if mode is None:
            mode, source = default, "default"
    if mode not in _CHOICES:
        raise ValueError(f"{source} must be one of {_CHOICES}, got {mode!r}")
    return mode, source


def _threads_note(mode: str) -> str:
    """Arenas kept by running threads (one_arena) or how JAX's CPU computations run."""
    note = ""
    if mode == "one_arena":
        threads = _thread_count()
        if threads is not None and threads > 1:
            note += f" (set with {threads} threads running: their arenas were kept)"
    elif _run_inline():
        note += "; JAX CPU computations run inline"
    else:
        note += "; JAX's CPU backend had already started with asynchronous dispatch"
    return note
