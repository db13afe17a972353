"""UploadGuard: caps what one HTTP request may carry, before the web framework reads it.

A Gradio server stores every file of a POST to its upload route on disk before any callback
sees it (gradio 6.31: up to 1,000 files per request, each under `max_file_size`), so a callback's
own checks come too late to bound the disk and the time one request costs. Every other body
(a queue join, a webcam frame) is read whole and parsed as JSON before any check: a 200 MB body
to `/gradio_api/queue/join` grew the server by 650 MB at its peak and kept 460 MB (measured 6 Dec
2026), and one to an unknown stream still cost 360 MB. This is a plain ASGI middleware (no
framework import: the app and exported Spaces both use it): a request is refused with 413 when
its declared length is over its cap, and cut off with 413 as soon as its body, counted as it
streams in, passes the cap or (an upload) holds more than `max_files` multipart parts. The cap
is `max_bytes` for an upload route, `max_body_bytes` for any other body. Any request whose query
string is longer than `max_query_bytes` is refused with 414 (gradio keeps ids that come in
queries, e.g. an upload's, as long as the visitor made them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .limits import (
    HOSTED_BODY_BYTES,
    HOSTED_QUERY_BYTES,
    HOSTED_UPLOAD_BYTES,
    HOSTED_UPLOAD_FILES,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class UploadRefused(Exception):
    """Raised inside the app's body reads once the request passed a cap (its reason)."""


class PartCounter:
    """Counts multipart delimiters (`--boundary`) in a body that arrives in chunks; a
    delimiter split across two chunks is counted once (the tail of each chunk is kept)."""

    def __init__(self, boundary: bytes) -> None:
        self.delimiter = b"--" + boundary
        self.tail = b""
        self.delimiters = 0

    def feed(self, chunk: bytes) -> int:
        """The parts seen so far (the closing delimiter `--boundary--` ends the last one)."""
        data = self.tail + chunk
        self.delimiters += data.count(self.delimiter)
        # keep what could start a delimiter that the next chunk completes, never a whole one
        keep = len(self.delimiter) - 1
        self.tail = data[-keep:] if keep else b""
        return max(0, self.delimiters - 1)


def multipart_boundary(content_type: str) -> bytes | None:
    """The boundary of a multipart/form-data content type (None for any other type)."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return None
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary" and value:
            return value.strip('"').encode("latin-1")
    return None


def is_upload(scope: Scope) -> bool:
    """Whether a request is a POST to an upload route (a path ending in `/upload`)."""
    return scope.get("method") == "POST" and scope.get("path", "").rstrip("/").endswith("/upload")


class UploadGuard:
    """ASGI middleware: POSTs to a path ending in `/upload` get `max_bytes` and `max_files`,
    every other request's body `max_body_bytes`, every request's query `max_query_bytes`."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = HOSTED_UPLOAD_BYTES,
        max_files: int = HOSTED_UPLOAD_FILES,
        max_body_bytes: int = HOSTED_BODY_BYTES,
        max_query_bytes: int = HOSTED_QUERY_BYTES,
    ) -> None:
        self.app, self.max_bytes, self.max_files = app, max_bytes, max_files
        self.max_body_bytes, self.max_query_bytes = max_body_bytes, max_query_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = len(scope.get("query_string", b"")) if scope["type"] == "http" else 0
        if query > self.max_query_bytes:
            reason = f"The request's query is {query:,} bytes; at most {self.max_query_bytes:,}."
            await refuse(send, reason, status=414)
            return
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD"):  # no body read
            await self.app(scope, receive, send)
            return
        upload = is_upload(scope)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.cap(upload):
            await refuse(send, self.too_large(upload))
            return
        if upload:
            await self.guarded(scope, receive, send, headers.get("content-type", ""))
            return
        # the framework reads such a body whole anyway; read first, so that one over the cap
        # gets our 413 (cut off inside the framework's JSON read, it would answer 400)
        body = await read_body(receive, self.max_body_bytes)
        if body is None:
            await refuse(send, self.too_large(upload=False))
            return
        await self.app(scope, replay(body, receive), send)

    def cap(self, upload: bool) -> int:
        return self.max_bytes if upload else self.max_body_bytes

    async def guarded(self, scope: Scope, receive: Receive, send: Send, content_type: str) -> None:
        """Run the app with an upload's body that stops at `max_bytes` and `max_files`
        multipart parts; a refusal answers 413 itself."""
        boundary = multipart_boundary(content_type)
        counter = PartCounter(boundary) if boundary else None
        seen = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                seen += len(chunk)
                if seen > self.max_bytes:
                    raise UploadRefused(self.too_large())
                if counter and counter.feed(chunk) > self.max_files:
                    raise UploadRefused(
                        f"More than {self.max_files} files in one upload; send at most "
                        f"{self.max_files} at a time."
                    )
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except UploadRefused as exc:
            if not started:
                await refuse(send, str(exc))

    def too_large(self, upload: bool = True) -> str:
        if not upload:
            return (
                f"This request is over {_size(self.max_body_bytes)}; the page's requests are far "
                f"smaller (files go through the upload)."
            )
        return (
            f"This upload is over {_size(self.max_bytes)} in one request; send fewer or smaller "
            f"files at a time."
        )


def _size(n: int) -> str:
    mb = n / 2**20
    return f"{mb:.0f} MB" if mb >= 1 else f"{n:,} bytes"


async def read_body(receive: Receive, cap: int | None = None) -> bytes | None:
    """A request's whole body, or None once it passes `cap` bytes (the rest is not read)."""
    chunks, seen, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        seen += len(chunk)
        if cap is not None and seen > cap:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app `body` (already read from `receive`) as one message, then
    waits on `receive` (for the client's disconnect, as the app would have)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


async def refuse(send: Send, reason: str, status: int = 413) -> None:
    """An answer (413 unless `status` says otherwise) with the reason as plain text."""
    body = reason.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
