"""What every session of the app shares, and the helpers every callback uses.

Models live in one `ModelPool` (each loaded once, lent per call); sessions hold model names.
The activation cache is keyed by content, so it is safe to share: it only saves model runs.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from savs.activations import ActivationCache
from savs.errors import SavsError
from savs.limits import HOSTED_CALL_CHARS, HOSTED_MAX_MODEL_GB, HOSTED_TEXT_CHARS
from savs.markup import hide_paths, plain
from savs.models.registry import check_visitor_model, load_model
from savs.pool import ModelPool
from savs.studio import Studio

MODEL_ENV = "SAVS_MODEL"
MODEL_QUEUE = "model"  # concurrency_id of every event that runs a model
MODEL_WORKERS = 4  # model events at once (each model still runs one at a time: the pool's lock)

START = {"model": os.environ.get(MODEL_ENV, "tiny")}  # the model new sessions start on


def hosted_loader(name: str):
    """Deny by default: visitors load the bundled models and the start model (`--model`), or
    only the operator's SAVS_ALLOWED_MODELS when it is set; any other name is refused before
    the disk or the hub is asked. A listed model is sized from its config first (at most
    SAVS_MAX_MODEL_GB, default HOSTED_MAX_MODEL_GB)."""
    check_visitor_model(name, START["model"])
    return load_model(name, max_gb=HOSTED_MAX_MODEL_GB)


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
