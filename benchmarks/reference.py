"""A reference-style SAVs fit, written the way the published code extracts, to time against.

What the published pipeline (Mitra et al., github chancharikmitra/SAVs, src/utils.py
`mllm_encode`) does, reproduced here with plain torch hooks (baukit is not on PyPI):

- every example is run through the model on its own (no batching), with a full forward
  (`model(**inputs)`: logits for every position, the model's default KV cache);
- a trace over every layer's o_proj retains the whole-sequence input AND output of all layers
  (baukit `TraceDict(..., retain_input=True, retain_output=True)`), then stacks the inputs, splits
  them by head and keeps the last token;
- it runs over the training set three times: once for the class means of all heads, once more to
  score every head (nearest class mean, the example itself included), and a third time for the
  class means of the top-k heads. Per-head work is a Python loop over heads.

Only the speed and memory of this pipeline matter here: it is not used to classify anything.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch

from savs import Example, ModelAdapter


@contextmanager
def trace_all_layers(adapter: ModelAdapter) -> Iterator[dict[int, dict[str, torch.Tensor]]]:
    """Like baukit TraceDict(retain_input=True, retain_output=True) over every o_proj: keeps
    references to each layer's whole-sequence input [1, T, H * d] and output [1, T, hidden]."""
    traces: dict[int, dict[str, torch.Tensor]] = {}

    def make_hook(layer: int):
        def hook(module, args, output):
            traces[layer] = {"input": args[0], "output": output}

        return hook

    handles = [proj.register_forward_hook(make_hook(i)) for i, proj in enumerate(adapter.o_projs)]
    try:
        yield traces
    finally:
        for handle in handles:
            handle.remove()


def retained_bytes(traces: dict[int, dict[str, torch.Tensor]]) -> int:
    """Bytes of tensor storage the traces keep alive (each storage counted once)."""
    storages = {}
    for entry in traces.values():
        for tensor in entry.values():
            storage = tensor.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
    return sum(storages.values())


@torch.inference_mode()
def last_token_heads(
    adapter: ModelAdapter, example: Example, prompt: str | None, stats: dict | None = None
) -> torch.Tensor:
    """One unbatched full forward with every layer traced: [L, H, 1, d] at the last token."""
    inputs = adapter.encode([example], prompt)
    with trace_all_layers(adapter) as traces:
        adapter.model(**inputs)
    if stats is not None:
        stats["max_retained_bytes"] = max(
            stats.get("max_retained_bytes", 0), retained_bytes(traces)
        )
    heads, dim = adapter.num_heads, adapter.head_dim
    # split by head, stack the layers, [L, H, T, d], keep the last token
    stacked = torch.vstack(
        [
            traces[layer]["input"].reshape(*traces[layer]["input"].shape[:-1], heads, dim)
            for layer in range(adapter.num_layers)
        ]
    ).permute(0, 2, 1, 3)
    return stacked[:, :, -1, :].unsqueeze(2).float()


def class_activations(
    adapter: ModelAdapter,
    examples: Sequence[Example],
    prompt: str | None,
    heads: list[tuple[int, int]],
    stats: dict | None = None,
) -> tuple[torch.Tensor, dict[str, int]]:
    """One model run per example; per-class mean of the given heads: ([C, K, d], label -> index)."""
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    for example in examples:
        acts = last_token_heads(adapter, example, prompt, stats)
        head_act = torch.stack([acts[layer, head, -1] for layer, head in heads])  # [K, d]
        if example.label in sums:
            sums[example.label] += head_act
            counts[example.label] += 1
        else:
            sums[example.label] = head_act
            counts[example.label] = 1
    index = {label: i for i, label in enumerate(sums)}
    means = torch.stack([sums[label] / counts[label] for label in sums])  # [C, K, d]
    return means, index


def reference_fit(
    adapter: ModelAdapter,
    examples: Sequence[Example],
    prompt: str | None = None,
    k: int = 20,
    stats: dict | None = None,
) -> tuple[list[tuple[int, int]], torch.Tensor]:
    """Three passes over the training set, as published. Returns (top heads, their class means)."""
    all_heads = [
        (layer, head) for layer in range(adapter.num_layers) for head in range(adapter.num_heads)
    ]
    # pass 1: class means of every head
    means, index = class_activations(adapter, examples, prompt, all_heads, stats)
    # pass 2: run every example again and count, per head, how often its nearest mean is its class
    success = [0] * len(all_heads)
    for example in examples:
        acts = last_token_heads(adapter, example, prompt, stats)
        query = torch.stack([acts[layer, head, -1] for layer, head in all_heads])  # [M, d]
        label = index[example.label]
        for i in range(len(all_heads)):
            scores = torch.nn.functional.cosine_similarity(means[:, i, :], query[i, :], dim=-1)
            if int(scores.argmax(dim=0)) == label:
                success[i] += 1
    order = sorted(range(len(all_heads)), key=lambda i: success[i], reverse=True)[:k]
    top_heads = [all_heads[i] for i in order]
    # pass 3: class means of the top heads, one more run per example
    top_means, _ = class_activations(adapter, examples, prompt, top_heads, stats)
    return top_heads, top_means
