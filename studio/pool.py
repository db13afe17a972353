"""A pool of loaded models shared by many sessions (the app's server side).

Why: on one server, every visitor picks their own model, yet a model is far too large to load
once per visitor. The pool loads each model once per name and lends it to the sessions that ask
for it; at most `max_models` are resident (`SAVS_MAX_MODELS`, default 2) and the least recently
used idle one is unloaded first. Two sessions asking for the same model at once trigger one
load. Work on one model is serialised by that model's own lock, so sessions on different models
never wait for each other.

Sessions hold model *names*, never adapters: a model a session uses can be unloaded while the
session idles, and is loaded again (never swapped for another) the next time it is used.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from savs.errors import ModelError
from savs.models.adapter import ModelAdapter
from savs.models.registry import load_model

MAX_MODELS_ENV = "SAVS_MAX_MODELS"
DEFAULT_MAX_MODELS = 2
BUSY_TIMEOUT = 120.0  # seconds a load waits for a resident model to become idle before refusing

Loader = Callable[[str], ModelAdapter]
LoadNotice = Callable[[str], None]  # told "loading NAME ..." when a use has to load first


@dataclass(frozen=True)
class ModelInfo:
    """What a page shows about a model without holding it: shapes and kind."""

    name: str
    num_layers: int
    num_heads: int
    head_dim: int
    is_vlm: bool
    device: str

    @property
    def num_all_heads(self) -> int:
        return self.num_layers * self.num_heads

    @classmethod
    def of(cls, adapter: ModelAdapter) -> ModelInfo:
        return cls(
            adapter.name,
            adapter.num_layers,
            adapter.num_heads,
            adapter.head_dim,
            adapter.is_vlm,
            str(adapter.device),
        )


class _Entry:
    """One resident model: its adapter, the lock that serialises work on it, who uses it."""

    def __init__(self, adapter: ModelAdapter):
        self.adapter: ModelAdapter | None = adapter
        # the adapter's own per-forward lock, so an exclusive `use` and per-batch turns exclude
        # each other (stand-ins without one get their own)
        self.work_lock = getattr(adapter, "lock", None) or threading.RLock()
        self.users = 0  # uses in progress (waiting for or holding work_lock)
        self.last_used = time.monotonic()


def count_from_env(name: str, default: int) -> int:
    """A server setting that counts something ($SAVS_MAX_MODELS, $SAVS_MODEL_WORKERS): a whole
    number of at least 1, `default` when unset; anything else refused by name (ModelError)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ModelError(f"{name} must be a whole number of at least 1, got {raw!r}.")
    return int(raw)


def max_models_from_env() -> int:
    return count_from_env(MAX_MODELS_ENV, DEFAULT_MAX_MODELS)


class ModelPool:
    """Models by name, loaded on first use, at most `max_models` resident (LRU idle first)."""

    def __init__(
        self,
        loader: Loader = load_model,
        max_models: int | None = None,
        busy_timeout: float = BUSY_TIMEOUT,
    ):
        self._loader = loader
        self.max_models = max_models if max_models is not None else max_models_from_env()
        self.busy_timeout = busy_timeout
        self._entries: dict[str, _Entry] = {}
        self._loading: dict[str, threading.Event] = {}  # name -> set when its load ends
        self._infos: dict[str, ModelInfo] = {}  # kept after unloading: pages still show them
        self._changed = threading.Condition()  # guards the three dicts above
        self.loads = 0  # how many loads ran (tests and benchmarks read it)

    # --- what is known ------------------------------------------------------------------

    def resident(self) -> list[str]:
        """Names of the loaded models, least recently used first."""
        with self._changed:
            return [n for n, _ in sorted(self._entries.items(), key=lambda kv: kv[1].last_used)]

    def info(self, name: str) -> ModelInfo | None:
        """Shapes of a model loaded at some point (None if it never was)."""
        with self._changed:
            return self._infos.get(name)

    # --- using a model ------------------------------------------------------------------

    def load(self, name: str, notice: LoadNotice | None = None) -> ModelInfo:
        """Make sure `name` is loadable and resident (loading it if needed); its info."""
        with self.use(name, notice, work=False):
            pass
        return self._infos[name]

    @contextmanager
    def use(
        self, name: str, notice: LoadNotice | None = None, work: bool = True
    ) -> Iterator[ModelAdapter]:
        """Lend the model `name` for the duration of the block, loading it first if needed.

        With `work` (the default) the model's lock is held for the whole block: one caller at a
        time. With `work=False` it is only lent (and kept resident): `ModelAdapter` takes the same
        lock for each forward pass, so callers on one model take turns batch by batch and a long
        extraction cannot hold the model for minutes; sessions on other models never wait. A
        failed load raises ModelError and changes nothing else in the pool.
        """
        name = (name or "").strip()
        if not name:
            raise ModelError("no model chosen: pick a model and click 'Load model'.")
        entry = self._checked_out(name, notice)
        try:
            if work:
                with entry.work_lock:
                    yield entry.adapter
            else:
                yield entry.adapter
        finally:
            with self._changed:
                entry.users -= 1
                entry.last_used = time.monotonic()
                self._changed.notify_all()

    def _checked_out(self, name: str, notice: LoadNotice | None) -> _Entry:
        """The resident entry for `name` with its user count raised (so it is not evicted)."""
        while True:
            with self._changed:
                entry = self._entries.get(name)
                if entry is not None:
                    entry.users += 1
                    entry.last_used = time.monotonic()
                    return entry
                pending = self._loading.get(name)
                if pending is None:  # this caller loads it; others asking meanwhile wait
                    self._loading[name] = pending = threading.Event()
                    break
            # someone else is loading it: look again when that ends (if it failed, this caller
            # tries itself and reports its own error)
            pending.wait()
        try:
            if notice:
                notice(f"Loading {name} ...")
            self._make_room()
            adapter = self._load(name)
            with self._changed:
                entry = _Entry(adapter)
                entry.users = 1
                self._entries[name] = entry
                self._infos[name] = ModelInfo.of(adapter)
                self.loads += 1
            return entry
        finally:
            with self._changed:
                self._loading.pop(name).set()
                self._changed.notify_all()

    def _load(self, name: str) -> ModelAdapter:
        try:
            return self._loader(name)
        except MemoryError:
            raise ModelError(f"{name}: out of memory while loading. Try a smaller model.") from None

    def _make_room(self) -> None:
        """Unload least recently used idle models until one more fits; wait while all are busy."""
        deadline = time.monotonic() + self.busy_timeout
        with self._changed:
            while len(self._entries) + self._loads_in_flight() > self.max_models:
                idle = [(e.last_used, n) for n, e in self._entries.items() if e.users == 0]
                if idle:
                    self._unload(min(idle)[1])
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ModelError(
                        f"the server is busy: {len(self._entries)} models are in use "
                        "by other sessions. Try again in a minute."
                    )
                self._changed.wait(timeout=min(left, 1.0))

    def _loads_in_flight(self) -> int:
        return len(self._loading)

    def _unload(self, name: str) -> None:
        """Drop a model (caller holds `_changed`); its memory goes once nothing refers to it."""
        entry = self._entries.pop(name)
        entry.adapter = None
        gc.unfreeze()  # the start model was frozen with the server's other objects at start
        gc.collect()  # (studio.collector): only now can a cycle of it be collected
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def unload_all(self) -> None:
        with self._changed:
            for name in [n for n, e in self._entries.items() if e.users == 0]:
                self._unload(name)


__all__ = ["ModelPool", "ModelInfo", "MAX_MODELS_ENV", "count_from_env", "max_models_from_env"]
