"""Memory a visitor's request used, handed back to the system after it (issue 21).

Why: freed memory does not always leave the process. A request body gradio reads whole (up to
`HOSTED_BODY_BYTES`) becomes several large strings and bytes while it is parsed and checked;
after they are freed, glibc's allocator kept most of those pages: forty refused `/classify`
calls with a 15 MB text from made-up sessions left the app +1.1 GB (7 Dec 2026, the app as its
own process), of which a garbage-collector pass freed 0.14 GB (the refusals' tracebacks, kept
in reference cycles until the young generation's next pass) and `malloc_trim` 0.73 GB. glibc
raises its threshold for giving large blocks their own pages each time such a block is freed,
so later large blocks come from the shared heap and stay there.

How:
- `settle_allocator()` (at start, once) fixes that threshold at `MMAP_THRESHOLD`: a block of
  256 KB or more gets its own pages, returned when it is freed;
- `MemoryKeeper` (a daemon thread) looks at the process's resident size every `every_s`
  seconds; when it grew by `grown_bytes` since the last look that handed memory back, it runs a
  full collector pass and `malloc_trim(0)`. Both stop the other threads while they run (in
  the app, its objects frozen out of the collector's passes: 1.8 ms and 0.4-1.2 ms, measured
  7 Dec 2026), so they run only after such growth, at most once per `every_s`.
Both do nothing where the C library is not glibc (macOS, musl). This module imports nothing of
the app: `savs.export_space` copies it into exported Spaces.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import threading
import time

MMAP_THRESHOLD = 256 * 1024  # bytes: glibc's starting value is 128 KB, raised up to 32 MB
M_MMAP_THRESHOLD = -3  # mallopt's parameter number (glibc's malloc.h)


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:
        return None


LIBC = _glibc()


def settle_allocator(threshold: int = MMAP_THRESHOLD) -> bool:
    """Give blocks of `threshold` bytes or more their own pages, for good (see above).
    Returns whether the allocator took the setting."""
    return bool(LIBC and LIBC.mallopt(M_MMAP_THRESHOLD, threshold))


def resident_bytes() -> int:
    """The process's resident memory (0 where /proc is not there)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def hand_back() -> int:
    """A full collector pass, then the allocator's free pages returned; bytes freed (RSS)."""
    before = resident_bytes()
    gc.collect()
    if LIBC is not None:
        LIBC.malloc_trim(0)
    return max(0, before - resident_bytes())


class MemoryKeeper:
    """Hands memory back (`hand_back`) after the process grew by `grown_bytes` (see above)."""

    def __init__(self, every_s: float = 10.0, grown_bytes: int = 64 << 20) -> None:
        self.every_s, self.grown_bytes = every_s, grown_bytes
        self.low = resident_bytes()  # the resident size after the last hand-back
        self.handed_back = 0  # bytes, in all (for tests and logs)

    def look(self) -> bool:
        """One look: hand memory back if the process grew enough since the last one."""
        now = resident_bytes()
        if now - self.low < self.grown_bytes:
            self.low = min(self.low, now)
            return False
        self.handed_back += hand_back()
        self.low = resident_bytes()
        return True

    def start(self) -> threading.Thread:
        def loop() -> None:
            while True:
                time.sleep(self.every_s)
                self.look()

        thread = threading.Thread(target=loop, name="savs-memory-keeper", daemon=True)
        thread.start()
        return thread


__all__ = [
    "MMAP_THRESHOLD",
    "MemoryKeeper",
    "hand_back",
    "resident_bytes",
    "settle_allocator",
]
