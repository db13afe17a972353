"""Which sessions a server keeps: an idle time to live, and one memory budget for all of them.

Why our own registry: gradio frees a session's state only when its page's `unload` fires or its
10,000-session LRU overflows, so an API client that just stops, or a crashed tab, would keep its
images and activations for days. Here every call touches its session; a session idle past
`ttl_s` is cleared (its memory and files freed), and when the sessions' estimated memory
(`Session.memory_bytes`) passes `max_bytes`, the least recently used idle session is cleared
first. A session whose call is running is never cleared. What a session is cleared with is
whatever its `close(why)` does; the registry only decides who and when (pure, any clock).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

IDLE = (
    "this session was idle and was cleared to make room for others; your classes are gone. "
    "Add them again, or import the dataset you exported."
)
EXPIRED = (
    "this session was idle for more than {duration} and was cleared; your classes are gone. "
    "Add them again, or import the dataset you exported."
)


@dataclass
class _Entry:
    session: Any  # has memory_bytes() and close(why)
    used: float  # clock at the last call's start or end
    busy: int = 0  # calls running now
    bytes: int = 0  # memory_bytes() at the last call's end


class SessionRegistry:
    """Sessions by key (gradio's session hash), least recently used first."""

    def __init__(
        self, max_bytes: int, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_bytes, self.ttl_s, self.clock = max_bytes, ttl_s, clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def values(self) -> list:
        with self._lock:
            return [e.session for e in self._entries.values()]

    def total_bytes(self) -> int:
        with self._lock:
            return sum(e.bytes for e in self._entries.values())

    def register(self, key: str, session: Any) -> None:
        """Touch `key` (a new session, or a call that is no action: a page load)."""
        with self._lock:
            self._touch(key, session)

    def _touch(self, key: str, session: Any) -> _Entry:
        entry = self._entries.get(key)
        if entry is None or entry.session is not session:
            entry = self._entries[key] = _Entry(
                session, self.clock(), busy=entry.busy if entry else 0
            )
        entry.used = self.clock()
        self._entries.move_to_end(key)
        return entry

    @contextmanager
    def call(self, key: str, session: Any) -> Iterator[None]:
        """Around one call of `key`'s session: it is busy (never cleared) until the call ends;
        then its memory is measured again and the budget and time to live are enforced."""
        with self._lock:
            self._touch(key, session).busy += 1
        try:
            yield
        finally:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    entry.busy -= 1
                    entry.used = self.clock()
                    self._entries.move_to_end(key)  # the order stays the order of `used`
            self.measure(key)
            self.sweep()

    def measure(self, key: str) -> None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None:
            try:  # outside the lock: it walks the images
                entry.bytes = entry.session.memory_bytes()
            except RuntimeError:  # another call of this session edits it now: measured later
                pass
        self._over_budget(keep=key)

    def close(self, key: str) -> Any:
        """The page closed: forget the session and clear it (no message: nobody comes back)."""
        with self._lock:
            entry = self._entries.pop(key, None)
        if entry is not None:
            entry.session.close()
        return entry.session if entry else None

    def sweep(self) -> int:
        """Clear sessions idle past the time to live. Cheap: it walks from the least recently
        used and stops at the first fresh one (busy ones are stepped over, never cleared)."""
        now, why, expired = self.clock(), EXPIRED.format(duration=_duration(self.ttl_s)), 0
        with self._lock:  # cleared under the lock: a call that starts meanwhile sees `cleared`
            for key, entry in list(self._entries.items()):
                if now - entry.used <= self.ttl_s:
                    break
                if not entry.busy:
                    self._entries.pop(key).session.close(why)
                    expired += 1
        return expired

    def _over_budget(self, keep: str) -> int:
        """Clear idle sessions, least recently used first, until the rest fit the budget."""
        with self._lock:
            total, cleared = sum(e.bytes for e in self._entries.values()), 0
            for key, entry in list(self._entries.items()):
                if total <= self.max_bytes:
                    break
                if key != keep and not entry.busy and entry.bytes:
                    self._entries.pop(key).session.close(IDLE)
                    total -= entry.bytes
                    cleared += 1
            return cleared

    def start_sweeper(self, every_s: float | None = None) -> threading.Thread:
        """A daemon thread that sweeps every `every_s` (default: a quarter of the time to live,
        between 1 s and 60 s), so a server nobody calls still frees its idle sessions."""
        every = every_s or min(60.0, max(1.0, self.ttl_s / 4))

        def loop() -> None:
            while True:
                time.sleep(every)
                self.sweep()

        thread = threading.Thread(target=loop, name="savs-session-sweep", daemon=True)
        thread.start()
        return thread


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{round(seconds)} seconds"
    return f"{round(seconds / 60)} minutes"


__all__ = ["SessionRegistry", "IDLE", "EXPIRED"]
