"""The page's config and the page itself, built once instead of for every request.

Why: gradio 6.31 answers `GET /config` by deep-copying the whole config of the page (259 KB of
JSON) and rewriting its URLs for the request's root: ~60 ms of server CPU each time, for anyone,
with no session and no queue. A script asking ~17 times a second kept the server's interpreter
busy (the CPU class of attack; measured 6 Dec 2026, benchmarks/RESULTS.md). The page (`GET /`)
is the same config inside HTML: ~28 ms each. Caching by the request's host is no bound: the root
comes from headers a client chooses (Host, X-Forwarded-Host, X-Gradio-Server); nor is caching
only a plain URL (the first version did): `/config?x=1` went to gradio again.

How: the first request of a route (`KEPT`) is answered by gradio for a placeholder host and
the query its handler reads (`_query_key`: a page the app has, whether a deep link was asked
for; any other parameter is ignored by gradio too), and that answer is kept. Every request then
gets it with the placeholder root replaced by its own root, as gradio computes it
(`route_utils.get_root_url`), escaped as gradio escapes it there (JSON; in the page also its
`toorjson` filter). gradio writes the root into the answer only as a whole (its "root", the
prefix of file URLs, the API page's snippets), so the answer is what gradio itself would send
(tests/app/test_config_cache.py compares them, hostile hosts included). The app has no login, so
no answer depends on a user. At most 2 x (pages + 1) answers per route are kept.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any
from urllib.parse import parse_qs, urlencode

import orjson
from fastapi import Request
from gradio.route_utils import get_root_url

from savs.upload_guard import ASGIApp, Scope

PLACEHOLDER_HOST = "savs-config.invalid"  # .invalid: a reserved name, never a real host
# the routes answered from a kept answer, and their methods
KEPT = {"/config": ("GET",), "/": ("GET", "HEAD")}
NO_DEEP_LINK = "savs-no-deep-link"  # the app makes no deep links (savs.closed_routes)
# what gradio's page template escapes in the JSON it writes into the page (its toorjson filter)
TOORJSON = ((b"<", b"\\u003c"), (b">", b"\\u003e"), (b"&", b"\\u0026"), (b"'", b"\\u0027"))


def _root(scope: Scope, root_path: str | None, route: str) -> str:
    """The request's root URL as gradio's handler of `route` computes it."""
    return get_root_url(request=Request(scope), route_path=route, root_path=root_path)


def _escaped(text: str, html: bool) -> bytes:
    """`text` as it appears inside a JSON string in gradio's answer: as orjson writes it, and in
    the page's HTML also as gradio's `toorjson` filter escapes it (<, >, & and ')."""
    out = orjson.dumps(text)[1:-1]
    for char, code in TOORJSON if html else ():
        out = out.replace(char, code)
    return out


def _kept_route(scope: Scope) -> str | None:
    """The route of a request answered from a kept copy ("/config" or "/"), else None."""
    if scope["type"] != "http" or "app" not in scope:
        return None
    path = scope.get("path", "")
    route = "/config" if path.rstrip("/") == "/config" else path
    return route if scope.get("method") in KEPT.get(route, ()) else None


def _query_key(route: str, query: bytes, pages: Any) -> bytes | None:
    """The query of a kept answer: only what gradio's handler reads (`page`, `deep_link`: the
    last of each, as FastAPI reads them), any deep link as one name the app never made (it
    makes none). None: gradio answers it itself (the page of a page name it does not have)."""
    params = parse_qs(query.decode("latin-1"), keep_blank_values=True)
    page, deep_link = params.get("page", [""])[-1], params.get("deep_link", [""])[-1]
    kept = []
    if page in pages and page:
        kept.append(("page", page))
    elif page and route == "/":
        return None
    if deep_link:
        kept.append(("deep_link", NO_DEEP_LINK))
    return urlencode(kept).encode()


class ConfigCache:
    """ASGI middleware: `GET /config` and the page itself (`GET` or `HEAD /`) answered from the
    answer gradio built once per query kept (`_query_key`), the request's own root put in."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._built: dict[tuple, tuple[bytes, list, bytes]] = {}  # -> placeholder root, answer

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        route = _kept_route(scope)
        if route is None:
            await self.app(scope, receive, send)
            return
        server_app = scope["app"]
        blocks = server_app.get_blocks()
        key = _query_key(route, scope.get("query_string", b""), blocks.config.get("page", {}))
        if key is None:
            await self.app(scope, receive, send)
            return
        root_path = server_app.root_path or scope.get("root_path") or blocks.custom_mount_path
        html = route == "/"
        built = self._built.get((route, root_path, key))
        if built is None:
            placeholder = dict(
                scope,
                method="GET",
                query_string=key,
                headers=[(b"host", PLACEHOLDER_HOST.encode())],
                scheme="http",
                server=(PLACEHOLDER_HOST, 80),
            )
            status, headers, body = await _answer(self.app, placeholder, receive)
            if status != 200:  # not kept: this request gets gradio's own answer
                await self.app(scope, receive, send)
                return
            root = _root(placeholder, root_path, route)
            built = (_escaped(root, html), headers, body)
            self._built[(route, root_path, key)] = built
        placeholder_root, headers, body = built
        body = body.replace(placeholder_root, _escaped(_root(scope, root_path, route), html))
        headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )


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


__all__ = ["KEPT", "NO_DEEP_LINK", "PLACEHOLDER_HOST", "ConfigCache"]
