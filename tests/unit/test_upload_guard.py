"""savs.upload_guard: one upload request's bytes and files, and any other request's body, are
capped before the app reads them (the app tier checks it in front of gradio:
tests/app/test_upload_guard_app.py)."""

from __future__ import annotations

import asyncio

import pytest

from savs.upload_guard import PartCounter, UploadGuard, multipart_boundary

pytestmark = pytest.mark.unit

BOUNDARY = b"xYzBoundary"


def multipart(files: int, size: int = 10) -> bytes:
    parts = [
        b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="files"; filename="f%d.png"'
        b"\r\n\r\n" % i + b"a" * size + b"\r\n"
        for i in range(files)
    ]
    return b"".join(parts) + b"--" + BOUNDARY + b"--\r\n"


def run(
    guard_kwargs: dict,
    body: bytes,
    chunk: int,
    path: str = "/gradio_api/upload",
    query: bytes = b"",
    **headers,
):
    """(status, body text, bytes the app read): one request through UploadGuard to an app
    that reads the whole body and answers 200."""
    read = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            read.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    hdrs = [(b"content-type", b"multipart/form-data; boundary=" + BOUNDARY)]
    hdrs += [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    scope = {"type": "http", "method": "POST", "path": path, "headers": hdrs, "query_string": query}
    asyncio.run(UploadGuard(app, **guard_kwargs)(scope, receive, send))
    status = sent[0]["status"]
    text = b"".join(m.get("body", b"") for m in sent[1:]).decode()
    return status, text, sum(map(len, read))


@pytest.mark.parametrize("chunk", [1, 7, 64, 10_000])
def test_parts_are_counted_whatever_the_chunking(chunk):
    body = multipart(5)
    counter = PartCounter(BOUNDARY)
    for i in range(0, len(body), chunk):
        parts = counter.feed(body[i : i + chunk])
    assert parts == 5


def test_a_request_within_the_caps_reaches_the_app_whole():
    body = multipart(3)
    status, text, read = run(dict(max_bytes=10_000, max_files=3), body, chunk=16)
    assert (status, text, read) == (200, "ok", len(body))


@pytest.mark.parametrize("chunk", [16, 100_000])
def test_one_file_too_many_is_refused(chunk):
    status, text, _ = run(dict(max_bytes=10_000_000, max_files=3), multipart(4), chunk=chunk)
    assert status == 413 and "More than 3 files in one upload" in text


def test_a_body_over_the_cap_is_cut_off_while_it_streams():
    body = multipart(2, size=5_000)  # no content-length: counted as it comes
    status, text, read = run(dict(max_bytes=1_000, max_files=10), body, chunk=100)
    assert status == 413 and "over 1,000 bytes in one request" in text
    assert read <= 1_000  # the app never got more than the cap


def test_a_declared_length_over_the_cap_is_refused_before_the_app_reads():
    body = multipart(2, size=5_000)
    status, _, read = run(
        dict(max_bytes=2**20, max_files=10), body, chunk=100, content_length=str(2**21)
    )
    assert status == 413 and read == 0


def test_other_routes_get_the_body_cap_only():
    """A queue join or a webcam frame: no file count, its own (smaller) byte cap."""
    body = multipart(50)
    caps = dict(max_bytes=100, max_files=1, max_body_bytes=len(body))
    status, _, read = run(caps, body, chunk=64, path="/gradio_api/queue/join")
    assert (status, read) == (200, len(body))
    caps["max_body_bytes"] = 1_000
    status, text, read = run(caps, body, chunk=64, path="/gradio_api/queue/join")
    assert status == 413 and "over 1,000 bytes" in text and read <= 1_000
    assert "upload" in text  # where files go instead
    status, _, read = run(
        caps, body, chunk=64, path="/gradio_api/stream/e1", content_length=str(len(body))
    )
    assert status == 413 and read == 0  # declared: refused before the app reads


def test_the_default_body_cap_is_the_hosted_limit():
    from savs.limits import HOSTED_BODY_BYTES

    body = b"x" * (HOSTED_BODY_BYTES + 1)
    status, _, read = run({}, body, chunk=2**20, path="/gradio_api/queue/join")
    assert status == 413 and read <= HOSTED_BODY_BYTES
    status, _, read = run({}, body[:-1], chunk=2**20, path="/gradio_api/queue/join")
    assert (status, read) == (200, HOSTED_BODY_BYTES)


def test_boundaries_are_read_from_the_content_type():
    assert multipart_boundary('multipart/form-data; boundary="ab c"') == b"ab c"
    assert multipart_boundary("Multipart/Form-Data;charset=x; boundary=q1") == b"q1"
    assert multipart_boundary("application/json") is None


def test_a_long_query_is_refused_before_the_app_sees_it():
    """gradio keeps ids that come in a query (an upload's, for every upload in flight) as long
    as the visitor made them: a query over the cap gets 414, on any route, body unread."""
    body = multipart(1)
    ok = b"upload_id=" + b"a" * 40
    assert run(dict(max_query_bytes=64), body, chunk=64, query=ok)[0] == 200
    long = b"upload_id=" + b"a" * 60_000
    for path in ("/gradio_api/upload", "/gradio_api/upload_progress", "/gradio_api/queue/join"):
        status, text, read = run(dict(max_query_bytes=64), body, chunk=64, path=path, query=long)
        assert (status, read) == (414, 0) and "at most 64" in text
