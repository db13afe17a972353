"""Python's cyclic garbage collector, set once for a long-running server (issue 21).

Why: the collector stops every thread while it runs, and its full pass walks every tracked
object. The server holds ~520,000 of them before the first visitor (torch, transformers,
gradio, plotly, the page's components), and they live as long as it does. In a classroom
(benchmarks/classroom.py, instrumented) three full passes of ~400 ms each stopped every
student's click during the run, and the young generation was collected ~950 times (every 700
allocations), 0.9 s in all.

How, once, when the server is up (the start model loaded, the page built and served) and
before any visitor:
- `gc.freeze()` moves what exists then out of the collector's passes (it is still freed by
  reference counting). The pool unfreezes it all when it unloads a model (`ModelPool._unload`),
  so the start model's memory goes even if it holds a reference cycle; from then on the full
  passes walk those objects again, as they did before;
- the young generation is collected every `YOUNG_ALLOCATIONS` allocations instead of 700.
Measured on the same run: no full pass while the students worked (seven of 60-94 ms with
freezing alone), young and middle passes 0.5-0.6 s in all, the longest 24-44 ms
(benchmarks/RESULTS.md, classroom, 6 Dec 2026 night).
"""

from __future__ import annotations

import gc

YOUNG_ALLOCATIONS = 7000  # Python's default is 700


def settle_collector() -> None:
    """Freeze what exists now and collect the young generation less often (see above)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_ALLOCATIONS, middle, old)


__all__ = ["YOUNG_ALLOCATIONS", "settle_collector"]
