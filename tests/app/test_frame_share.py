"""Live frames' share of the model (studio.fairness.FrameShare): one frame at a time over all
webcams, at most `share` of the time while clicks run, a person's click before the next frame
(for a bound), and a frame that cannot start in time is dropped (the webcam has sent a newer
one)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from studio.fairness import LIVE_FRAMES, FrameShare
from studio.priority import CLICKS_FIRST, ClicksFirst

pytestmark = pytest.mark.app  # studio imports gradio: not the unit tier


def test_one_frame_at_a_time_and_one_that_waits_too_long_is_dropped():
    share = FrameShare(0.25, wait_s=0.2, busy=lambda: False)
    with share.turn() as first:
        assert first
        start = time.monotonic()
        with share.turn() as second:  # another stream's frame, while the first runs
            assert not second
        assert 0.2 <= time.monotonic() - start < 1.5
    assert share.dropped == 1
    start = time.monotonic()
    with share.turn() as third:  # the first has ended: no clicks, no rest
        assert third
    assert time.monotonic() - start < 0.1 and share.dropped == 1


def test_while_clicks_run_frames_rest_three_times_their_time_at_a_quarter():
    busy = [True]
    share = FrameShare(0.25, wait_s=3.0, busy=lambda: busy[0])
    with share.turn():
        time.sleep(0.2)
    start = time.monotonic()
    with share.turn() as mine:  # rests 0.2 * (1 / 0.25 - 1) = 0.6 s first
        waited = time.monotonic() - start
    assert mine and 0.55 <= waited < 2.0, waited
    busy[0] = False  # no click runs: the next frame starts at once
    start = time.monotonic()
    with share.turn() as mine:
        assert mine and time.monotonic() - start < 0.1


def test_a_waiting_frame_starts_when_the_running_one_ends():
    share = FrameShare(0.25, wait_s=3.0, busy=lambda: False)
    started = threading.Event()
    waited: list[float] = []

    def second() -> None:
        started.wait(5)
        start = time.monotonic()
        with share.turn() as mine:
            waited.append(time.monotonic() - start if mine else -1.0)

    thread = threading.Thread(target=second)
    thread.start()
    with share.turn():
        started.set()
        time.sleep(0.3)
    thread.join(10)
    assert waited and 0.2 <= waited[0] < 1.5, waited  # woken when the first ended, not dropped
    assert share.dropped == 0


def test_two_webcams_share_even_with_no_click_and_one_alone_does_not():
    share = FrameShare(0.25, wait_s=3.0, busy=lambda: False)
    with share.turn("alone"):
        time.sleep(0.1)
    start = time.monotonic()
    with share.turn("alone") as mine:  # one webcam, no click: no rest
        assert mine and time.monotonic() - start < 0.05
    with share.turn("other"):  # a second webcam's frame: now frames keep to their share
        time.sleep(0.1)
    start = time.monotonic()
    with share.turn("alone") as mine:  # rests 0.1 * 3 = 0.3 s first
        waited = time.monotonic() - start
    assert mine and 0.25 <= waited < 1.5, waited


def test_waiting_frames_start_in_the_order_they_came():
    """One frame at a time, first come first served: with eight webcams waiting, none is
    passed over until it is dropped (that starved some webcams and wasted the frames gradio
    had prepared: ~45 of ~190 frames every 10 s with ten webcams, benchmarks/RESULTS.md)."""
    share = FrameShare(0.25, wait_s=5.0, busy=lambda: False)
    order: list[int] = []

    def webcam(i: int) -> None:
        with share.turn(f"cam{i}") as mine:
            assert mine
            order.append(i)
            time.sleep(0.02)

    with share.turn("cam-first"):
        threads = []
        for i in range(8):
            threads.append(threading.Thread(target=webcam, args=(i,)))
            threads[-1].start()
            time.sleep(0.02)  # each arrives after the one before is waiting
    for thread in threads:
        thread.join(20)
    assert order == list(range(8)) and share.dropped == 0


def _frame_during_click(share: FrameShare, clicks: ClicksFirst, click_s: float) -> list:
    """A webcam frame asks for its turn while a click is answered for `click_s` seconds: the
    log of (what, when) for the click's end and the frame's start."""
    log: list[tuple[str, float]] = []

    def frame() -> None:
        with share.turn("cam") as mine:
            assert mine
            log.append(("frame starts", time.monotonic()))

    async def main() -> None:
        async with clicks.click():
            thread = threading.Thread(target=frame)
            thread.start()
            await asyncio.sleep(click_s)
            log.append(("click answered", time.monotonic()))
        await asyncio.to_thread(thread.join, 10)

    asyncio.run(main())
    return log


def test_a_frame_waits_for_the_click_being_answered_and_starts_as_it_ends():
    clicks = ClicksFirst()
    share = FrameShare(0.25, wait_s=3.0, busy=lambda: False, clicks=clicks, clicks_wait_s=2.0)
    log = _frame_during_click(share, clicks, click_s=0.3)
    assert [what for what, _ in log] == ["click answered", "frame starts"]
    assert log[1][1] - log[0][1] < 0.1  # woken by the click's end, not by a timer
    assert share.dropped == 0


def test_a_click_holds_a_frame_for_the_bound_only():
    """A stream of clicks cannot stop the webcams: the frame runs after `clicks_wait_s`."""
    clicks = ClicksFirst()
    share = FrameShare(0.25, wait_s=3.0, busy=lambda: False, clicks=clicks, clicks_wait_s=0.2)
    start = time.monotonic()
    log = _frame_during_click(share, clicks, click_s=1.0)
    assert [what for what, _ in log] == ["frame starts", "click answered"]
    assert 0.15 <= log[0][1] - start < 0.8, log[0][1] - start


def test_a_queued_click_holds_the_frame_too_and_no_click_none():
    clicks = ClicksFirst()
    share = FrameShare(0.25, wait_s=3.0, busy=lambda: False, clicks=clicks, clicks_wait_s=0.3)
    start = time.monotonic()
    with share.turn("cam") as mine:  # no click: at once
        assert mine and time.monotonic() - start < 0.05
    waiting = [1]
    clicks.queued = lambda: waiting[0]
    clicks.joined()  # a click waits in the queue, not answered yet
    start = time.monotonic()
    with share.turn("cam") as mine:  # held for the bound (the click was never answered)
        assert mine and 0.25 <= time.monotonic() - start < 1.0


def test_the_servers_frames_wait_for_the_servers_clicks():
    assert LIVE_FRAMES.clicks is CLICKS_FIRST
