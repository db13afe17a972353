"""What a session's page already shows, so a redraw sends only the views whose inputs changed.

Why: after a classify, the redraw drew the whole page again (head map, k curve, inspector,
compare overlay ...), and that cost more server time than the model itself (issue 21: in a
classroom, 21% of the server's busy time against 13% for the forward passes).

How: a view is a function of the session's fields. While a view draws, the fields it reads are
recorded (`Session.__getattribute__` reports them while `reading` is on), and a snapshot of
those fields is kept: plain values (strings, numbers) by value, containers item by item, other
objects (a classifier, the activations, a classification) by identity. The next redraw skips a
view whose recorded fields all compare equal: it would draw exactly what the page shows. The
snapshot holds the objects themselves, not their ids (a freed object's successor can get the
same id), and is dropped when the session closes.

Views must read the session only (no server-wide state). tests/unit/test_drawn.py tests the
memory; tests/app/test_page_memory.py checks, over a lesson's actions, that the page a browser
keeps is always what a new page would show.
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

# the field names read while a view draws (None: not recording)
READS: ContextVar[set[str] | None] = ContextVar("savs_drawn_reads", default=None)

_PLAIN = (type(None), bool, int, float, complex, str, bytes)


class _Same:
    """An object compared by identity (and held, so its id cannot be reused meanwhile)."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj

    __hash__ = None  # type: ignore[assignment]


def token(value: Any) -> Any:
    """A comparable snapshot of `value`: plain values as they are, lists, tuples and dicts item
    by item (they are edited in place: a class's examples), anything else by identity."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(token(v) for v in value))
    if isinstance(value, dict):
        return (dict, tuple((k, token(v)) for k, v in value.items()))
    return _Same(value)


@contextmanager
def reading() -> Iterator[set[str]]:
    """Record the session fields read inside the block (by this thread)."""
    reads: set[str] = set()
    mark = READS.set(reads)
    try:
        yield reads
    finally:
        READS.reset(mark)


class PageMemory:
    """One session's page: for each view drawn, the snapshot of the fields it read."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # one redraw of a session at a time (in its click order)
        self._seen: dict[int, tuple] = {}  # view index -> ((field, token), ...)
        # the Live tab's label and bars (no redraw follows a frame): the votes they show
        self.live_votes: tuple | None = None

    def unchanged(self, view: int, session: Any) -> bool:
        seen = self._seen.get(view)
        return seen is not None and all(token(getattr(session, f)) == t for f, t in seen)

    def draw(self, view: int, session: Any, draw: Callable[[Any], tuple]) -> tuple:
        """Draw a view and remember the fields it read, as they are now."""
        with reading() as reads:
            values = draw(session)
        names = {f.name for f in dataclasses.fields(session)}
        self._seen[view] = tuple((f, token(getattr(session, f))) for f in sorted(reads & names))
        return values

    def forget(self, view: int | None = None) -> None:
        """The page shows something else now (an event sent it), or nothing is known."""
        if view is None:
            self._seen.clear()
            self.live_votes = None
        else:
            self._seen.pop(view, None)


_MEMORIES: dict[int, PageMemory] = {}  # id(session) -> its page, while the session lives
_MEMORIES_LOCK = threading.Lock()


def memory_of(session: Any) -> PageMemory:
    """The page memory of a session (made on its first redraw, gone with the session)."""
    key = id(session)
    with _MEMORIES_LOCK:
        memory = _MEMORIES.get(key)
        if memory is None:
            memory = _MEMORIES[key] = PageMemory()
            weakref.finalize(session, _MEMORIES.pop, key, None)
        return memory


def forget_session(session: Any) -> None:
    """Drop what a session's page is known to show (the session was cleared: its objects go)."""
    with _MEMORIES_LOCK:
        memory = _MEMORIES.get(id(session))
    if memory is not None:
        memory.forget()


__all__ = ["PageMemory", "READS", "forget_session", "memory_of", "reading", "token"]
