"""Images a hostile visitor sends, against the app as its own process (issue 21): gradio hands
every upload to our loader unopened, so a 169 M-pixel PNG of 20 kB and a 100-frame GIF cost the
server under 100 MB, the PNG is refused in words, the GIF is classified by its first frame, an
EPS file named .gif never reaches Pillow's EPS plugin, no reply names a server path, and each
upload is deleted after its call. The same holds for frames sent on the live webcam's stream, and
one upload request is capped before gradio stores it; gradio's routes the page does not use are
closed."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from test_hosted import RSS_LIMIT_MB, colour_session

import studio_fixtures as sf

pytestmark = pytest.mark.app

IMAGE_ENDPOINTS = {"/classify", "/classify_frame"}  # every public endpoint with an image input


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("hosted-images")
    with sf.app_server(root, GRADIO_TEMP_DIR=str(root / "gradio"), SAVS_UPLOAD_GRACE_S="3") as (
        url,
        pid,
    ):
        yield url, pid, root / "gradio"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    return {
        "bomb": sf.bomb_png(folder),
        "gif": sf.many_frames_gif(folder),
        "eps": sf.eps_named_gif(folder),
    }


def left_in(cache: Path, name: str) -> list[Path]:
    """The uploads named `name` still in gradio's cache, once the server's upload grace (3 s
    here) has passed: waits up to 10 s for them to go."""
    deadline = time.monotonic() + 10
    while (left := [p for p in cache.rglob(name) if p.is_file()]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_the_image_endpoints_are_the_ones_tested(server):
    """A new public endpoint taking an image must be added to these tests."""
    url, _, _ = server
    api = Client(url, verbose=False).view_api(print_info=False, return_format="dict")
    taking_images = {
        name
        for name, info in api["named_endpoints"].items()
        if any("ImageData" in str(p.get("type")) for p in info["parameters"])
    }
    assert taking_images <= IMAGE_ENDPOINTS and "/classify" in taking_images, taking_images


def test_a_169_megapixel_png_is_refused_without_costing_memory(server, hostile, tmp_path):
    url, pid, cache = server
    client, _ = colour_session(url, tmp_path)
    before = sf.rss_mb(pid)
    with pytest.raises(Exception) as refused:
        client.predict(handle_file(hostile["bomb"]), "", api_name="/classify")
    grown = sf.rss_mb(pid) - before
    message = str(refused.value)
    assert "bomb.png" in message and "too large" in message, message
    assert "/tmp" not in message and str(cache) not in message
    assert grown < RSS_LIMIT_MB, f"server RSS grew {grown:.0f} MB"
    assert left_in(cache, "bomb.png") == []  # the refused upload is gone too


def test_a_100_frame_gif_is_classified_by_its_first_frame(server, hostile, tmp_path):
    url, pid, cache = server
    client, _ = colour_session(url, tmp_path)
    before = sf.rss_mb(pid)
    label, *_ = client.predict(handle_file(hostile["gif"]), "", api_name="/classify")
    grown = sf.rss_mb(pid) - before
    assert label["label"] == "red"  # frame 0; the other 99 are blue
    assert grown < RSS_LIMIT_MB, f"server RSS grew {grown:.0f} MB"
    assert left_in(cache, "frames.gif") == []


def test_an_eps_named_gif_is_refused_by_name_without_a_path(server, hostile, tmp_path):
    url, _, cache = server
    client, _ = colour_session(url, tmp_path)
    with pytest.raises(Exception) as refused:
        client.predict(handle_file(hostile["eps"]), "", api_name="/classify")
    message = str(refused.value)
    assert "x.gif: not a readable image" in message, message
    assert "/tmp" not in message and str(cache) not in message
    assert left_in(cache, "x.gif") == []


def test_one_upload_request_is_capped_before_gradio_stores_it(server, tmp_path):
    """gradio's own upload route takes up to 1,000 files a request: savs.upload_guard refuses
    more than HOSTED_UPLOAD_FILES (or HOSTED_UPLOAD_BYTES) with 413, and stores none of them."""
    import httpx

    from savs.limits import HOSTED_UPLOAD_BYTES, HOSTED_UPLOAD_FILES

    url, _, cache = server
    upload = url.rstrip("/") + "/gradio_api/upload"

    def files(n: int, stem: str) -> list:
        return [("files", (f"{stem}{i}.txt", b"x" * 10, "text/plain")) for i in range(n)]

    ok = httpx.post(upload, files=files(2, "fine"), timeout=30)
    assert ok.status_code == 200 and len(ok.json()) == 2
    many = httpx.post(upload, files=files(HOSTED_UPLOAD_FILES + 1, "many"), timeout=30)
    assert many.status_code == 413 and f"More than {HOSTED_UPLOAD_FILES} files" in many.text
    assert not list(cache.rglob("many*.txt"))
    # a declared length over the cap: answered before the body is read (sent by hand, as
    # httpx checks the length it sends)
    host, port = url.split("//")[1].rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(
            b"POST /gradio_api/upload HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: %d\r\n\r\n--b\r\n" % (HOSTED_UPLOAD_BYTES + 1)
        )
        reply = b""
        while b"in one request" not in reply and (chunk := conn.recv(4096)):
            reply += chunk  # the head and the body may come in separate segments
    assert reply.startswith(b"HTTP/1.1 413") and b"in one request" in reply, reply


def test_a_huge_json_body_is_refused_before_gradio_reads_it(server):
    """gradio reads a queue join's or a webcam frame's JSON whole before any check (a 200 MB
    join grew the server by 650 MB): savs.upload_guard refuses any body over HOSTED_BODY_BYTES
    with 413, streamed (no declared length) or declared, and the server does not grow."""
    import httpx

    from savs.limits import HOSTED_BODY_BYTES

    url, pid, _ = server
    api = url.rstrip("/") + "/gradio_api"
    text = b"x" * (HOSTED_BODY_BYTES * 4)
    body = b'{"data": ["' + text + b'"], "fn_index": 0, "session_hash": "huge"}'

    def chunked():  # no content-length: counted as it streams in
        for i in range(0, len(body), 2**20):
            yield body[i : i + 2**20]

    before = sf.rss_mb(pid)
    for path in ("/queue/join", "/stream/no-such-event"):
        for content in (body, chunked()):
            answer = httpx.post(
                api + path, content=content, headers={"content-type": "application/json"},
                timeout=60,
            )  # fmt: skip
            assert answer.status_code == 413 and "over 16 MB" in answer.text, path
    grown = sf.rss_mb(pid) - before
    assert grown < RSS_LIMIT_MB, f"server RSS grew {grown:.0f} MB"


def test_gradio_routes_the_page_does_not_use_are_closed(server, tmp_path):
    """gradio serves features the page does not have to any visitor: deep links (each writes the
    session's page config, ~230 KB, to disk), screen-recording processing (a 64 MB video copied
    and run through ffmpeg), the run history and monitoring. Closed (savs.closed_routes) or
    switched off at launch: none of them does any work."""
    import httpx

    url, _, cache = server
    client, _ = colour_session(url, tmp_path)  # a session with state on the server
    api = url.rstrip("/") + "/gradio_api"
    deep = httpx.get(f"{api}/deep_link", params={"session_hash": client.session_hash}, timeout=30)
    assert deep.status_code == 404
    assert not (cache / "deep_links").exists()
    video = [("video", ("clip.mp4", b"\x00" * 4096, "video/mp4"))]
    recording = httpx.post(f"{api}/process_recording", files=video, timeout=30)
    assert recording.status_code == 404
    assert not [p for p in cache.rglob("*.mp4") if p.is_file()]
    assert httpx.get(f"{api}/runs", timeout=30).status_code == 404
    assert httpx.get(f"{api}/run-history/buckets", timeout=30).status_code == 404
    for route in ("/monitoring", "/monitoring/summary"):
        assert httpx.get(url.rstrip("/") + route, timeout=30).status_code in (403, 404), route


def stream_one_frame(url: str, session: str, image: Path, mime: str) -> list:
    """Send `image`'s bytes, untouched, as one webcam frame of `/classify_frame` (a data URL,
    as the browser's webcam sends; gradio_client cannot call a stream) in `session`, and return
    the outputs the stream answers with (label, bars, timing line)."""
    import base64

    from test_classroom import fn_index, join, post_json, stream_outputs

    data = f"data:{mime};base64," + base64.b64encode(image.read_bytes()).decode()
    frame = {"url": data, "meta": {"_type": "gradio.FileData"}}
    status, event = join(url, fn_index(url, "classify_frame"), [None, frame, ""], session)
    assert status == 200, event
    outputs = stream_outputs(url, session, event["event_id"])
    try:
        for output in outputs:
            return output
    finally:
        outputs.close()
        post_json(f"{url}gradio_api/stream/{event['event_id']}/close", {})
    raise AssertionError("no answer from the stream")


def test_hostile_frames_on_the_live_stream_cost_nothing_and_name_no_path(server, hostile, tmp_path):
    """The webcam stream's frames take the same road as uploads: a 169 M-pixel PNG frame is
    refused in words (no path), a 100-frame GIF frame is classified by its first frame, and
    neither grows the server by RSS_LIMIT_MB."""
    url, pid, cache = server
    client, _ = colour_session(url, tmp_path)
    before = sf.rss_mb(pid)
    label, _, timing = stream_one_frame(url, client.session_hash, hostile["bomb"], "image/png")
    assert "too large" in timing and "/tmp" not in timing and str(cache) not in timing, timing
    label, _, _ = stream_one_frame(url, client.session_hash, hostile["gif"], "image/gif")
    assert label["label"] == "red"  # frame 0; the other 99 are blue
    grown = sf.rss_mb(pid) - before
    assert grown < RSS_LIMIT_MB, f"server RSS grew {grown:.0f} MB"
