"""Issue 22, capture as Teachable Machine does it, in headless Chromium with the fake camera
(tests/fake_camera.py) playing green frames: on the second class's card, "Hold to record" puts
frames into that class while the mouse button is held (the count under the camera grows as they
arrive, at >= 5 frames a second, and the card's thumbnails come too), the first class is left
alone, and the card's "Snap" adds one frame. Held without a streaming camera, the page says how
to start it; the camera's own button reads "Start camera" / "Stop camera"."""

from __future__ import annotations

import re
import time

import fake_camera as fc
import pytest
import torch
from chromium import load_task, open_page, start_webcam

from studio.steps import STOP_CAMERA

import studio_fixtures as sf

torch.set_num_threads(1)
pytestmark = pytest.mark.browser

HOLD_S = 3.0  # how long the test holds the button


def _count(card) -> int:
    """The number of examples a class card says it holds."""
    return int(re.search(r"(\d+) examples?", card.inner_text()).group(1))


def _hold(page, card: int, seconds: float) -> list[tuple[float, int, int]]:
    """Press card `card`'s "Hold to record" with the mouse for `seconds`: the (time, frames
    counted under the camera, examples the card shows) seen meanwhile."""
    status, shown = page.locator("#capture-status"), page.locator(f"#class-card-{card}").first
    shown.get_by_role("button", name="Hold to record").hover()
    page.mouse.down()
    start, seen = time.monotonic(), []
    try:
        while time.monotonic() - start < seconds:
            line = status.inner_text() if status.is_visible() else ""  # a closed webcam box
            match = re.search(r"Recording into .*?(\d+) frames?", line)
            if match:
                seen.append(
                    (round(time.monotonic() - start, 2), int(match.group(1)), _count(shown))
                )
            page.wait_for_timeout(100)
    finally:
        page.mouse.up()
    return seen


def test_hold_to_record_into_the_second_class_then_snap(app_url, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    clip = fc.write_y4m(tmp_path / "green.y4m", fc.solid_frames([sf.TASK_COLOURS["green"]], 10))
    with sync_playwright() as p:
        browser, page = open_page(p, app_url, clip=clip, size=(1440, 1000))
        try:
            load_task(page, "colours", "3 classes, 12 examples")
            expect(page.locator("#class-card-1").first).to_be_visible(timeout=30_000)
            _hold(page, 1, 0.5)  # no camera yet: nothing is recorded, the page says why
            expect(page.get_by_text("No frames came while you held").first).to_be_visible(
                timeout=30_000
            )
            page.get_by_text("Webcam for the cards' Hold to record and Snap").click()
            start_webcam(page, "capture-cam")  # its own button reads plainly
            button = page.locator("#capture-cam").get_by_role("button", name="capture photo")
            expect(button).to_contain_text(STOP_CAMERA, timeout=10_000)
            page.wait_for_timeout(1500)  # the camera streams
            seen = _hold(page, 1, HOLD_S)
            expect(page.locator("#capture-status")).not_to_contain_text("Recording", timeout=30_000)
            expect(page.get_by_text("3 classes, 12 examples")).to_be_hidden(timeout=30_000)
            page.wait_for_timeout(1500)  # the cards are drawn again with the new frames
            added = _count(page.locator("#class-card-1").first) - 4
            print(
                f"\nheld {HOLD_S:.0f} s: {added} frames ({added / HOLD_S:.1f} a second), "
                f"count seen {seen}"
            )
            counts = [n for _, n, _ in seen]
            assert len(set(counts)) >= 3 and counts == sorted(counts), seen  # grew as they came
            assert max(shown for *_, shown in seen) > 4, seen  # thumbnails came while held
            assert added >= 5 * (HOLD_S - 0.5), added  # >= 5 a second (a start-up margin)
            assert added >= counts[-1]
            expect(page.get_by_text(f"3 classes, {12 + added} examples")).to_be_visible()
            assert _count(page.locator("#class-card-0").first) == 4  # the first class unchanged
            assert _count(page.locator("#class-card-2").first) == 4
            # Snap: one frame into the card it sits on
            page.locator("#class-card-1").first.get_by_role("button", name="Snap").click()
            expect(page.get_by_text(f"3 classes, {13 + added} examples")).to_be_visible(
                timeout=30_000
            )
            expect(page.locator("#class-card-1").first).to_contain_text(
                f"{5 + added} examples", timeout=30_000
            )
            assert _count(page.locator("#class-card-0").first) == 4
        finally:
            browser.close()
