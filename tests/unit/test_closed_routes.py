"""savs.closed_routes: gradio's routes the page never uses answer 404 before the app sees them
(the app tier checks it in front of gradio: tests/app/test_hosted_images.py)."""

from __future__ import annotations

import asyncio

import pytest

from savs.closed_routes import CLOSED, ClosedRoutes, closed

pytestmark = pytest.mark.unit


def request(path: str, kind: str = "http") -> tuple[int, bool]:
    """(status, whether the app behind the middleware was called) for one request to `path`."""
    reached = []

    async def app(scope, receive, send):
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": kind, "method": "GET", "path": path, "headers": []}
    asyncio.run(ClosedRoutes(app)(scope, receive, send))
    return sent[0]["status"], bool(reached)


@pytest.mark.parametrize("route", CLOSED)
@pytest.mark.parametrize("prefix", ["", "/some/space/root"])
@pytest.mark.parametrize("slash", ["", "/", "//"])
def test_a_closed_route_answers_404_and_never_reaches_the_app(route, prefix, slash):
    assert closed(prefix + route + slash)
    assert request(prefix + route + slash) == (404, False)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/gradio_api/queue/join",
        "/gradio_api/upload",
        "/gradio_api/deep_link_other",  # only the exact route names are closed
        "/gradio_api/deep_links/state.json",
        "/gradio_api/process_recording/x",
    ],
)
def test_every_other_route_passes_untouched(path):
    assert not closed(path)
    assert request(path) == (200, True)


def test_other_scopes_pass_untouched():
    """Only HTTP requests are answered here (a websocket or lifespan scope goes on)."""
    assert request("/gradio_api/deep_link", kind="websocket") == (200, True)
