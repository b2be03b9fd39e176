"""Process-wide memory tuning applied once at start-up (see ``main.create_app``'s lifespan).

A 1,000-location batch allocates ~10^4 Python containers and ~100 MB of short-lived arrays
per request. Left to the defaults, both the cyclic GC and glibc's allocator spend a share of
every batch on bookkeeping that this workload does not need:

- **Cyclic GC.** Everything imported at start-up (~10^5 objects) lives as long as the process:
  frozen, full collections no longer walk it (they showed as tens-of-ms stalls in tail
  latency). A request's objects die when it ends, but at
  the default young-generation threshold (700) a batch was collected a dozen times, each
  walking its lists of values (~5 ms); at :data:`GC_THRESHOLD` they are freed first.
- **glibc malloc.** Arrays above the (dynamic) mmap threshold are mapped and unmapped per
  request, and freed heap above 128 KiB is handed back to the kernel: the next request
  faults the same pages in again. :data:`MALLOC_OPTIONS` keeps them mapped (alternating
  runs of the same server, 1,000-location batch: ~5 ms less per request, RSS unchanged at
  ~230 MB after load). Skipped where the C library is not glibc, and when the operator set
  any ``MALLOC_*_`` variable: theirs win.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os

log = logging.getLogger(__name__)

# Net new container objects between collections of the youngest generation.
GC_THRESHOLD = 20_000

# mallopt(3) parameters of glibc (<malloc.h>) and the values set.
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
MALLOC_OPTIONS = {
    "MALLOC_TRIM_THRESHOLD_": (_M_TRIM_THRESHOLD, 256 * 2**20),
    "MALLOC_TOP_PAD_": (_M_TOP_PAD, 64 * 2**20),
    "MALLOC_MMAP_THRESHOLD_": (_M_MMAP_THRESHOLD, 64 * 2**20),
}


def tune_gc() -> None:
    """Freeze the start-up heap out of the cyclic GC and raise the young threshold."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])


def tune_malloc() -> bool:
    """Apply :data:`MALLOC_OPTIONS` with mallopt(3); False when skipped (see module doc)."""
    chosen = sorted(name for name in MALLOC_OPTIONS if name in os.environ)
    if chosen:
        log.info("malloc tuning skipped: %s set in the environment", ", ".join(chosen))
        return False
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols, the C library's among them
        mallopt, gnu_get_libc_version = libc.mallopt, libc.gnu_get_libc_version
    except (OSError, AttributeError):
        return False  # not glibc (musl, macOS): its allocator has none of these knobs
    gnu_get_libc_version.restype = ctypes.c_char_p
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    applied = all(mallopt(param, value) == 1 for param, value in MALLOC_OPTIONS.values())
    log.info("malloc tuned (glibc %s): %s", gnu_get_libc_version().decode(), applied)
    return applied
