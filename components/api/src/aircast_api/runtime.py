"""Process-wide GC tuning applied once at start-up (see ``main.create_app``'s lifespan).

A 1,000-location batch allocates ~10^4 Python containers and tens of MB of short-lived
arrays per request. What is tuned for that, and what is not:

- **Cyclic GC (tuned).** Everything imported at start-up (~10^5 objects) lives as long as the
  process: frozen, full collections no longer walk it (they showed as tens-of-ms stalls in
  tail latency). A request's objects die when it ends, but at the default young-generation
  threshold (700) a batch was collected a dozen times, each walking its lists of values
  (~5 ms); at :data:`GC_THRESHOLD` they are freed first.
- **glibc malloc (not tuned).** Fixed mmap/trim thresholds (mallopt(3)) keep a batch's arrays
  mapped between requests instead of faulting them in again: ~5 ms less per 1,000-location
  batch in alternating runs of two servers, but 50-80 MB more resident after load (bench: 300
  MB, peak 313, against a 300 MB budget). glibc's adaptive defaults stay.
"""

from __future__ import annotations

import gc

# Net new container objects between collections of the youngest generation.
GC_THRESHOLD = 20_000


def tune_gc() -> None:
    """Freeze the start-up heap out of the cyclic GC and raise the young threshold."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
