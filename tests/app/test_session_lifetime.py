"""Issue 21, a classroom on one Space, against the app as its own process: a gradio_client session
that just stops (no page, so no unload) gives its memory back within its time to live; past the
server's session memory budget the least recently used idle session is cleared and told so on
its next action; webcam frames past a session's pixel budget are refused (callback level: the
webcam's events are private, so no client can send them)."""

from __future__ import annotations

import time

import gradio as gr
import pytest
from gradio_client import Client, handle_file
from PIL import Image
from test_session_budget import one_image_zip

import studio_fixtures as sf

pytestmark = pytest.mark.app

TTL_S = 8
SESSIONS_MB = 150
SIDE = 300  # one 300 x 300 image named n times: n x 360 kB held (RGBX), from a 50 kB upload
FREED_MARGIN_MB = 50


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = dict(SAVS_SESSION_TTL=str(TTL_S), SAVS_SESSIONS_BYTES=str(SESSIONS_MB << 20))
    with sf.app_server(tmp_path_factory.mktemp("lifetime"), **env) as served:
        yield served


def holding(url: str, folder, n: int) -> Client:
    """A client session holding n stored images of SIDE x SIDE."""
    client = Client(url, verbose=False)
    folder.mkdir(exist_ok=True)
    client.predict(handle_file(one_image_zip(folder, n, SIDE)), api_name="/import_dataset")
    return client


def test_an_abandoned_api_session_gives_its_memory_back_within_its_time_to_live(server, tmp_path):
    url, pid = server
    Client(url, verbose=False).predict(api_name="/add_class")  # first-call costs in `before`
    before = sf.rss_mb(pid)
    client = holding(url, tmp_path / "big", 400)  # 144 MB of pixels, under the server budget
    held = sf.rss_mb(pid) - before
    assert held > 100, f"the import held only {held:.0f} MB"
    deadline = time.monotonic() + TTL_S + 15  # the sweep runs every TTL / 4
    while sf.rss_mb(pid) > before + FREED_MARGIN_MB and time.monotonic() < deadline:
        time.sleep(0.5)
    left = sf.rss_mb(pid) - before
    print(f"abandoned session: held {held:.0f} MB, {left:.0f} MB left after the TTL")
    assert left < FREED_MARGIN_MB, f"held {held:.0f} MB; {left:.0f} MB still held after the TTL"
    with pytest.raises(Exception, match=f"was idle for more than {TTL_S} seconds and was cleared"):
        client.predict(api_name="/add_class")
    client.predict(api_name="/add_class")  # told once; the session works again, empty


def test_past_the_memory_budget_the_idle_session_is_cleared_and_told_on_its_next_action(
    server, tmp_path
):
    url, _ = server
    first = holding(url, tmp_path / "a", 300)  # 108 MB
    second = holding(url, tmp_path / "b", 300)  # 108 MB more: past 150 MB, `first` is idle
    with pytest.raises(Exception, match="was idle and was cleared to make room"):
        first.predict(api_name="/add_class")
    summary = first.predict(api_name="/add_class")
    assert "1 class, 0 examples" in summary, summary
    assert "300 examples" in second.predict(api_name="/add_class")


def test_webcam_frames_past_the_pixel_budget_are_refused(monkeypatch, tmp_path):
    from savs.limits import SessionBudget
    from studio import server
    from studio.actions import Studio
    from studio.steps import capture

    monkeypatch.setattr(server, "HOSTED_SESSION", SessionBudget(max_pixels=30_000))
    studio = Studio(model="tiny")
    studio.add_class("a")

    def frame() -> str:  # the camera's frames reach the callbacks as files (type="filepath")
        path = tmp_path / f"frame{len(list(tmp_path.iterdir()))}.png"
        Image.new("RGB", (100, 100), (200, 30, 30)).save(path)
        return str(path)

    for _ in range(3):
        capture.snap_cb(studio, "a", frame())
    with pytest.raises(gr.Error, match="30,000 pixels"):
        capture.snap_cb(studio, "a", frame())
    with pytest.raises(gr.Error, match="pixels"):  # full: recording cannot start
        capture.record_cb(studio, "a", 10)
    studio.remove_example("a", 0)
    capture.record_cb(studio, "a", 10)
    capture.record_frame_cb(studio, frame())  # fills the room left
    with pytest.warns(UserWarning, match="pixels"):  # the next frame: refused, recording stops
        capture.record_frame_cb(studio, frame())
    assert studio.num_examples() == 3 and not studio.recording
