"""gradio's event queue, woken when its answer can change instead of polling every 1 ms.

Why: gradio 6.31 starts queued events from a loop that, whenever it has nothing to start (no
event queued, every worker slot taken, or the first event's concurrency group full), sleeps
1 ms and looks again; its progress loop looks every 10 ms. That is ~1,100 wake-ups a second of
the event loop for an idle server: 5.2% of a core (measured 7 Dec 2026, the app as its own
process, nobody connected). Under load each wake-up also takes the interpreter from whichever
thread runs a click's callback, at least once per switch interval.

How: the queue's class is swapped for `WakingQueue` (as `studio.upload_progress` does for
gradio's upload records). Its start loop is gradio's, step for step, except that where gradio
sleeps 1 ms it waits for something that can let an event start: an event pushed or an event
finished (its worker slot and concurrency freed). The progress loop waits for a job to start
while none runs. Both waits also end after `FALLBACK_S`, so a change made some other way
(none is known) delays an event by at most that, never for ever.

Everything here runs on the server's event loop (push, the start loop and the end of each
event are all coroutines there), so a flag cleared and checked with no await between can miss
no wake-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from gradio.queueing import Queue
from gradio.utils import run_coro_in_background, set_task_name

FALLBACK_S = 0.05  # the longest a wait lasts without a wake-up


class WakingQueue(Queue):
    """gradio's Queue, its polling loops waiting on events (see the module docstring)."""

    def _events(self) -> dict[str, asyncio.Event]:
        """This event loop's wake-ups: a page closed and launched again runs its queue on
        another loop, and an asyncio.Event waited from a second loop raises."""
        loop = asyncio.get_running_loop()
        mine = self.__dict__.get("_wake_events")
        if mine is None or mine[0] is not loop:
            mine = self.__dict__["_wake_events"] = (loop, {})
        return mine[1]

    def _event(self, name: str) -> asyncio.Event:
        events = self._events()
        event = events.get(name)
        if event is None:
            event = events[name] = asyncio.Event()
        return event

    def _wake(self, name: str) -> None:
        event = self._events().get(name)
        if event is not None:
            event.set()

    async def _wait(self, name: str) -> None:
        event = self._event(name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), FALLBACK_S)

    async def push(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().push(*args, **kwargs)
        finally:
            self._wake("_work")

    async def process_events(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().process_events(*args, **kwargs)
        finally:  # its worker slot and concurrency are free now
            self._wake("_work")

    async def start_processing(self) -> None:
        """gradio's `Queue.start_processing`, waiting on `_work` where gradio sleeps."""
        try:
            while not self.stopped:
                self._event("_work").clear()  # a change from here on ends the wait below
                if len(self) == 0 or None not in self.active_jobs:
                    await self._wait("_work")
                    continue
                async with self.delete_lock:
                    event_batch = self.get_events()
                if not event_batch:  # the first event's concurrency group is full
                    await self._wait("_work")
                    continue
                events, batch, concurrency_id = event_batch
                self.active_jobs[self.active_jobs.index(None)] = events
                event_queue = self.event_queue_per_concurrency_id[concurrency_id]
                event_queue.current_concurrency += 1
                start_time = time.time()
                fn = events[0].fn
                event_queue.start_times_per_fn[fn].add(start_time)
                for event in events:
                    if (a := self.event_analytics.get(event._id)) is not None:
                        a["status"] = "processing"
                task = run_coro_in_background(self.process_events, events, batch, start_time, fn)
                set_task_name(task, events[0].session_hash, fn._id, events[0]._id, batch)
                self._asyncio_tasks.add(task)
                task.add_done_callback(self._asyncio_tasks.discard)
                self._wake("_jobs")
                if self.live_updates:
                    self.broadcast_estimations(concurrency_id)
        finally:
            self.stopped = True
            self._cancel_asyncio_tasks()

    async def start_progress_updates(self) -> None:
        """gradio's loop (a pending progress message sent every 10 ms while jobs run), waiting
        for a job to start while none runs."""
        while not self.stopped:
            self._event("_jobs").clear()
            events = [evt for job in self.active_jobs if job is not None for evt in job]
            if not events:
                await self._wait("_jobs")
                continue
            for event in events:
                if event.progress_pending and event.progress:
                    event.progress_pending = False
                    self.send_message(event, event.progress)
            await asyncio.sleep(self.progress_update_sleep_when_free)


def waking_queue(queue: Queue) -> Queue:
    """Make gradio's queue a WakingQueue (its class swapped; it has no state of its own)."""
    if type(queue) is Queue:
        queue.__class__ = WakingQueue
    return queue


__all__ = ["FALLBACK_S", "WakingQueue", "waking_queue"]
