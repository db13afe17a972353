"""Clicks first (issue 21): while a person's click is being answered, other work waits to start
(but for webcam frames and the redraw after a click), and long work already running gives way.

Why: the server's Python runs one thread at a time (the GIL), and gradio's event loop does much
of every event's work itself (pre- and postprocessing, HTTP, the event stream). In a classroom a
click (~25 ms of work) shared the interpreter with whatever thirty sessions had started a moment
before: start-up redraws, extractions, ten webcams' frames, and waited 5-20x its own time
(benchmarks/RESULTS.md). The person who clicked is looking at the label box; another session's
extraction, task load or redraw can start a few ms later without anyone seeing it.

So an event waits, before its processing starts, until no click is being answered, for at most
`CLICKS_FIRST_WAIT_S`: under a stream of clicks, it still runs at least that often
(`StudioBlocks.process_api`). Two kinds start at once. The redraw the page chains after a click:
held, every student's redraw ended with the last click of a wave, so the students' next clicks
came together, and the waves stayed large (classroom p95 in the webcam phase 58-120 ms held,
57-72 ms not; benchmarks/RESULTS.md, 7 Dec 2026, afternoon). And webcam frames, which take
their own share and wait for clicks before their model turn (`studio.fairness.FrameShare`,
through `wait_for_none`). The rest (long work: extract, evaluate, loading
a model; a task or dataset being loaded; the redraws after them; every other page event) waits:
started at once, the redraws after thirty students' task loads and extractions ran beside the
class's first clicks (benchmarks/RESULTS.md, 7 Dec 2026, evening).
Clicks among themselves go first come, first served.

Work already running cannot be paused from outside, but long work pauses itself: between two
pictures of a loaded dataset and two batches of an extraction it calls `give_way`, which waits
while a click is queued or being answered (at most `GIVE_WAY_S` at a time and
`GIVE_WAY_TOTAL_S` per callback, so a stream of clicks delays a load by a second at most). A
click that joined and left the queue unanswered holds nothing past one such wait.
Thirty students loading a task and extracting while the first of them click was where the
classroom's slowest clicks were: each click shared the interpreter with up to eight such
threads (benchmarks/RESULTS.md, 7 Dec 2026). A click queued behind another counts too: the
wait for its turn is part of its answer's time. A redraw does not give way: one that paused
for clicks ran in the gaps between them, where the next click's queueing and pre-processing on
the event loop is, and clicks were slower.

The click count runs on the server's event loop (gradio calls `process_api` and the queue's
`push` there), so it needs no lock; worker threads read it through a `threading.Event`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar

from savs.limits import CLICKS_FIRST_WAIT_S, GIVE_WAY_S, GIVE_WAY_TOTAL_S

# True in a click's task and the worker threads it starts (anyio copies the context to them):
# a click never gives way to itself
_CLICKING: ContextVar[bool] = ContextVar("studio_clicking", default=False)
# seconds the callback of this context has given way so far (one context per worker call)
_GIVEN: ContextVar[float] = ContextVar("studio_given_way", default=0.0)


class ClicksFirst:
    """How many clicks are being answered, a wait for none (at most `max_wait_s`), and the
    pause of long work while clicks are queued or answered (`give_way`)."""

    def __init__(
        self,
        max_wait_s: float = CLICKS_FIRST_WAIT_S,
        give_way_s: float = GIVE_WAY_S,
        give_way_total_s: float = GIVE_WAY_TOTAL_S,
    ) -> None:
        self.max_wait_s = max_wait_s
        self.give_way_s = give_way_s
        self.give_way_total_s = give_way_total_s
        self.clicks = 0  # clicks being answered now
        self.deferred = 0  # events that waited for clicks, since the start (tests, benchmarks)
        self.queued: Callable[[], int] = lambda: 0  # clicks waiting in the queue (StudioBlocks)
        self._idle: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._no_clicks = threading.Event()  # set while no click is queued or answered
        self._no_clicks.set()

    def _idle_event(self) -> asyncio.Event:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new server loop (tests start several): a new event
            self._loop, self._idle = loop, asyncio.Event()
            if not self.clicks:
                self._idle.set()
        assert self._idle is not None
        return self._idle

    @contextlib.asynccontextmanager
    async def click(self) -> AsyncIterator[None]:
        """A click is being answered inside the block."""
        idle = self._idle_event()
        self.clicks += 1
        idle.clear()
        self._no_clicks.clear()
        mark = _CLICKING.set(True)
        try:
            yield
        finally:
            _CLICKING.reset(mark)
            self.clicks -= 1
            if not self.clicks:
                idle.set()
                if not self.queued():
                    self._no_clicks.set()

    def joined(self) -> None:
        """A click joined the queue: long work gives way from now on (on the event loop)."""
        self._no_clicks.clear()

    async def after_clicks(self) -> None:
        """Return when no click is being answered, or after `max_wait_s` at most."""
        if not self.clicks:
            return
        self.deferred += 1
        idle = self._idle_event()
        deadline = time.monotonic() + self.max_wait_s
        while self.clicks:  # another click may start between the wake-up and this task's turn
            left = deadline - time.monotonic()
            if left <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(idle.wait(), left)

    def give_way(self) -> None:
        """Called by long work between its steps, in a worker thread: while a click is queued
        or being answered, wait for it (at most `give_way_s`, and `give_way_total_s` over the
        callback). A click's own work never waits."""
        if self._no_clicks.is_set() or _CLICKING.get():
            return
        given = _GIVEN.get()
        left = min(self.give_way_s, self.give_way_total_s - given)
        if left <= 0:
            return
        start = time.monotonic()
        self.wait_for_none(left)
        _GIVEN.set(given + time.monotonic() - start)

    def wait_for_none(self, timeout: float) -> bool:
        """In a worker thread: wait until no click is queued or being answered, at most
        `timeout` seconds (woken when the last one is answered, not polling); whether none is."""
        if self._no_clicks.wait(timeout):
            return True
        if not self.clicks and not self.queued():
            # a click joined and left the queue unanswered (its page closed): none is queued or
            # answered, so nothing sets the flag until the next click is answered. Set it here,
            # or every later wait would be for nothing until then.
            self._no_clicks.set()
            return True
        return False


CLICKS_FIRST = ClicksFirst()

__all__ = ["CLICKS_FIRST", "ClicksFirst"]
