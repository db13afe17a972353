"""UploadGuard: caps what one HTTP upload request may carry, before the web framework stores it.

A Gradio server stores every file of a POST to its upload route on disk before any callback
sees it (gradio 6.31: up to 1,000 files per request, each under `max_file_size`), so a callback's
own checks come too late to bound the disk and the time one request costs. This is a plain ASGI
middleware (no framework import: the app and exported Spaces both use it): a request to an
upload route is refused with 413 when its declared length is over `max_bytes`, and cut off with
413 as soon as its body, counted as it streams in, passes `max_bytes` or holds more than
`max_files` multipart parts. Every other request passes through untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .limits import HOSTED_UPLOAD_BYTES, HOSTED_UPLOAD_FILES

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


class UploadGuard:
    """ASGI middleware: POSTs to a path ending in `/upload` get `max_bytes` and `max_files`."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = HOSTED_UPLOAD_BYTES,
        max_files: int = HOSTED_UPLOAD_FILES,
    ) -> None:
        self.app, self.max_bytes, self.max_files = app, max_bytes, max_files

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http"
            and scope.get("method") == "POST"
            and scope.get("path", "").rstrip("/").endswith("/upload")
        ):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await refuse(send, self.too_large())
            return
        await self.guarded(scope, receive, send, headers.get("content-type", ""))

    async def guarded(self, scope: Scope, receive: Receive, send: Send, content_type: str) -> None:
        """Run the app with a body that stops at the caps; a refusal answers 413 itself."""
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

    def too_large(self) -> str:
        mb = self.max_bytes / 2**20
        cap = f"{mb:.0f} MB" if mb >= 1 else f"{self.max_bytes:,} bytes"
        return f"This upload is over {cap} in one request; send fewer or smaller files at a time."


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
