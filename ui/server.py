"""What every session of the app shares, and the helpers every callback uses.

Models live in one `ModelPool` (each loaded once, lent per call); sessions hold model names.
The activation cache is keyed by content, so it is safe to share: it only saves model runs.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gradio as gr

from savs.activations import ActivationCache
from savs.errors import SavsError
from savs.limits import (
    HOSTED_CALL_CHARS,
    HOSTED_TEXT_CHARS,
    MAX_MODEL_CALLS_PER_SESSION,
    MAX_QUEUED_PER_SESSION,
)
from savs.markup import hide_paths, plain
from savs.models.registry import load_model
from savs.pool import ModelPool
from savs.studio import Studio

MODEL_ENV = "SAVS_MODEL"
ALLOWED_MODELS_ENV = "SAVS_ALLOWED_MODELS"
MODEL_QUEUE = "model"  # concurrency_id of every event that runs a model
MODEL_WORKERS = 4  # model events at once (each model still runs one at a time: the pool's lock)
ONE_AT_A_TIME = "Your previous request is still running: wait for it to finish."
JOIN_WAIT_S = 0.5  # how long a session's next model call waits at the door for the last one
LIVE_QUEUE = "live"  # concurrency_id of the webcam streams: never the model workers

START = {"model": os.environ.get(MODEL_ENV, "tiny")}  # the model new sessions start on


def operator_models() -> set[str]:
    raw = os.environ.get(ALLOWED_MODELS_ENV, "")
    return {a.strip() for a in raw.split(",") if a.strip()}


def hosted_loader(name: str):
    """Visitors load bundled names and hub ids; a local folder only when the operator named it
    (SAVS_ALLOWED_MODELS, or `--model` at start)."""
    return load_model(name, local_folders=name in operator_models() | {START["model"]})


POOL = ModelPool(loader=hosted_loader)
CACHE = ActivationCache(max_bytes=int(os.environ.get("SAVS_CACHE_BYTES", 2 << 30)))
SESSIONS: dict[str, Studio] = {}  # session hash -> its Studio, freed when the page closes
_SESSIONS_LOCK = threading.Lock()

try:  # Hugging Face Spaces (ZeroGPU): GPU work runs inside spaces.GPU
    import spaces  # type: ignore[import-not-found]

    gpu = spaces.GPU(duration=120)
except ImportError:

    def gpu(fn: Callable) -> Callable:
        return fn


def start(model: str) -> None:
    """Set the model new sessions start on, and load it (raises ModelError if it cannot)."""
    START["model"] = model
    POOL.load(model)


def start_session(studio: Studio) -> None:
    """A session that has not chosen a model starts on the app's start model (pages and
    gradio_client sessions alike)."""
    # how much text a visitor's call may give a model (bounds how long it holds it)
    studio.max_call_chars, studio.max_text_chars = HOSTED_CALL_CHARS, HOSTED_TEXT_CHARS
    if not studio.model:
        studio.model = START["model"]
        studio.model_info = POOL.info(studio.model)


def register_session(studio: Studio, request: gr.Request | None) -> None:
    if request is not None and request.session_hash:
        with _SESSIONS_LOCK:
            SESSIONS[request.session_hash] = studio


def close_session(request: gr.Request | None) -> None:
    """The page closed: free what the session held (images, activations, downloads)."""
    with _SESSIONS_LOCK:
        studio = SESSIONS.pop(request.session_hash, None) if request else None
    if studio is not None:
        studio.close()


def user_errors(fn: Callable) -> Callable:
    """Show a user's mistake (SavsError) as a toast, escaped and without server paths; the
    session is unchanged because Studio methods check everything before they change anything."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if args and isinstance(args[0], Studio):
            start_session(args[0])
        try:
            return fn(*args, **kwargs)
        except SavsError as exc:
            raise gr.Error(plain(hide_paths(str(exc))), title="Cannot do that") from None

    return wrapper


def progress_fn(progress: Any, desc: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        progress(done / max(total, 1), desc=f"{desc} {done}/{total}")

    return report


def notice(progress: Any) -> Callable[[str], None]:
    """Told by the pool when a call must load its model first ("Loading tiny ...")."""
    return lambda message: progress(0.0, desc=message)


def discard_upload(path: str | None) -> None:
    """An upload is read once, then its file goes (gradio's own cache sweep is a backstop)."""
    if path:
        Path(path).unlink(missing_ok=True)


class SessionGate:
    """At most `limit` calls of one session at once; one more is refused at once (gr.Error),
    so a session firing many calls holds a model worker for only `limit` of them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}

    @contextmanager
    def turn(self, session: str | None) -> Iterator[None]:
        if not session:  # no session (a direct Python call): nothing to share
            yield
            return
        with self._lock:
            running = self._in_flight.get(session, 0)
            if running >= self.limit:
                raise gr.Error(ONE_AT_A_TIME, title="One at a time")
            self._in_flight[session] = running + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._in_flight.pop(session) - 1
                if left:
                    self._in_flight[session] = left

    def in_flight(self, session: str) -> int:
        with self._lock:
            return self._in_flight.get(session, 0)


MODEL_CALLS = SessionGate(MAX_MODEL_CALLS_PER_SESSION)


def current_session() -> str | None:
    """The session hash of the event being run (gradio sets its request per callback)."""
    from gradio.context import LocalContext

    request = LocalContext.request.get(None)
    return getattr(request, "session_hash", None)


def model_call(fn: Callable) -> Callable:
    """A callback that runs a model: one session's calls take turns (MODEL_CALLS)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with MODEL_CALLS.turn(current_session()):
            return fn(*args, **kwargs)

    return wrapper


def cap_session_queue(demo: gr.Blocks, limit: int = MAX_QUEUED_PER_SESSION) -> None:
    """Refuse an event as it joins (gradio answers 503 with the message) when its session
    already has `limit` events waiting or running, or, for a model call, one model call waiting
    or running (after JOIN_WAIT_S for it to end): one session's calls never fill the shared
    queue, and its extra model calls never reach a model worker. Gradio has no per-session
    setting: this wraps its queue's push (call after demo.queue)."""
    queue = demo._queue
    push = queue.push

    async def capped_push(body: Any, request: Any, username: str | None) -> tuple:
        session = getattr(body, "session_hash", None)
        if session:
            if len(queue.pending_event_ids_session.get(session, ())) >= limit:
                message = f"This session already has {limit} requests waiting: wait for them."
                return False, message, "queue_full"
            fn = demo.fns.get(body.fn_index)
            if fn is not None and fn.concurrency_id == MODEL_QUEUE:
                if not await _model_turn_free(queue, session):
                    return False, ONE_AT_A_TIME, "queue_full"
        return await push(body=body, request=request, username=username)

    queue.push = capped_push


async def _model_turn_free(queue: Any, session: str) -> bool:
    """Whether `session` has no model call in gradio's queue, waiting up to JOIN_WAIT_S (the
    last call's end reaches the client a moment before gradio forgets it)."""
    import asyncio

    for _ in range(int(JOIN_WAIT_S / 0.05) + 1):
        events = list(queue.event_ids_to_events.values())
        if not any(
            e.session_hash == session and e.fn.concurrency_id == MODEL_QUEUE for e in events
        ):
            return True
        await asyncio.sleep(0.05)
    return False
