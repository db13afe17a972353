"""What every session of the app shares, and the helpers every callback uses.

Models live in one `ModelPool` (each loaded once, lent per call); sessions hold model names.
The activation cache is keyed by content, so it is safe to share: it only saves model runs.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr
import torch

from savs.activations import ActivationCache
from savs.errors import SavsError
from savs.limits import (
    HOSTED_CALL_CHARS,
    HOSTED_MAX_MODEL_GB,
    HOSTED_SESSION,
    HOSTED_TEXT_CHARS,
    MAX_IMAGE_TOKENS_ENV,
    SESSION_TTL_S,
    SESSIONS_BYTES,
)
from savs.markup import hide_paths, plain
from savs.models.image_policy import parse_bound
from savs.models.registry import check_visitor_model, load_model

from .actions import Studio
from .lifetime import SessionRegistry
from .pool import ModelPool, count_from_env
from .priority import CLICKS_FIRST

MODEL_ENV = "SAVS_MODEL"
MODEL_QUEUE = "model"  # concurrency_id of the events that run a model for long (extract ...)
MODEL_WORKERS_ENV = "SAVS_MODEL_WORKERS"
# model events of one kind side by side, by default: on a CPU one, as events side by side share
# the same cores (and one interpreter) and each finishes later; on a GPU 4, whose Python and
# preprocessing overlap the GPU's work
SIDE_BY_SIDE = 4 if torch.cuda.is_available() else 1


def model_workers() -> int:
    """Long model events at once ($SAVS_MODEL_WORKERS, default SIDE_BY_SIDE): on a CPU, a
    classroom's first clicks waited 2-3x longer with 2 or 4 (benchmarks/RESULTS.md)."""
    return count_from_env(MODEL_WORKERS_ENV, SIDE_BY_SIDE)


MODEL_WORKERS = model_workers()
# one input a person waits for (classify, the ablated answer): its own group, so a click never
# queues behind a classroom's extractions in gradio's queue; at the model its pass goes before
# their batches (savs.models.turns). SIDE_BY_SIDE of them: on a CPU the model's passes take
# turns anyway and the rest of a click is Python, so four clicks side by side each took ~4x as
# long (classroom p50 / p95 86 / 224 ms with 4, 40 / 140 ms with 1: benchmarks/RESULTS.md)
CLICK_QUEUE = "click"
CLICK_WORKERS = SIDE_BY_SIDE
# loading a model (/load_model, /import_classifier) can take minutes for a hub model: its own
# group, so one visitor's load never holds the long-job worker every extraction waits for
LOAD_QUEUE = "load"
LOAD_WORKERS = 1
# every event that runs a model: one of them per session at once (studio.fairness)
MODEL_GROUPS = (MODEL_QUEUE, CLICK_QUEUE, LOAD_QUEUE)
LIVE_QUEUE = "live"  # concurrency_id of the webcam streams: never the model workers

START = {"model": os.environ.get(MODEL_ENV, "tiny")}  # the model new sessions start on
# the operator's bound on image tokens per image ($SAVS_MAX_IMAGE_TOKENS, app.py
# --max-image-tokens; None: each architecture's classification default, no cap): models load
# at min(their default, it), and no visitor choice or imported classifier goes above it
IMAGE_TOKENS = {"cap": parse_bound(os.environ.get(MAX_IMAGE_TOKENS_ENV))}


def hosted_loader(name: str):
    """Deny by default: visitors load the bundled models and the start model (`--model`), or
    only the operator's SAVS_ALLOWED_MODELS when it is set; any other name is refused before
    the disk or the hub is asked. A listed model is sized from its config first (at most
    SAVS_MAX_MODEL_GB, default HOSTED_MAX_MODEL_GB)."""
    check_visitor_model(name, START["model"])
    return load_model(name, max_gb=HOSTED_MAX_MODEL_GB, image_token_cap=IMAGE_TOKENS["cap"])


POOL = ModelPool(loader=hosted_loader)
CACHE = ActivationCache(max_bytes=int(os.environ.get("SAVS_CACHE_BYTES", 2 << 30)))
# session hash -> its Studio, for pages and API clients alike: freed when the page closes, when
# idle past SAVS_SESSION_TTL, or (least recently used idle first) past SAVS_SESSIONS_BYTES
SESSIONS = SessionRegistry(
    max_bytes=int(os.environ.get("SAVS_SESSIONS_BYTES", SESSIONS_BYTES)),
    ttl_s=float(os.environ.get("SAVS_SESSION_TTL", SESSION_TTL_S)),
)
_SWEEPER: list[threading.Thread] = []  # started once, by the first session
_SWEEPER_LOCK = threading.Lock()

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
    studio.budget = HOSTED_SESSION
    if not studio.model:
        studio.model = START["model"]
        studio.model_info = POOL.info(studio.model)


def _session_key(request: gr.Request | None = None) -> str:
    """The calling session's hash (gradio sets the request of every event, API calls too)."""
    from gradio.context import LocalContext

    request = request or LocalContext.request.get(None)
    return (request.session_hash or "") if request is not None else ""


def register_session(studio: Studio, request: gr.Request | None) -> None:
    key = _session_key(request)
    if key:
        _start_sweeper()
        SESSIONS.register(key, studio)


def _start_sweeper() -> None:
    """Once per process: sessions nobody calls any more still expire (a bounded, cheap walk)."""
    with _SWEEPER_LOCK:
        if not _SWEEPER:
            _SWEEPER.append(SESSIONS.start_sweeper())


@contextlib.contextmanager
def session_call(studio: Studio) -> Iterator[None]:
    """Around a callback: the session is registered and busy (never cleared) while it runs;
    then its memory is measured and idle sessions past the budget or their time are cleared."""
    key = _session_key()
    if not key:
        yield
        return
    _start_sweeper()
    with SESSIONS.call(key, studio):
        yield


def tracked(fn: Callable) -> Callable:
    """A callback whose first argument is the session's Studio runs inside `session_call`
    (the live webcam's frames too: a streaming session is busy, not idle)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not (args and isinstance(args[0], Studio)):
            return fn(*args, **kwargs)
        with session_call(args[0]):
            result = fn(*args, **kwargs)
            _follow(args[0], result)
            return result

    return wrapper


def _follow(studio: Studio, result: Any) -> None:
    """Under ZeroGPU a callback returns a copy of its Studio (pickled back from the GPU
    process): the registry follows the object gradio now keeps."""
    new = result[0] if isinstance(result, tuple) and result else result
    key = _session_key()
    if isinstance(new, Studio) and new is not studio and key:
        SESSIONS.register(key, new)


def told_if_cleared(studio: Studio) -> None:
    """A session the server cleared hears it once, on its next action (which does nothing)."""
    why, studio.cleared = studio.cleared, ""
    if why:
        raise gr.Error(plain(why), title="Session cleared")


def close_session(request: gr.Request | None) -> None:
    """The page closed: free what the session held (images, activations, downloads)."""
    key = _session_key(request)
    if key:
        SESSIONS.close(key)


def user_errors(fn: Callable) -> Callable:
    """Show a user's mistake (SavsError) as a toast, escaped and without server paths; the
    session is unchanged because Studio methods check everything before they change anything."""

    @tracked
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if args and isinstance(args[0], Studio):
            told_if_cleared(args[0])
            start_session(args[0])
        try:
            return fn(*args, **kwargs)
        except SavsError as exc:
            raise gr.Error(plain(hide_paths(str(exc))), title="Cannot do that") from None

    return wrapper


def progress_fn(progress: Any, desc: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        CLICKS_FIRST.give_way()  # between batches, a queued click goes first (studio.priority)
        progress(done / max(total, 1), desc=f"{desc} {done}/{total}")

    return report


def notice(progress: Any) -> Callable[[str], None]:
    """Told by the pool when a call must load its model first ("Loading tiny ...")."""
    return lambda message: progress(0.0, desc=message)


# how long an upload's file outlives the last call that read it (seconds)
UPLOAD_GRACE_S = float(os.environ.get("SAVS_UPLOAD_GRACE_S", 30))
_SPENT: dict[str, float] = {}  # upload path -> when the last call that read it ended
_SPENT_LOCK = threading.Lock()
_UPLOAD_SWEEPER: threading.Thread | None = None


def _sweep() -> None:
    """Deletes what is due every half grace (at most every second: the grace is read again
    each round), and ends once nothing waits (saying so under the lock, so the next upload
    starts a new sweeper)."""
    global _UPLOAD_SWEEPER
    while True:
        time.sleep(min(max(UPLOAD_GRACE_S / 2, 0.05), 1.0))
        with _SPENT_LOCK:
            if not _SPENT:
                _UPLOAD_SWEEPER = None
                return
        discard_upload(None)


def discard_upload(path: str | None) -> None:
    """An upload's file goes soon after the call that read it (gradio's cache sweep is a
    backstop). Not at once: gradio stores uploads by content, so two visitors sending the same
    picture share one file, and deleting it at the end of one call would take it from a call
    that was uploaded but has not started. A file goes once UPLOAD_GRACE_S has passed since its
    last call ended, unless it was written again since (another upload of it); a sweeper
    thread runs while any file waits, so the last upload goes without a later call."""
    global _UPLOAD_SWEEPER
    now = time.time()
    with _SPENT_LOCK:
        if path:
            _SPENT[str(path)] = now
        due = [(p, t) for p, t in _SPENT.items() if now - t >= UPLOAD_GRACE_S]
        for p, _ in due:
            del _SPENT[p]
        if _SPENT and _UPLOAD_SWEEPER is None:
            _UPLOAD_SWEEPER = threading.Thread(
                target=_sweep, name="savs-upload-sweeper", daemon=True
            )
            _UPLOAD_SWEEPER.start()
    for p, spent in due:
        try:
            if os.stat(p).st_mtime <= spent:  # not uploaded again since its last call
                os.unlink(p)
        except OSError:  # gone already, or unreadable: nothing to free
            pass
