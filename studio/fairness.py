"""Sharing one server fairly between sessions (issue 21, SECURITY.md): one model call per
session at once, and a cap on the events one session may have in gradio's queue, so one
visitor firing many calls can neither fill the shared queue nor hold several model workers.

Sessions are named by gradio's session hash, which a client chooses: a script that makes up a
new hash per call is bounded by the server-wide limits instead (the queue's size, the model
workers), not by these."""

from __future__ import annotations

import asyncio
import collections
import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import gradio as gr

from savs.limits import (
    CLICKS_FIRST_WAIT_S,
    LIVE_FRAME_SHARE,
    LIVE_FRAME_WAIT_S,
    MAX_MODEL_CALLS_PER_SESSION,
    MAX_QUEUED_PER_SESSION,
)

from .priority import CLICKS_FIRST, ClicksFirst
from .server import LIVE_QUEUE, MODEL_GROUPS, MODEL_QUEUE

ONE_AT_A_TIME = "Your previous request is still running: wait for it to finish."
ONE_STREAM = "This session already has this webcam stream open: one at a time."
JOIN_WAIT_S = 0.5  # how long a session's next model call waits at the door for the last one
STREAM_GONE_S = 2.0  # a webcam with no frame classified for this long no longer shares


class SessionGate:
    """At most `limit` calls of one session at once; one more is refused at once (gr.Error),
    so a session firing many calls holds a model worker for only `limit` of them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}

    @contextmanager
    def turn(self, session: str | None) -> Iterator[None]:
        if not session:  # no session (a direct Python call): nothing to share
            yield
            return
        with self._lock:
            running = self._in_flight.get(session, 0)
            if running >= self.limit:
                raise gr.Error(ONE_AT_A_TIME, title="One at a time")
            self._in_flight[session] = running + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._in_flight.pop(session) - 1
                if left:
                    self._in_flight[session] = left

    def in_flight(self, session: str) -> int:
        with self._lock:
            return self._in_flight.get(session, 0)

    def busy(self) -> bool:
        """Whether any session has a call running."""
        with self._lock:
            return bool(self._in_flight)


MODEL_CALLS = SessionGate(MAX_MODEL_CALLS_PER_SESSION)


class FrameShare:
    """Live frames' share of the model: one frame at a time over all streams, in the order they
    came, and while any session's model call runs or more than one webcam streams, frames take
    at most `share` of the time: after a frame that took d seconds the next starts
    d * (1 / share - 1) later. (Before the order, whichever waiting frame woke first went: some
    webcams were passed over until their frames were dropped, ~45 of ~190 frames every 10 s
    with ten webcams, each prepared by gradio for nothing.) A
    frame that cannot start within `wait_s` is dropped (`turn` yields False): gradio keeps only
    a stream's newest frame, so a newer one is waiting. A webcam alone runs as fast as the
    model allows; ten webcams share what one would take (in a classroom they took 45% of the
    model's time between clicks and made every click wait, benchmarks/RESULTS.md).

    With `clicks`, the frame first in line also waits while a person's click is queued or
    being answered (`ClicksFirst.wait_for_none`, woken when the last is answered), for at most
    `clicks_wait_s`; then it runs anyway, so a stream of clicks cannot stop the webcams. Ten
    webcams' frames were half the server's work while the class clicked, and a click that
    came during a frame shared the interpreter with it (benchmarks/RESULTS.md, 7 Dec 2026,
    late). Only the first frame waits, on an event: ten frames looking every 2 ms took the
    interpreter from the clicks they waited for (tried earlier the same day)."""

    def __init__(
        self,
        share: float,
        wait_s: float,
        busy: Callable[[], bool],
        clicks: ClicksFirst | None = None,
        clicks_wait_s: float = CLICKS_FIRST_WAIT_S,
    ) -> None:
        self.share, self.wait_s, self._busy = share, wait_s, busy
        self.clicks, self.clicks_wait_s = clicks, clicks_wait_s
        self._cond = threading.Condition()
        self._running = False
        self._next = 0.0  # monotonic time before which no frame starts
        self._streams: dict[str, float] = {}  # session -> when its last frame started
        self._waiting: collections.deque[object] = collections.deque()  # frames, in arrival order
        self.dropped = 0  # frames dropped since the start (read by tests and benchmarks)

    def _shared(self) -> bool:
        """Whether frames keep to their share: a model call runs, or other webcams stream."""
        return self._busy() or len(self._streams) > 1

    @contextmanager
    def turn(self, session: str | None = None) -> Iterator[bool]:
        mine = self._start(session)
        if not mine:
            yield False
            return
        start = time.monotonic()
        try:
            yield True
        finally:
            spent = time.monotonic() - start
            with self._cond:
                self._running = False
                rest = spent * (1 / self.share - 1) if self._shared() else 0.0
                self._next = time.monotonic() + rest
                self._cond.notify_all()

    def _start(self, session: str | None) -> bool:
        deadline = time.monotonic() + self.wait_s
        ticket = object()
        held_until: float | None = None  # when first in line: waits for clicks until then
        with self._cond:
            self._waiting.append(ticket)
            try:
                while True:
                    now = time.monotonic()
                    first = self._waiting[0] is ticket
                    if first and not self._running and now >= self._next:
                        if held_until is None:  # first in line: clicks go first, this long
                            held_until = min(deadline, now + self.clicks_wait_s)
                        if now < held_until and not self._no_click_within(held_until - now):
                            continue  # held the whole time: it runs now, clicks or not
                        self._running = True
                        self._streamed(session or "", time.monotonic())
                        return True
                    if now >= deadline:
                        self.dropped += 1
                        return False
                    until = deadline if self._running or not first else min(deadline, self._next)
                    self._cond.wait(max(until - now, 0.001))
            finally:
                self._waiting.remove(ticket)
                self._cond.notify_all()  # the next in line may start

    def _no_click_within(self, timeout: float) -> bool:
        """Whether no click is queued or answered, waiting up to `timeout` for it. Called
        holding the lock; lets go of it while waiting, so frames can join the line meanwhile
        (only the first in line may start, so the line's state is the same after)."""
        if self.clicks is None:
            return True
        self._cond.release()
        try:
            return self.clicks.wait_for_none(timeout)
        finally:
            self._cond.acquire()

    def _streamed(self, session: str, now: float) -> None:
        """Note `session`'s frame; forget webcams with no frame for STREAM_GONE_S."""
        self._streams[session] = now
        for gone in [s for s, t in self._streams.items() if now - t > STREAM_GONE_S]:
            del self._streams[gone]


LIVE_FRAMES = FrameShare(LIVE_FRAME_SHARE, LIVE_FRAME_WAIT_S, MODEL_CALLS.busy, CLICKS_FIRST)


def current_session() -> str | None:
    """The session hash of the event being run (gradio sets its request per callback)."""
    from gradio.context import LocalContext

    request = LocalContext.request.get(None)
    return getattr(request, "session_hash", None)


def model_call(fn: Callable) -> Callable:
    """A callback that runs a model: one session's calls take turns (MODEL_CALLS)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with MODEL_CALLS.turn(current_session()):
            return fn(*args, **kwargs)

    return wrapper


def cap_session_queue(demo: gr.Blocks, limit: int = MAX_QUEUED_PER_SESSION) -> None:
    """Refuse an event as it joins (gradio answers 503 with the message) when its session
    already has `limit` events waiting or running; for a model call, when it has a model call
    waiting or running; for a webcam stream, when it has that stream open (each after
    JOIN_WAIT_S for the last one to end). One session's calls never fill the shared queue, its
    extra model calls never reach a model worker, and one session holds one live stream (and
    one recording stream) of the shared LIVE_STREAMS. Gradio has no per-session setting: this
    wraps its queue's push (call after demo.queue)."""
    queue = demo._queue
    push = queue.push
    at_door: set[tuple[str, object]] = set()  # (session, kind) with a join waiting or pushing

    async def capped_push(body: Any, request: Any, username: str | None) -> tuple:
        session = getattr(body, "session_hash", None)
        fn = demo.fns.get(body.fn_index)
        if not session or fn is None:
            return await push(body=body, request=request, username=username)
        if len(queue.pending_event_ids_session.get(session, ())) >= limit:
            message = f"This session already has {limit} requests waiting: wait for them."
            return False, message, "queue_full"
        if fn.concurrency_id in MODEL_GROUPS:  # long jobs and clicks alike: one at a time
            kind, refusal = MODEL_QUEUE, ONE_AT_A_TIME
            same: Callable[[Any], bool] = lambda e: e.concurrency_id in MODEL_GROUPS  # noqa: E731
        elif fn.concurrency_id == LIVE_QUEUE:
            kind, refusal, same = fn, ONE_STREAM, lambda e: e is fn
        else:
            return await push(body=body, request=request, username=username)
        # one join of a kind per session at the door: a burst's other joins are refused at
        # once, instead of all waiting and then all passing together when the last call ends
        if (session, kind) in at_door:
            return False, refusal, "queue_full"
        at_door.add((session, kind))
        try:
            if not await _none_in_queue(queue, session, same):
                return False, refusal, "queue_full"
            return await push(body=body, request=request, username=username)
        finally:
            at_door.discard((session, kind))

    queue.push = capped_push


async def _none_in_queue(queue: Any, session: str, same: Callable[[Any], bool]) -> bool:
    """Whether `session` has no event whose function is `same` in gradio's queue, waiting up to
    JOIN_WAIT_S (the last call's end reaches the client a moment before gradio forgets it)."""
    for _ in range(int(JOIN_WAIT_S / 0.05) + 1):
        events = list(queue.event_ids_to_events.values())
        if not any(e.session_hash == session and same(e.fn) for e in events):
            return True
        await asyncio.sleep(0.05)
    return False
