"""studio.allocator: memory a request used goes back to the system after it (issue 21): the
keeper hands it back once the process grew, and only then."""

from __future__ import annotations

import gc

import pytest

from studio.allocator import LIBC, MemoryKeeper, resident_bytes, settle_allocator

pytestmark = pytest.mark.unit

MB = 1 << 20


def test_the_allocator_takes_the_threshold_here():
    assert LIBC is not None  # this machine's C library is glibc (CI's too)
    assert settle_allocator() is True


def test_the_keeper_hands_back_what_a_cycle_kept_once_the_process_grew():
    """Garbage in a reference cycle (a refused request's traceback held its 15 MB text so)
    stays until a collector pass; the keeper's look runs one once the process grew."""
    keeper = MemoryKeeper(grown_bytes=64 * MB)
    assert keeper.look() is False  # nothing grew: no pass, nothing handed back
    gc.disable()  # no pass of the test process's own may free it first
    try:
        held = [b"x" * (200 * MB)]
        held.append(held)  # a cycle: only the collector frees it
        del held
        grown = resident_bytes() - keeper.low
        assert grown > 150 * MB, grown
        assert keeper.look() is True
    finally:
        gc.enable()
    assert keeper.handed_back > 150 * MB, keeper.handed_back
    assert keeper.low < resident_bytes() + 50 * MB
    assert keeper.look() is False  # handed back: the next look finds no growth


def test_growth_below_the_mark_is_left_alone():
    keeper = MemoryKeeper(grown_bytes=1 << 40)
    kept = b"y" * (100 * MB)
    assert keeper.look() is False and keeper.handed_back == 0
    del kept
