"""The fake webcam: a .y4m clip of known frames that headless Chromium plays as its camera. A
minimal page opens the camera with getUserMedia and reads pixels back from a canvas; the colours
(and their places) we wrote must come back."""

from __future__ import annotations

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import fake_camera as fc
import pytest
from chromium import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

RED, GREEN, BLUE, YELLOW = (220, 30, 30), (30, 200, 40), (30, 40, 220), (240, 225, 30)

PAGE = """<!doctype html><html><body><video id="v" autoplay muted playsinline></video>
<canvas id="c"></canvas><script>
window.camera = navigator.mediaDevices.getUserMedia({video: true}).then(async (stream) => {
  const v = document.getElementById("v"); v.srcObject = stream; await v.play();
  await new Promise((r) => v.requestVideoFrameCallback(r));
  return stream;
});
// the RGB at fractions (fx, fy) of the current frame
window.pixels = async (points) => {
  await window.camera;
  const v = document.getElementById("v"), c = document.getElementById("c");
  c.width = v.videoWidth; c.height = v.videoHeight;
  const ctx = c.getContext("2d", {willReadFrequently: true}); ctx.drawImage(v, 0, 0);
  return {size: [c.width, c.height], rgb: points.map(([fx, fy]) =>
    Array.from(ctx.getImageData(Math.floor(fx * c.width), Math.floor(fy * c.height), 1, 1)
      .data.slice(0, 3)))};
};
</script></body></html>"""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no request lines in the test output
        pass


@pytest.fixture
def served(tmp_path):
    """The page on http://127.0.0.1 (a secure context: getUserMedia works there)."""
    (tmp_path / "index.html").write_text(PAGE)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    server.shutdown()


def _close(a, b, tol: int = 6) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def _camera_page(p, clip, url):
    browser = p.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS + fc.chromium_camera_args(clip)
    )
    page = browser.new_page()
    page.goto(url)
    return browser, page


def test_the_known_colours_come_back_in_their_places(served, tmp_path):
    from playwright.sync_api import sync_playwright

    clip = fc.write_y4m(
        tmp_path / "quadrants.y4m", [fc.quadrant_frame([RED, GREEN, BLUE, YELLOW])] * 4
    )
    with sync_playwright() as p:
        browser, page = _camera_page(p, clip, served)
        try:
            got = page.evaluate(
                "window.pixels([[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]])"
            )
        finally:
            browser.close()
    assert got["size"] == [64, 64]  # the clip's own frame size
    for want, seen in zip([RED, GREEN, BLUE, YELLOW], got["rgb"]):
        assert _close(want, seen), (want, seen)


def test_the_frames_play_in_turn(served, tmp_path):
    """5 red frames then 5 blue at 10 fps, looped: sampling for 2 s sees both and nothing else."""
    from playwright.sync_api import sync_playwright

    clip = fc.write_y4m(tmp_path / "red_blue.y4m", fc.solid_frames([RED, BLUE], frames_each=5))
    seen = []
    with sync_playwright() as p:
        browser, page = _camera_page(p, clip, served)
        try:
            for _ in range(20):
                seen.append(page.evaluate("window.pixels([[0.5, 0.5]])")["rgb"][0])
                page.wait_for_timeout(100)
        finally:
            browser.close()
    assert any(_close(RED, s) for s in seen) and any(_close(BLUE, s) for s in seen), seen
    assert all(_close(RED, s) or _close(BLUE, s) for s in seen), seen


def test_a_clip_round_trips_without_a_browser(tmp_path):
    frames = fc.solid_frames([RED, BLUE], frames_each=2) + [
        fc.quadrant_frame([RED, GREEN, BLUE, YELLOW])
    ]
    back = fc.read_y4m(fc.write_y4m(tmp_path / "c.y4m", frames))
    assert len(back) == 5 and back[0].size == (64, 64)
    assert _close(back[0].getpixel((3, 3)), RED, 2) and _close(back[2].getpixel((3, 3)), BLUE, 2)
    assert _close(back[4].getpixel((50, 10)), GREEN, 2) and _close(
        back[4].getpixel((10, 50)), BLUE, 2
    )
    with pytest.raises(ValueError, match="even"):
        fc.write_y4m(tmp_path / "odd.y4m", [fc.Image.new("RGB", (5, 4))])


def test_scene_frames_show_the_labelled_colour():
    frames = fc.scene_frames("colour", ["red", "blue"], frames_each=2)
    assert [lab for lab, _ in frames] == ["red", "red", "blue", "blue"]
    # the drawn shape's colour is among the frame's pixels (colour task: one object)
    red = frames[0][1].getcolors(64 * 64)
    assert any(_close(rgb, (220, 30, 30), 40) for _, rgb in red)
