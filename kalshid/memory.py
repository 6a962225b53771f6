"""The process's memory: its resident size, and handing freed heap pages back to the system.

Why trim: CPython hands objects over 512 bytes (socket reads, JSON bodies, SQLite's page cache) to
the C allocator, and glibc keeps what they free inside a heap that cannot shrink while its top is in
use, so over a day the free space inside it only grows. ``malloc_trim(0)`` gives the whole free pages
inside the heap back (``MADV_DONTNEED``); the supervisor calls it every :data:`TRIM_EVERY_S` seconds,
which keeps the daemon's RSS flat over a simulated day at 0.2-0.4 ms of the loop's time per call
(figures and method: docs/performance.md, "Memory").

Elsewhere than glibc (musl, macOS) there is no ``malloc_trim``: :func:`trim_heap` is then a no-op.
"""

from __future__ import annotations

import functools
import mmap
from collections.abc import Callable

TRIM_EVERY_S = 600.0


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    import ctypes  # here, not at start-up: ready is what start-up is timed to

    try:  # the symbols the interpreter is linked with (no find_library: it runs ldconfig or gcc)
        fn = getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:
        return None
    if fn is not None:
        fn.argtypes = [ctypes.c_size_t]
        fn.restype = ctypes.c_int
    return fn


def trim_heap() -> bool:
    """Give the C heap's free pages back to the system. False where the C library cannot (not glibc)."""
    fn = _malloc_trim()
    if fn is None:
        return False
    fn(0)
    return True


def rss_bytes() -> int | None:
    """This process's resident set size now (Linux ``/proc/self/statm``); None where there is none."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * mmap.PAGESIZE
    except (OSError, ValueError, IndexError):
        return None
