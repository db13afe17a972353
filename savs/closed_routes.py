"""ClosedRoutes: the web framework's routes that our pages never use answer 404 before any work.

Gradio 6.31 serves routes for features the app does not have, and any visitor can call them:
- `/gradio_api/deep_link` writes the session's whole page config (~230 KB) to the server's
  upload folder, a new file for each state a visitor reaches, never deleted (disk);
- `/gradio_api/process_recording` takes a video of up to `max_file_size`, copies it to the temp
  folder and runs ffmpeg on it where ffmpeg is installed (disk, CPU time, a decoder).
The run-history and monitoring routes are switched off through `launch(run_history=False,
enable_monitoring=False)` (`studio.app.launch_kwargs`); these two have no such switch. This is a
plain ASGI middleware (no framework import), so exported Spaces use it too.
"""

from __future__ import annotations

from .upload_guard import ASGIApp, Receive, Scope, Send, refuse

# path endings (a Space serves the app under a root path); matched with no trailing slash
CLOSED = ("/gradio_api/deep_link", "/gradio_api/process_recording")


def closed(path: str) -> bool:
    """Whether a request path is one of the CLOSED routes (any prefix, any trailing slash)."""
    return path.rstrip("/").endswith(CLOSED)


class ClosedRoutes:
    """ASGI middleware: requests to a CLOSED route get 404; everything else passes untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and closed(scope.get("path", "")):
            await refuse(send, "Not found", status=404)
            return
        await self.app(scope, receive, send)


__all__ = ["CLOSED", "ClosedRoutes", "closed"]
