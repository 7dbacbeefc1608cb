"""The C allocator of a long-running load-generator process: a fixed mmap threshold and a periodic trim.

A soak keeps one process busy for days; its Python objects stay flat (tracemalloc over a soak: the
traced heap did not grow), but its RSS crept up by 1-5 MiB per hour at 200 req/s
(bench/bench_soak.py, docs/performance.md).  The growth was glibc's main heap: the bytes in use
fell while the free bytes inside the heap rose (``mallinfo2``: fragmentation, free pages in the
middle of the heap that ``free`` never hands back; only the top is trimmed).

:func:`tune` (at the start of ``inferload run`` and ``inferload worker``) sets two ``mallopt``
parameters, which also switches glibc's dynamic adjustment of both off:

- ``M_MMAP_THRESHOLD`` :data:`MMAP_THRESHOLD_BYTES` (1 MiB): blocks above it (large numpy
  temporaries, message buffers) are mapped and unmapped on their own.  Left dynamic, one freed
  large block lifts the threshold up to 32 MiB and such blocks are carved out of the heap.  Not
  lower: the 188 KiB counts array of each HDR histogram a master decodes would then be a fresh
  mapping every time (page faults: a worker delta cost 13 ms instead of 2 ms to merge).
- ``M_TRIM_THRESHOLD`` :data:`TRIM_THRESHOLD_BYTES` (64 MiB): ``free`` no longer gives the heap's
  top back whenever it exceeds 128 KiB (a decoded delta, held at once, grew and shrank the heap
  by megabytes per report: page faults again); instead

:func:`trim` (``malloc_trim(0)``) hands every free page of the heap, top and middle, back to the
kernel; the coordinator and each worker call :func:`trim_every` on their loop, at most once a
minute (it took 0.5-1.7 ms on a 110 MiB process).  glibc only: elsewhere both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import time
from functools import lru_cache

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 1024 * 1024
TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024
TRIM_EVERY_S = 60.0

_last_trim = [0.0]


@lru_cache(maxsize=1)
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        for symbol in ("gnu_get_libc_version", "malloc_trim", "mallopt"):  # the first: glibc only
            getattr(libc, symbol)
    except (OSError, AttributeError):
        return None
    return libc


def tune() -> bool:
    """Fix glibc's mmap and trim thresholds (see the module docstring); True when both were set."""
    libc = _glibc()
    if libc is None:
        return False
    ok = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    ok = bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)) and ok
    if not ok:
        log.debug("mallopt refused a threshold")
    return ok


def trim() -> float:
    """Give the heap's free pages back to the kernel; the seconds it took (0 without glibc)."""
    libc = _glibc()
    if libc is None:
        return 0.0
    t = time.perf_counter()
    libc.malloc_trim(0)
    return time.perf_counter() - t


def trim_every(now: float, every_s: float = TRIM_EVERY_S) -> float:
    """:func:`trim` when ``every_s`` passed since this process last trimmed (``now``: a monotonic
    clock); the seconds it took, or 0."""
    if now - _last_trim[0] < every_s:
        return 0.0
    _last_trim[0] = now
    return trim()


__all__ = ["MMAP_THRESHOLD_BYTES", "TRIM_EVERY_S", "TRIM_THRESHOLD_BYTES", "trim", "trim_every", "tune"]
