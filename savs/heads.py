"""Reading attention-head outputs out of a running model.

A head's output, in SAVs, is its slice of the input to the layer's attention output projection
(o_proj): the per-head attention results concatenated, [.., num_heads * head_dim], before they are
mixed. We read it at the final prompt token only, so one example costs L * H * d numbers, never a
whole-sequence trace.

Hooks exist only inside `capture_heads`, which removes them in `finally`, so a model shared by
many app sessions is never left with a stale hook after an error.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from .types import HeadIndex  # re-exported: its home was here (`from savs.heads import HeadIndex`)


class StopForward(Exception):
    """Raised by a hook to end the forward pass once the deepest needed layer has been read."""


@contextmanager
def capture_heads(
    o_projs: Sequence[nn.Module],
    layers: Sequence[int] | None = None,
    stop_after: int | None = None,
    position: int = -1,
) -> Iterator[dict[int, torch.Tensor]]:
    """Hook the output projections of `layers` (default: all) and collect their input at
    `position` (the last token: inputs are left-padded) into a dict {layer: [B, H * d]}.

    With `stop_after`, the hook of that layer raises StopForward after reading it: the caller
    catches it, and layers deeper than that are never computed (early exit).
    """
    captured: dict[int, torch.Tensor] = {}
    wanted = range(len(o_projs)) if layers is None else sorted(set(layers))

    def make_hook(layer: int):
        def hook(module: nn.Module, args: tuple) -> None:
            hidden = args[0]  # [B, T, H * d]
            # clone: a slice is a view that would keep the layer's whole [B, T, H * d] input
            # alive until the forward pass ends (every layer's, T times the memory we need)
            captured[layer] = hidden[:, position, :].clone()  # [B, H * d]
            if layer == stop_after:
                raise StopForward

        return hook

    handles = [o_projs[i].register_forward_pre_hook(make_hook(i)) for i in wanted]
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


__all__ = ["HeadIndex", "StopForward", "capture_heads"]
