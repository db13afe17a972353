"""The page's config, built once instead of for every `GET /config`.

Why: gradio 6.31 answers `GET /config` by deep-copying the whole config of the page (259 KB of
JSON) and rewriting its URLs for the request's root: ~60 ms of server CPU each time, for anyone,
with no session and no queue. A script asking ~17 times a second kept the server's interpreter
busy (the CPU class of attack; measured 6 Dec 2026, benchmarks/RESULTS.md). Caching by the
request's host is no bound: the root comes from headers a client chooses (Host,
X-Forwarded-Host, X-Gradio-Server).

How: the first plain `GET /config` (no query: no deep link, no page) is answered by gradio for
a placeholder host; its JSON is kept. Every request then gets that JSON with the placeholder
root replaced by its own root, as gradio computes it (`route_utils.get_root_url`), JSON-escaped.
gradio writes the root into the config only as a whole (its "root" and the prefix of file URLs),
so the answer is what gradio itself would send (tests/app/test_config_cache.py). The app has no
login, so no answer depends on a user.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import orjson
from fastapi import Request
from gradio.route_utils import get_root_url

from savs.upload_guard import ASGIApp, Scope

PLACEHOLDER_HOST = "savs-config.invalid"  # .invalid: a reserved name, never a real host


def _root(scope: Scope, root_path: str | None) -> str:
    """The request's root URL as gradio's /config handler computes it."""
    return get_root_url(request=Request(scope), route_path="/config", root_path=root_path)


def _json_text(text: str) -> bytes:
    """`text` as it appears inside a JSON string (escaped as orjson writes it)."""
    return orjson.dumps(text)[1:-1]


class ConfigCache:
    """ASGI middleware: plain `GET /config` answered from the config gradio built once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._built: dict[str | None, tuple[bytes, list, bytes]] = {}  # root_path -> answer

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if not (
            scope["type"] == "http"
            and scope.get("method") == "GET"
            and scope.get("path", "").rstrip("/") == "/config"
            and not scope.get("query_string")
            and "app" in scope
        ):
            await self.app(scope, receive, send)
            return
        server_app = scope["app"]
        root_path = (
            server_app.root_path
            or scope.get("root_path")
            or server_app.get_blocks().custom_mount_path
        )
        built = self._built.get(root_path)
        if built is None:
            placeholder = dict(
                scope,
                headers=[(b"host", PLACEHOLDER_HOST.encode())],
                scheme="http",
                server=(PLACEHOLDER_HOST, 80),
            )
            status, headers, body = await _answer(self.app, placeholder, receive)
            if status != 200:  # not kept: this request gets gradio's own answer
                await self.app(scope, receive, send)
                return
            built = (_json_text(_root(placeholder, root_path)), headers, body)
            self._built[root_path] = built
        placeholder_root, headers, body = built
        body = body.replace(placeholder_root, _json_text(_root(scope, root_path)))
        headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _answer(app: ASGIApp, scope: Scope, receive: Any) -> tuple[int, list, bytes]:
    """(status, headers, body) of the app's answer to one request."""
    status, headers, chunks = 500, [], []

    async def keep(message: MutableMapping[str, Any]) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, keep)
    return status, headers, b"".join(chunks)


__all__ = ["PLACEHOLDER_HOST", "ConfigCache"]
