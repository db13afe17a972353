"""Whose forward pass runs next when several callers share one model.

Why: on a server many sessions share one loaded model, and a forward pass runs one at a time
(the adapter's lock: hooks see every thread's passes). A plain lock lets whichever thread wins
go first, so a person's one-input classify could wait behind a whole queue of another
session's extraction batches and webcam frames (issue 21). `TurnLock` serves waiters earliest
deadline first: a caller's deadline is when it arrived plus the slack of its kind of work
(`CLICK` none, `FRAME` a quarter second, `BATCH` a second). A click goes before any batch or
frame that arrived less than that slack before it; work that waited longer goes first, so no
kind of work waits for ever behind a stream of another.

The kind is set per thread of work with `turn_kind(...)`; the default is `BATCH`, so code that
never says (the CLI, the library) takes turns first come, first served.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

CLICK = 0.0  # one input a person is waiting for (classify, a lesson view's pass)
FRAME = 0.25  # a live webcam frame: a newer one replaces it soon anyway
BATCH = 1.0  # a batch of a long job (extract, evaluate): the default

_KIND: ContextVar[float] = ContextVar("savs_turn_kind", default=BATCH)


@contextmanager
def turn_kind(slack: float) -> Iterator[None]:
    """Inside the block, this thread's model passes wait as `slack` says (CLICK, FRAME, BATCH)."""
    mark = _KIND.set(slack)
    try:
        yield
    finally:
        _KIND.reset(mark)


class TurnLock:
    """A re-entrant lock handed to the waiter with the earliest deadline (arrival + slack)."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._waiting: list[tuple[float, int]] = []  # heap of (deadline, ticket)
        self._tickets = itertools.count()

    def acquire(self) -> None:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return
            mine = (self._clock() + _KIND.get(), next(self._tickets))
            heapq.heappush(self._waiting, mine)
            try:
                while self._owner is not None or self._waiting[0] != mine:
                    self._cond.wait()
            except BaseException:
                self._waiting.remove(mine)
                heapq.heapify(self._waiting)
                self._cond.notify_all()
                raise
            heapq.heappop(self._waiting)
            self._owner, self._depth = me, 1

    def release(self) -> None:
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a TurnLock this thread does not hold")
            self._depth -= 1
            if not self._depth:
                self._owner = None
                self._cond.notify_all()

    def __enter__(self) -> TurnLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def waiting(self) -> int:
        """How many callers wait for their turn (tests and benchmarks read it)."""
        with self._cond:
            return len(self._waiting)


__all__ = ["BATCH", "CLICK", "FRAME", "TurnLock", "turn_kind"]
