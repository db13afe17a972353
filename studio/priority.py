"""Clicks first (issue 21): while a person's click is being answered, other events wait to start.

Why: the server's Python runs one thread at a time (the GIL), and gradio's event loop does much
of every event's work itself (pre- and postprocessing, HTTP, the event stream). In a classroom a
click (~25 ms of work) shared the interpreter with whatever thirty sessions had started a moment
before: start-up redraws, extractions, ten webcams' frames, and waited 5-20x its own time
(benchmarks/RESULTS.md). The person who clicked is looking at the label box; a status line, a
redraw or the next webcam frame of another session can start a few ms later without anyone
seeing it.

So an event that is not a click (`BlockFunction.concurrency_id` other than `CLICK_QUEUE`)
waits, before its processing starts, until no click is being answered, for at most
`CLICKS_FIRST_WAIT_S`: under a stream of clicks, other work still runs at least that often.
Work already running is not stopped (a callback cannot be paused safely); clicks among
themselves go first come, first served.

All of it runs on the server's event loop (gradio calls `process_api` there), so the count
needs no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from savs.limits import CLICKS_FIRST_WAIT_S


class ClicksFirst:
    """How many clicks are being answered, and a wait for none (at most `max_wait_s`)."""

    def __init__(self, max_wait_s: float = CLICKS_FIRST_WAIT_S) -> None:
        self.max_wait_s = max_wait_s
        self.clicks = 0  # clicks being answered now
        self.deferred = 0  # events that waited for clicks, since the start (tests, benchmarks)
        self._idle: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

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
        try:
            yield
        finally:
            self.clicks -= 1
            if not self.clicks:
                idle.set()

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


CLICKS_FIRST = ClicksFirst()

__all__ = ["CLICKS_FIRST", "ClicksFirst"]
