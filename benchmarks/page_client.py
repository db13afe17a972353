"""What a browser tab sends to the app, without the browser: one session over plain HTTP.

Why not gradio_client: it spent ~100 ms of CPU per call on the benchmark's side (measured with
8 students: 72% of all CPU went to the clients), more than the server's work for the call, and
a classroom's clients run on thirty machines, not on the server's two cores. This client does
what the page does and nothing more, so a benchmark's CPU goes to the server:
- a file input is uploaded first (`/gradio_api/upload`), then referenced by its server path;
- a call joins the queue (`/gradio_api/queue/join`) and reads the session's event stream
  (`/gradio_api/queue/data`) until its event completes;
- like the page, it then runs the event the app chains after it (the redraw: `.success` after
  a success, `.failure` after a failure), read off the app's config.

Each `PageSession` is one tab: its own session hash; its calls are sequential.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TIMEOUT_S = 120


class CallFailed(RuntimeError):
    """The app answered an event with an error (a refusal or gr.Error): its message."""


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        return json.loads(response.read())


@dataclass
class AppConfig:
    """What the page reads off `/config`: each endpoint's index and the events chained after
    each dependency (index -> [(index, on_success, on_failure)])."""

    url: str
    endpoints: dict[str, int] = field(default_factory=dict)
    chained: dict[int, list[tuple[int, bool, bool]]] = field(default_factory=dict)
    inputs: dict[int, int] = field(default_factory=dict)  # index -> number of inputs

    @classmethod
    def read(cls, url: str) -> AppConfig:
        with urllib.request.urlopen(url + "config", timeout=TIMEOUT_S) as response:
            config = json.loads(response.read())
        out = cls(url)
        for dep in config["dependencies"]:
            if dep.get("api_name"):
                out.endpoints[dep["api_name"]] = dep["id"]
            out.inputs[dep["id"]] = len(dep["inputs"])
            after = dep.get("trigger_after")
            if after is not None:
                out.chained.setdefault(after, []).append(
                    (
                        dep["id"],
                        bool(dep.get("trigger_only_on_success")),
                        bool(dep.get("trigger_only_on_failure")),
                    )
                )
        return out


class PageSession:
    """One browser tab's session: upload, call (and the chained redraw), as the page does."""

    def __init__(self, config: AppConfig) -> None:
        self.config, self.url = config, config.url
        self.session = uuid.uuid4().hex[:11]

    def upload(self, path: Path) -> dict:
        """A file input's value, as the page sends it after uploading the file."""
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
                f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode()
            + path.read_bytes()
            + f"\r\n--{boundary}--\r\n".encode()
        )
        request = urllib.request.Request(
            self.url + f"gradio_api/upload?upload_id={uuid.uuid4().hex[:11]}",
            body,
            {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            [stored] = json.loads(response.read())
        return {"path": stored, "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}

    def call(self, api_name: str, *data: Any, chain: bool = True) -> tuple[list, float]:
        """Call an endpoint (`data`: its inputs after the session state) as a click does: its
        output and seconds to it; with `chain`, then the events the app chains after it,
        which a page runs (their time is not in the seconds). Raises CallFailed on an error."""
        index = self.config.endpoints[api_name]
        start = time.perf_counter()
        ok, output = self._run(index, [None, *data])
        seconds = time.perf_counter() - start
        if chain:
            self._chain(index, ok)
        if not ok:
            raise CallFailed(output)
        return output, seconds

    def _chain(self, index: int, ok: bool) -> None:
        for then, on_success, on_failure in self.config.chained.get(index, []):
            if (on_success and not ok) or (on_failure and ok):
                continue
            # the redraw's inputs: the session state (the server fills it in)
            done, _ = self._run(then, [None] * self.config.inputs[then])
            self._chain(then, done)

    def _run(self, index: int, data: list) -> tuple[bool, Any]:
        """Join the queue and read the session's stream until the event completes: (success,
        output data or the error message)."""
        body = {
            "data": data,
            "fn_index": index,
            "session_hash": self.session,
            "event_data": None,
            "trigger_id": None,
        }
        try:
            event_id = post_json(self.url + "gradio_api/queue/join", body)["event_id"]
        except urllib.error.HTTPError as exc:  # refused at the door (503 with a message)
            return False, json.loads(exc.read() or b"{}").get("detail", f"HTTP {exc.code}")
        stream = urllib.request.urlopen(
            self.url + f"gradio_api/queue/data?session_hash={self.session}", timeout=TIMEOUT_S
        )
        with stream:
            for raw in stream:
                if not raw.startswith(b"data:"):
                    continue
                message = json.loads(raw[5:])
                if message.get("event_id") != event_id:
                    continue
                if message.get("msg") == "process_completed":
                    output = message.get("output") or {}
                    if message.get("success"):
                        return True, output.get("data")
                    return False, output.get("error") or "failed"
        return False, "the event stream ended before the event completed"
