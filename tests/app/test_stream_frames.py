"""studio.stream_frames: a webcam's frame reaches its open stream without gradio's routing, the
stream answers it as with gradio's own route, and a frame runs in its stream's own session
whatever session its body claims (gradio's route takes the body's)."""

from __future__ import annotations

import base64
import io
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import gradio as gr
import pytest
from starlette.middleware import Middleware
from test_classroom import join, post_json, stream_outputs

from benchmarks.page_client import AppConfig, PageSession
from studio.stream_frames import StreamFrames, frame_event_id

pytestmark = pytest.mark.app


class PassedOn:
    """A middleware inside StreamFrames: counts the frame posts that reach gradio's routes."""

    frames = 0

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if frame_event_id(scope):
            PassedOn.frames += 1
        await self.app(scope, receive, send)


def _frame() -> dict:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, "PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return {"url": url, "meta": {"_type": "gradio.FileData"}}


@contextmanager
def _served(middleware: list) -> Iterator[str]:
    """A page with a secret per session (`set`) and a webcam stream that answers the secret of
    the session it runs in."""
    with gr.Blocks() as demo:
        secret = gr.State("")
        text = gr.Textbox()
        gr.Button().click(lambda _, s: s, [secret, text], [secret], api_name="set")
        gr.Button().click(lambda _, s: time.sleep(1) or s, [secret, text], [text], api_name="slow")
        webcam = gr.Image(sources=["webcam"], streaming=True, type="filepath")
        webcam.stream(
            lambda picture, s: f"{s}|{picture is not None}",
            [webcam, secret],
            [text],
            time_limit=30,
            stream_every=0.1,
            api_name="frames",
        )
    demo.queue()
    _, url, _ = demo.launch(
        prevent_thread_lock=True,
        server_name="127.0.0.1",
        quiet=True,
        app_kwargs={"middleware": middleware},
    )
    try:
        yield url
    finally:
        demo.close()


def _stream_answers(url: str, posted_session: str) -> tuple[list[str], int]:
    """A visitor's stream (its own session, no secret): the answer to its joining frame, then
    to a frame whose body claims `posted_session`; and the frame post's status."""
    config = AppConfig.read(url)
    index, mine, frame = config.endpoints["frames"], uuid.uuid4().hex, _frame()
    status, event = join(url, index, [frame, None], mine)
    assert status == 200, event
    answers: list[str] = []
    outputs = stream_outputs(url, mine, event["event_id"], timeout=30)
    post_status = 0
    try:
        for output in outputs:
            answers.append(output[0])
            if len(answers) == 2:
                break
            body = {"data": [frame, None], "fn_index": index, "session_hash": posted_session}
            post_status, answer = post_json(f"{url}gradio_api/stream/{event['event_id']}", body)
            assert answer == {"msg": "success"}
    finally:
        outputs.close()
        post_json(f"{url}gradio_api/stream/{event['event_id']}/close", {})
    return answers, post_status


@pytest.mark.parametrize("ours", [True, False], ids=["stream_frames", "gradio_route"])
def test_a_frame_runs_in_its_streams_session_whatever_its_body_claims(ours):
    middleware = [Middleware(StreamFrames)] if ours else []
    with _served([*middleware, Middleware(PassedOn)]) as url:
        victim = PageSession(AppConfig.read(url))
        victim.call("set", "the victim's secret")
        before = PassedOn.frames
        answers, status = _stream_answers(url, victim.session)
    assert status == 200 and answers[0] == "|True"  # the visitor's own (empty) secret
    if ours:
        assert answers[1] == "|True"
        assert PassedOn.frames == before  # answered before gradio's routing
    else:  # gradio 6.31's own route runs the frame on the state of the session the body names
        assert answers[1] == "the victim's secret|True"
        assert PassedOn.frames == before + 1


def test_a_post_to_an_event_that_is_no_stream_is_refused():
    """gradio's route would replace a waiting click's inputs, session included."""
    with _served([Middleware(StreamFrames)]) as url:
        session = PageSession(AppConfig.read(url))
        status, event = join(url, session.config.endpoints["slow"], [None, "mine"], session.session)
        assert status == 200, event
        request = urllib.request.Request(
            f"{url}gradio_api/stream/{event['event_id']}",
            json.dumps({"data": [None, "other"]}).encode(),
            {"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 404
        assert session.call("slow", "after")[0] == ["after"]  # the session goes on as before


def test_unknown_events_and_bad_bodies_get_gradios_own_answers():
    with _served([Middleware(StreamFrames)]) as url:
        status, _ = post_json(f"{url}gradio_api/stream/{uuid.uuid4().hex}", {"data": []})
        assert status == 404
        index = AppConfig.read(url).endpoints["frames"]
        session = uuid.uuid4().hex
        status, event = join(url, index, [_frame(), None], session)
        assert status == 200, event
        status, answer = post_json(f"{url}gradio_api/stream/{event['event_id']}", {"no": 1})
        post_json(f"{url}gradio_api/stream/{event['event_id']}/close", {})
    assert status == 422 and answer["detail"][0]["loc"] == ["body", "data"], answer


@pytest.mark.parametrize(
    ("method", "path", "event_id"),
    [
        ("POST", "/gradio_api/stream/abc123", "abc123"),
        ("POST", "/space/root/gradio_api/stream/abc123/", "abc123"),
        ("POST", "/gradio_api/stream/abc123/close", None),
        ("GET", "/gradio_api/stream/abc123", None),
        ("POST", "/gradio_api/stream/", None),
        ("POST", "/gradio_api/upload", None),
    ],
)
def test_only_frame_posts_are_taken(method, path, event_id):
    assert frame_event_id({"type": "http", "method": method, "path": path}) == event_id
