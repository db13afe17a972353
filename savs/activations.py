"""Extracting head activations for many examples: batched, cached, with progress.

One forward pass per example (batched, left-padded, no KV cache). Results are cached by content
(model + prompt + image bytes + text), so changing k, the scoring or the labels refits without
running the model again.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch

from .data import Example, example_digest
from .distributed import map_batches
from .models.adapter import ModelAdapter

ProgressFn = Callable[[int, int], None]  # (examples done, total)


class ActivationCache:
    """Thread-safe LRU of per-example activations [L, H, d], bounded in bytes.

    Keys are content hashes, so one cache can be shared by many app sessions without any of
    them seeing another's labels.
    """

    def __init__(self, max_bytes: int = 2 << 30):
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0

    @staticmethod
    def key(adapter: ModelAdapter, prompt: str | None, example: Example) -> str:
        h = hashlib.sha256()
        for part in (adapter.fingerprint, prompt or "", example_digest(example)):
            h.update(part.encode("utf-8") + b"\0")
        return h.hexdigest()

    def get(self, key: str) -> torch.Tensor | None:
        with self._lock:
            value = self._items.get(key)
            if value is None:
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: str, value: torch.Tensor) -> None:
        size = value.numel() * value.element_size()
        with self._lock:
            if key in self._items:
                return
            self._items[key] = value
            self._bytes += size
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self._bytes -= old.numel() * old.element_size()

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


def batches(indices: Sequence[int], batch_size: int) -> list[list[int]]:
    """`indices` in consecutive chunks of `batch_size` (the last one shorter): the one batch loop
    every model-running function uses. A batch size below 1 counts as 1 (0 once gave empty
    batches: no predictions, or an IndexError)."""
    step = max(1, int(batch_size))
    return [list(indices[s : s + step]) for s in range(0, len(indices), step)]


def batch_plan(
    examples: Sequence[Example], indices: Sequence[int], batch_size: int
) -> list[list[int]]:
    """How `extract` groups examples into model runs: similar lengths together (less padding per
    batch), then chunks of `batch_size`. Shared with the benchmarks, so their plain-forward
    baseline runs exactly the same batches."""
    order = sorted(indices, key=lambda i: (len(examples[i].images), len(examples[i].text)))
    return batches(order, batch_size)


def extract(
    adapter: ModelAdapter,
    examples: Sequence[Example],
    prompt: str | None = None,
    batch_size: int = 8,
    cache: ActivationCache | None = None,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """Head activations of every example at its final prompt token: [N, L, H, d] fp32 on CPU."""
    n = len(examples)
    out = torch.empty(n, adapter.num_layers, adapter.num_heads, adapter.head_dim)
    # `is not None`: an empty cache has len 0 and is falsy, yet must still be filled
    keys = (
        [ActivationCache.key(adapter, prompt, ex) for ex in examples]
        if cache is not None
        else [None] * n
    )
    todo = []
    for i, key in enumerate(keys):
        hit = cache.get(key) if cache is not None else None
        if hit is None:
            todo.append(i)
        else:
            out[i] = hit
    if progress:
        progress(n - len(todo), n)
    plan = batch_plan(examples, todo, batch_size)

    def run(idx: Sequence[int]) -> torch.Tensor:
        return adapter.read_heads(
            adapter.encode([examples[i] for i in idx], prompt)
        )  # [B, L, H, d]

    for idx, acts in zip(plan, map_batches(run, plan, progress, done=n - len(todo))):
        for row, i in enumerate(idx):
            out[i] = acts[row]
            if cache is not None:
                cache.put(keys[i], acts[row].clone())
    return out
