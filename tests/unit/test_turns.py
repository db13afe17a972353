"""savs.models.turns.TurnLock: the model's forward passes are served earliest deadline first
(arrival + the slack of the kind of work), so a click goes before batches that arrived just
before it, and work that waited past its slack goes before later clicks (no starvation)."""

from __future__ import annotations

import threading
import time

import pytest

from savs.models.turns import BATCH, CLICK, FRAME, TurnLock, turn_kind

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def waiter(lock: TurnLock, kind: float, name: str, order: list) -> threading.Thread:
    def run() -> None:
        with turn_kind(kind), lock:
            order.append(name)

    thread = threading.Thread(target=run, daemon=True)
    before = lock.waiting()
    thread.start()
    for _ in range(500):  # until it waits for its turn
        if lock.waiting() > before:
            return thread
        time.sleep(0.01)
    raise AssertionError(f"{name} never waited")


def served(arrivals: list[tuple[float, float, str]]) -> list[str]:
    """The order in which waiters arriving at (time, kind, name) are served, the lock held by
    this thread until all of them wait."""
    clock, order = Clock(), []
    lock = TurnLock(clock)
    lock.acquire()
    threads = []
    for at, kind, name in arrivals:
        clock.now = 100.0 + at
        threads.append(waiter(lock, kind, name, order))
    lock.release()
    for thread in threads:
        thread.join(timeout=10)
    return order


def test_a_click_goes_before_batches_and_frames_that_arrived_just_before_it():
    arrivals = [(0.0, BATCH, "batch"), (0.1, FRAME, "frame"), (0.2, CLICK, "click")]
    assert served(arrivals) == ["click", "frame", "batch"]


def test_work_that_waited_past_its_slack_goes_first():
    arrivals = [(0.0, BATCH, "batch"), (BATCH + 0.5, CLICK, "click")]
    assert served(arrivals) == ["batch", "click"]


def test_the_same_kind_is_first_come_first_served_and_the_default_is_batch():
    clock, order = Clock(), []
    lock = TurnLock(clock)
    lock.acquire()
    threads = [waiter(lock, BATCH, "first", order)]

    def plain() -> None:  # no turn_kind: the library's default
        with lock:
            order.append("second")

    thread = threading.Thread(target=plain, daemon=True)
    thread.start()
    while lock.waiting() < 2:
        time.sleep(0.01)
    threads.append(thread)
    lock.release()
    for t in threads:
        t.join(timeout=10)
    assert order == ["first", "second"]


def test_it_is_reentrant_and_only_its_holder_releases_it():
    lock = TurnLock()
    with lock, lock:  # a pass inside an exclusive use of the model
        assert lock.waiting() == 0
    errors = []

    def other() -> None:
        try:
            lock.release()
        except RuntimeError as exc:
            errors.append(exc)

    lock.acquire()
    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    lock.release()
    assert len(errors) == 1
    with lock:  # free again
        pass
