"""How long a thread may hold the interpreter while another waits for it, set once for a server.

Why: gradio runs every event's callback, and each of its outputs' postprocessing, in worker
threads, and hands each result back to its event loop; a click is a dozen such handoffs. A
thread that wants the interpreter (the GIL) waits until the one holding it lets go, which a
busy thread does only every switch interval: 5 ms by default. So a click paid up to 5 ms per
handoff whenever another thread was busy (a model pass, another click's figures, a webcam's
frame), even with no other visitor. Measured (benchmarks/RESULTS.md, classroom, "6 Dec 2026,
late"; three interleaved pairs, same CPU in both): one student alone p95 31-41 -> 25 ms (to the
answer) and 53-75 -> 44-46 ms (with the redraw); thirty students' p95 132-160 -> 101-141 ms.
"""

from __future__ import annotations

import sys

SWITCH_INTERVAL_S = 0.001  # Python's default is 0.005


def shorten_switch_interval(seconds: float = SWITCH_INTERVAL_S) -> None:
    """Let a waiting thread take the interpreter after `seconds` (see above)."""
    sys.setswitchinterval(seconds)


__all__ = ["SWITCH_INTERVAL_S", "shorten_switch_interval"]
