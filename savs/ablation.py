"""Switching attention heads off inside the model: is a head the classifier reads one the model
itself relies on?

`ablate` replaces chosen heads' slices of each attention output projection's input (the same
place `savs.heads` reads them) with zeros or with given per-head means, for every forward pass
run inside the `with` block by the thread that entered it. The hooks check the thread, so other
app sessions sharing the model are unaffected, and they are removed in `finally`.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

import torch

from .errors import SavsError
from .heads import HeadIndex
from .models.adapter import ModelAdapter

AblationMode = Literal["zero", "mean"]


def _heads_by_layer(adapter: ModelAdapter, heads: Sequence[HeadIndex]) -> dict[int, list[int]]:
    by_layer: dict[int, list[int]] = defaultdict(list)
    for layer, head in heads:
        if not (0 <= layer < adapter.num_layers and 0 <= head < adapter.num_heads):
            raise SavsError(
                f"head ({layer}, {head}) is outside {adapter.name}'s "
                f"{adapter.num_layers} layers x {adapter.num_heads} heads"
            )
        by_layer[int(layer)].append(int(head))
    return dict(by_layer)


@contextmanager
def ablate(
    adapter: ModelAdapter,
    heads: Sequence[HeadIndex],
    mode: AblationMode = "zero",
    means: torch.Tensor | None = None,
) -> Iterator[ModelAdapter]:
    """Inside the block, `heads` are switched off in every forward of `adapter.model` run by this
    thread: their o_proj input slices become zeros (`mode="zero"`) or `means[layer, head]`
    (`mode="mean"`, means [L, H, d], e.g. the training activations' mean over examples).

    Every token position is ablated, so what the head writes never reaches the residual stream.
    With no heads nothing changes. Yields the adapter.
    """
    if mode not in ("zero", "mean"):
        raise SavsError(f"ablation mode must be 'zero' or 'mean', got {mode!r}")
    by_layer = _heads_by_layer(adapter, heads)
    H, d = adapter.num_heads, adapter.head_dim
    if mode == "mean":
        if means is None:
            raise SavsError("mode='mean' needs per-head means [L, H, d]")
        if (
            means.ndim != 3
            or means.shape[1:] != (H, d)
            or means.shape[0] <= max(by_layer, default=-1)
        ):
            raise SavsError(
                f"means must be [L, {H}, {d}] reaching every ablated layer, got {list(means.shape)}"
            )
    owner = threading.get_ident()

    def make_hook(layer: int, head_ids: list[int]):
        index = torch.tensor(head_ids)

        def hook(module: torch.nn.Module, args: tuple) -> tuple | None:
            if threading.get_ident() != owner:
                return None  # another session's forward pass on the shared model
            hidden = args[0]  # [B, T, H * d]
            split = hidden.reshape(*hidden.shape[:-1], H, d).clone()  # [B, T, H, d]
            if mode == "zero":
                split[..., index, :] = 0
            else:
                split[..., index, :] = means[layer, index].to(split.dtype).to(split.device)
            return (split.reshape(hidden.shape), *args[1:])

        return hook

    handles = [
        adapter.o_projs[layer].register_forward_pre_hook(make_hook(layer, ids))
        for layer, ids in by_layer.items()
    ]
    try:
        yield adapter
    finally:
        for handle in handles:
            handle.remove()
