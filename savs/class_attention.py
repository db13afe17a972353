"""A head's attention averaged over a class's training examples: what one head looks at for a
class, not for one input (issue 23's class attention). Any head, selected or not: the forward
pass runs eager attention in that head's layer only and stops after it.

Positions differ between examples (texts have different lengths), so the average is taken in a
space they share: image patches on the patch grid (image 0 of each example, its finest grid:
a tiled image's tiles, not its global view; grids of another size are resampled to the first
example's), and text tokens by their text (the weight a token's text gets, summed within an
example, averaged over the class's examples)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .activations import ProgressFn
from .data import Example
from .errors import DataError
from .explanation import eager_attention, position_labels
from .heads import HeadIndex
from .models.adapter import ModelAdapter
from .patches import patch_grid

MAX_CLASS_TOKENS = 20  # the tokens kept per class, by mean weight


@dataclass
class ClassAttention:
    """One head's attention at the last position, averaged over one class's examples."""

    layer: int
    head: int
    label: str
    examples: int  # how many of the class's examples were averaged
    grid: list[list[float]] | None  # [rows, cols] mean weight on image 0's finest grid; None: none
    tokens: list[tuple[str, float]]  # (token text, mean weight), highest first

    def to_json(self) -> dict:
        return {
            "layer": self.layer,
            "head": self.head,
            "label": self.label,
            "examples": self.examples,
            "grid": self.grid,
            "tokens": [list(t) for t in self.tokens],
        }


def _resampled(grid: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """A grid brought to `shape` (area interpolation keeps the total weight's distribution)."""
    if grid.shape == shape:
        return grid
    scaled = torch.nn.functional.interpolate(grid[None, None], size=tuple(shape), mode="area")[0, 0]
    return scaled * (grid.sum() / scaled.sum().clamp_min(1e-12))


def class_attention(
    adapter: ModelAdapter,
    examples: Sequence[Example],
    head: HeadIndex | tuple[int, int],
    prompt: str | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, ClassAttention]:
    """Per class (in order of first appearance): `head`'s attention at the final prompt token,
    averaged over that class's examples (`prompt` as the classifier was fitted with). One
    forward pass per example; `progress(done, total)` after each."""
    layer, index = int(head[0]), int(head[1])
    if not (0 <= layer < adapter.num_layers and 0 <= index < adapter.num_heads):
        raise DataError(
            f"head ({layer}, {index}) is outside the {adapter.num_layers} layers x "
            f"{adapter.num_heads} heads of {adapter.name}."
        )
    if not examples:
        raise DataError("class attention needs at least one labeled example.")
    grids: dict[str, list[torch.Tensor]] = defaultdict(list)
    tokens: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    counts: dict[str, int] = defaultdict(int)
    for done, example in enumerate(examples, 1):  # one at a time: positions are per example
        inputs = adapter.encode([example], prompt)
        with eager_attention(adapter, [layer]) as weights:
            adapter.read_heads(inputs, [layer])
        attention = weights[layer][0, index].tolist()  # [T]
        texts, patches = position_labels(adapter, inputs, len(example.images))
        counts[example.label] += 1
        grid = patch_grid(attention, patches, 0)  # image 0's finest grid [rows, cols]
        if grid is not None:
            grids[example.label].append(grid)
        for weight, text, patch in zip(attention, texts, patches):
            if patch is None:
                tokens[example.label][text] += weight
        if progress is not None:
            progress(done, len(examples))
    out = {}
    for label, n in counts.items():
        mean_grid = None
        if grids[label]:
            shape = grids[label][0].shape
            mean_grid = torch.stack([_resampled(g, shape) for g in grids[label]]).mean(0).tolist()
        ranked = sorted(tokens[label].items(), key=lambda kv: -kv[1])[:MAX_CLASS_TOKENS]
        out[label] = ClassAttention(
            layer=layer,
            head=index,
            label=label,
            examples=n,
            grid=mean_grid,
            tokens=[(text, weight / n) for text, weight in ranked],
        )
    return out
