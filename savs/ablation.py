"""Switching attention heads off inside the model: is a head the classifier reads one the model
itself relies on?

`ablate` replaces chosen heads' slices of each attention output projection's input (the same
place `savs.heads` reads them) with zeros or with given per-head means, for every forward pass
run inside the `with` block by the thread that entered it. The hooks check the thread, so other
app sessions sharing the model are unaffected, and they are removed in `finally`.

`ablation_effect` asks the question for one input: the model's own zero-shot answer (each
label's score as its answer, `savs.baseline`) with nothing off, with the given heads off, and
with as many random other heads off (seeded) as a control.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import torch

from .baseline import label_log_likelihoods
from .classifier import SAVClassifier
from .data import Example
from .errors import DataError, SavsError
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


@dataclass
class AblationEffect:
    """The model's own answer to one input, as each label's zero-shot score (mean
    log-probability per token of the label as its answer): with nothing switched off (`full`),
    with `heads` off (`ablated`), and with as many random other heads off (`control`)."""

    heads: list[HeadIndex]
    control_heads: list[HeadIndex]
    mode: str
    full: dict[str, float]
    ablated: dict[str, float]
    control: dict[str, float]

    def answers(self) -> tuple[str, str, str]:
        """The label the model picks in each case (full, ablated, control)."""
        return tuple(max(s, key=s.get) for s in (self.full, self.ablated, self.control))

    def to_json(self) -> dict:
        return {
            "heads": [list(h) for h in self.heads],
            "control_heads": [list(h) for h in self.control_heads],
            "mode": self.mode,
            "full": self.full,
            "ablated": self.ablated,
            "control": self.control,
        }


def random_heads(
    num_layers: int, num_heads: int, count: int, exclude: Sequence[HeadIndex] = (), seed: int = 0
) -> list[HeadIndex]:
    """`count` distinct heads drawn uniformly (seeded: the same seed, the same heads) from those
    not in `exclude`, in (layer, head) order; fewer when fewer are left."""
    taken = {(int(a), int(b)) for a, b in exclude}
    pool = [(a, b) for a in range(num_layers) for b in range(num_heads) if (a, b) not in taken]
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(int(seed)))
    return [HeadIndex(*pool[i]) for i in sorted(order[: max(0, count)].tolist())]


def ablation_effect(
    adapter: ModelAdapter,
    heads: SAVClassifier | Sequence[HeadIndex],
    example: Example,
    labels: Sequence[str] | None = None,
    mode: AblationMode = "zero",
    seed: int = 0,
    prompt: str | None = None,
    means: torch.Tensor | None = None,
) -> AblationEffect:
    """Does the model itself rely on these heads? Its zero-shot label scores for `example` with
    nothing off, with `heads` off, and with as many random other heads off (`random_heads`,
    `seed`) as a control. Given a classifier: its selected heads, its labels and its prompt
    (unless `labels` / `prompt` are given). Three scorings of one input: one prompt pass each,
    plus one for the labels' remaining tokens (savs.baseline)."""
    if isinstance(heads, SAVClassifier):
        labels = list(labels) if labels is not None else list(heads.labels)
        prompt = prompt if prompt is not None else heads.config.prompt
        heads = heads.heads
    heads = [HeadIndex(int(a), int(b)) for a, b in heads]
    if not labels:
        raise DataError("the model's answer needs at least one label to score.")
    _heads_by_layer(adapter, heads)  # refused before any model run
    control = random_heads(adapter.num_layers, adapter.num_heads, len(heads), heads, seed)

    def scores(off: Sequence[HeadIndex]) -> dict[str, float]:
        with ablate(adapter, off, mode, means):
            row = label_log_likelihoods(adapter, [example], labels, prompt)[0]  # [C]
        return dict(zip(labels, row.tolist()))

    return AblationEffect(heads, control, mode, scores([]), scores(heads), scores(control))
