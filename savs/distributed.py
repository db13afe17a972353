"""Data-parallel runs with 🤗 accelerate: `accelerate launch -m savs fit ...`.

Under `accelerate launch` with several processes, model runs are split by whole batches dealt
round-robin to the processes, and the results are gathered back in order on every process. The
batches are the same ones a single process would form, so every example is computed in the same
company (same padding) and the fit gives the same heads, classifier and accuracy. A plain
`python -m savs fit` never imports accelerate.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def world_size() -> int:
    """Processes in this run (accelerate / torchrun set WORLD_SIZE); 1 when run plainly."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def _state():
    import torch
    from accelerate import PartialState

    # without CUDA, processes talk over gloo on the CPU (accelerate's MULTI_CPU)
    return PartialState(cpu=not torch.cuda.is_available())


def is_main_process() -> bool:
    return world_size() == 1 or _state().is_main_process


def device() -> str | None:
    """This process's device under accelerate (cuda:N or cpu); None for a plain run."""
    return str(_state().device) if world_size() > 1 else None


def map_batches(
    fn: Callable[[Sequence[int]], T],
    batches: Sequence[Sequence[int]],
    progress: Callable[[int, int], None] | None = None,
    done: int = 0,
) -> list[T]:
    """fn(batch) for every batch, in order: the one batch loop every model-running function
    (extraction, prediction, the zero-shot baseline) uses. With `progress`, (examples done,
    total) is reported after each batch, `done` counting examples already had (cache hits). With
    several processes each runs every world_size-th batch, and the results are gathered so that
    every process gets all of them."""
    total = done + sum(len(batch) for batch in batches)
    if progress is not None:
        fn = _counted(fn, progress, done, total)
    n = world_size()
    if n == 1:
        return [fn(batch) for batch in batches]
    from accelerate.utils import gather_object

    rank = _state().process_index
    mine = [(i, fn(batches[i])) for i in range(rank, len(batches), n)]
    gathered = dict(gather_object(mine))  # flattened [(batch index, result), ...] from all ranks
    return [gathered[i] for i in range(len(batches))]


def _counted(
    fn: Callable[[Sequence[int]], T], progress: Callable[[int, int], None], done: int, total: int
) -> Callable[[Sequence[int]], T]:
    """`fn`, reporting progress(examples done, total) after each batch (this process's)."""

    def run(batch: Sequence[int]) -> T:
        nonlocal done
        result = fn(batch)
        done += len(batch)
        progress(done, total)
        return result

    return run
