"""The process's memory: its resident size, and handing freed heap pages back to the system.

Why trim: CPython hands objects over 512 bytes (socket reads, JSON bodies, SQLite's page cache,
growing lists) to the C allocator. glibc keeps what they free inside its heap, and a heap whose top
is still in use cannot shrink, so over a day the free space inside it only grows (the 24 h soak:
RSS 99 → 120 MB with 21 MB of live data in the heap from hour 7 on and the free part growing from
0.4 to 12 MB). ``malloc_trim(0)`` gives the whole free pages inside the heap back (``MADV_DONTNEED``);
called hourly in the soak it held RSS at ~110 MB, flat from hour 7 (+1.3 MB over the next 17 h).
One call takes 0.2-0.4 ms of the loop's time with that heap, so the supervisor calls it every
:data:`TRIM_EVERY_S` seconds, not per event.

Elsewhere than glibc (musl, macOS) there is no ``malloc_trim``: :func:`trim_heap` is then a no-op.
"""

from __future__ import annotations

import os
from collections.abc import Callable

TRIM_EVERY_S = 600.0

_trim: Callable[[int], int] | None = None
_looked_up = False
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _malloc_trim() -> Callable[[int], int] | None:
    global _trim, _looked_up
    if not _looked_up:
        _looked_up = True
        import ctypes  # here, not at start-up: ready is what start-up is timed to

        try:  # the symbols the interpreter is linked with (no find_library: it runs ldconfig or gcc)
            fn = getattr(ctypes.CDLL(None), "malloc_trim", None)
        except OSError:
            fn = None
        if fn is not None:
            fn.argtypes = [ctypes.c_size_t]
            fn.restype = ctypes.c_int
            _trim = fn
    return _trim


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
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None
