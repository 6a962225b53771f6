"""kalshid.memory: the RSS reading and giving the C heap's free pages back."""

import platform

import pytest

from kalshid import memory

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")


def test_rss_is_this_process_resident_size() -> None:
    rss = memory.rss_bytes()
    assert rss is not None and 10 * 2**20 < rss < 4 * 2**30
    with open("/proc/self/status") as f:
        vmrss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
    assert abs(vmrss - rss) < 8 * 2**20


@glibc
def test_trim_gives_freed_heap_pages_back() -> None:
    # 40 MB of 1 KB blocks (over CPython's 512-byte small-object limit, so from malloc's heap), then
    # all but the last freed: the last pins the heap's top, so glibc keeps the freed pages resident
    blocks = [bytes(1024) + bytes([i % 256]) for i in range(40_000)]
    keep = blocks[-1]
    before_free = memory.rss_bytes()
    del blocks
    freed = memory.rss_bytes()
    assert memory.trim_heap() is True
    trimmed = memory.rss_bytes()
    assert before_free is not None and freed is not None and trimmed is not None
    assert freed - trimmed > 20 * 2**20, (before_free, freed, trimmed)
    assert keep[-1] == 39_999 % 256
