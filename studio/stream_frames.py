"""A webcam's frames handed to their stream without the web framework's routing.

Why: a live webcam posts a frame every 0.1 s (`POST /gradio_api/stream/{event_id}`), and
gradio keeps only the newest frame of a stream: ten webcams in a classroom post ~100 frames a
second, of which ~7 are classified. Each post went through FastAPI's middleware, routing,
dependency solving and validation: ~1.1 ms of the server's one interpreter per frame, a third
of all the interpreter's time the ten webcams took (profiled 6 Dec 2026,
benchmarks/RESULTS.md), on the same event loop that answers every other student's click.

How: the post's JSON is validated against gradio's own `PredictBody` (pydantic, in one pass)
and handed to the stream's event exactly as gradio's route does (`event.data`, then its
signal), answered `{"msg": "success"}`. The event's own session and event id replace the ones
the body claims, so a post cannot run a stream's callback on another session's state (gradio's
route takes them from the body, and so restores that session's state for the callback). A post
to an event that is not a stream is refused (404): gradio's route would replace a waiting
click's inputs and session the same way. Anything else (an unknown event, a body gradio would
refuse, an app with a login) goes to gradio's route as before.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi import Request
from gradio.data_classes import PredictBody, PredictBodyInternal
from pydantic import ValidationError

from savs.upload_guard import ASGIApp, Receive, Scope, Send, read_body, refuse, replay

# the frame route under any root path; its /close route (and anything longer) does not match
FRAME_PATH = re.compile(r"/gradio_api/stream/([^/]+)/?")
ANSWER = orjson.dumps({"msg": "success"})  # gradio's route answers this


def frame_event_id(scope: Scope) -> str | None:
    """The event id of a webcam frame's POST, None for any other request."""
    if scope["type"] != "http" or scope.get("method") != "POST":
        return None
    path = scope.get("path", "")
    found = FRAME_PATH.search(path)
    return found.group(1) if found and found.end() == len(path) else None


class StreamFrames:
    """ASGI middleware: a frame POSTed to an open stream goes straight to its event."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        event_id = frame_event_id(scope)
        server_app = scope.get("app")
        if event_id is None or server_app is None or getattr(server_app, "auth", None):
            await self.app(scope, receive, send)
            return
        event = server_app.get_blocks()._queue.event_ids_to_events.get(event_id)
        if event is None:  # ended or never was: gradio's route answers (404)
            await self.app(scope, receive, send)
            return
        if not event.streaming:  # gradio's route would swap a waiting event's inputs
            await refuse(send, "Not found", status=404)
            return
        body = await read_body(receive) or b""  # UploadGuard, outside, capped it
        try:
            posted = PredictBody.model_validate_json(body)
        except ValidationError:  # gradio's route answers it (422, with its details)
            await self.app(scope, replay(body, receive), send)
            return
        frame: dict[str, Any] = posted.model_dump()
        frame.update(session_hash=event.session_hash, event_id=event._id)
        event.data = PredictBodyInternal(**frame, request=Request(scope, receive))
        event.signal.set()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(ANSWER)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": ANSWER})


__all__ = ["FRAME_PATH", "StreamFrames", "frame_event_id"]
