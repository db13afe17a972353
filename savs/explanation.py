"""Where a selected head looks: its attention weights at the final prompt token.

A SAVs head votes with its output at the last prompt token, and that output is a weighted sum of
the value vectors of every input position. The weights (the softmax row of that layer and head at
the last position) say which tokens, or which image patches, the vote was read from.

Only eager attention returns those weights, and eager attention is slower than SDPA. So the
selected layers alone run eager: a custom attention function, registered once with transformers'
`AttentionInterface`, runs the model's own eager function for the modules of the selected layers
(keeping their last weight row) and SDPA for every other layer. It is switched on for the text
decoder's config only inside `eager_attention`, which restores the config in `finally`. Which
modules are selected is a context variable, so a plain prediction running at the same time in
another thread (an app session) goes through SDPA and captures nothing.
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch
from torch import nn

from .classifier import (
    Prediction,
    SAVClassifier,
    Scoring,
    counts_as_correct,
    encode_labels,
    example_margins,
    head_cosines,
)
from .data import Example
from .errors import DataError, ModelError
from .heads import HeadIndex
from .models.adapter import ModelAdapter
from .patches import (  # image_token_id and position_labels were defined here: importable still
    Patch,
    image_token_id,  # noqa: F401
    position_labels,
)
from .pipeline import check_compatible, for_classifier

IMPLEMENTATION = "savs_explain"  # the name registered with transformers' AttentionInterface
_SWITCH_LOCK = threading.Lock()
_USERS: Counter = Counter()  # id(config) -> explain calls that have it switched right now
_ORIGINAL: dict[int, str | None] = {}  # id(config) -> its implementation before the switch


@dataclass
class _Capture:
    layers: dict[int, int]  # id(attention module) -> its layer
    weights: dict[int, torch.Tensor]  # layer -> last-position weights [B, H, T] (fp32, CPU)


_CAPTURE: ContextVar[_Capture | None] = ContextVar("savs_explain_capture", default=None)


# ---------------------------------------------------------------------------------------------
# Eager attention in the selected layers only


def model_eager_function(module: nn.Module) -> Callable | None:
    """The eager attention of the module's own modeling file (`eager_attention_forward`): the
    function transformers runs under attn_implementation="eager", softcapping and all."""
    return getattr(sys.modules.get(type(module).__module__), "eager_attention_forward", None)


def _dispatch(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs,
):
    """The registered attention function: eager (weights kept) for a selected layer's module in
    an `eager_attention` context of this thread; otherwise SDPA (eager when the model was eager
    already). Flash and flex kernels are not used here: the mask is eager's 4D float mask."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    capture = _CAPTURE.get()
    layer = capture.layers.get(id(module)) if capture is not None else None
    if layer is None and _ORIGINAL.get(id(module.config)) != "eager":
        return ALL_ATTENTION_FUNCTIONS["sdpa"](module, query, key, value, attention_mask, **kwargs)
    if attention_mask is not None and attention_mask.dtype == torch.bool:
        # a mask built for SDPA (a model that makes it from another config): eager adds its mask
        # to the scores, so True / False must become 0 / -inf first, as eager's own mask is
        blocked = torch.finfo(query.dtype).min
        attention_mask = torch.where(attention_mask, 0.0, blocked).to(query.dtype)
    output, weights = model_eager_function(module)(
        module, query, key, value, attention_mask, **kwargs
    )
    if layer is not None:
        capture.weights[layer] = weights[:, :, -1, :].float().cpu()  # [B, H, T]
    return output, weights


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, eager_mask
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    if IMPLEMENTATION not in ALL_ATTENTION_FUNCTIONS:
        AttentionInterface.register(IMPLEMENTATION, _dispatch)
        # eager's additive float mask [B, 1, T, T]: what eager needs; SDPA takes it as well
        ALL_MASK_ATTENTION_FUNCTIONS.register(IMPLEMENTATION, eager_mask)


# model -> (its o_projs' ids, their attention modules): found once per model, not per click
_FOUND: weakref.WeakKeyDictionary[nn.Module, tuple[tuple[int, ...], list[nn.Module]]] = (
    weakref.WeakKeyDictionary()
)
_FOUND_LOCK = threading.Lock()


def attention_modules(adapter: ModelAdapter) -> list[nn.Module]:
    """Each decoder layer's attention module: the parent of the o_proj the adapter hooks. Found
    by a walk over every module of the model, once per model: the walk cost every explained
    click ~0.2 ms on `tiny` (of a ~10 ms pass), and grows with the model's size."""
    hooked = tuple(id(o_proj) for o_proj in adapter.o_projs)
    with _FOUND_LOCK:
        found = _FOUND.get(adapter.model)
    if found is not None and found[0] == hooked:
        return list(found[1])
    parent_of = {
        id(child): module for module in adapter.model.modules() for child in module.children()
    }
    out = []
    for o_proj in adapter.o_projs:
        parent = parent_of.get(id(o_proj))
        if parent is None:  # cannot happen for a layer find_attention_outputs accepted
            raise ModelError(f"{adapter.name}: no attention module holds a layer's o_proj.")
        out.append(parent)
    with _FOUND_LOCK:
        _FOUND[adapter.model] = (hooked, out)
    return list(out)


@contextmanager
def eager_attention(
    adapter: ModelAdapter, layers: Sequence[int]
) -> Iterator[dict[int, torch.Tensor]]:
    """Within this block, forward passes of `adapter.model` in this thread run eager attention in
    `layers` and SDPA elsewhere, and fill the yielded dict {layer: [B, H, T]} with each selected
    layer's attention weights at the last position. The config is restored on exit."""
    modules = attention_modules(adapter)
    selected = {id(modules[i]): i for i in sorted(set(layers))}
    for i in sorted(set(layers)):
        if model_eager_function(modules[i]) is None:
            raise ModelError(
                f"{adapter.name}: {type(modules[i]).__name__} has no eager attention "
                "function in transformers, so its attention weights cannot be read."
            )
    configs = {id(m.config): m.config for m in modules if hasattr(m, "config")}
    _register()
    with _SWITCH_LOCK:
        for key, config in configs.items():
            if _USERS[key] == 0:
                _ORIGINAL[key] = config._attn_implementation
                # the internal field, not the setter (which would recurse into sub-configs)
                config._attn_implementation_internal = IMPLEMENTATION
            _USERS[key] += 1
    capture = _Capture(selected, {})
    token = _CAPTURE.set(capture)
    try:
        yield capture.weights
    finally:
        _CAPTURE.reset(token)
        with _SWITCH_LOCK:
            for key, config in configs.items():
                _USERS[key] -= 1
                if _USERS[key] == 0:
                    config._attn_implementation_internal = _ORIGINAL.pop(key)
                    del _USERS[key]


# ---------------------------------------------------------------------------------------------
# Explaining a prediction


@dataclass
class HeadExplanation:
    """One selected head on one input: its vote, its cosine with each class mean, and its
    attention weights at the last position over every input position (they sum to 1)."""

    layer: int
    head: int
    vote: str
    cosines: dict[str, float]  # label -> cosine of the head's output with that class mean
    attention: list[float]  # one weight per input position
    tokens: list[str]  # each position's token text, or an image patch marker
    patches: list[Patch | None]  # (image, row, col[, view]) per image position: savs.patches

    def to_json(self) -> dict:
        return {
            "layer": self.layer,
            "head": self.head,
            "vote": self.vote,
            "cosines": self.cosines,
            "attention": self.attention,
            "tokens": self.tokens,
            "patches": [list(p) if p is not None else None for p in self.patches],
        }


def explain_prediction(
    adapter: ModelAdapter, classifier: SAVClassifier, example: Example
) -> tuple[Prediction, list[HeadExplanation]]:
    """Classify one example and explain every selected head, from a single forward pass that
    stops after the deepest selected layer. The prediction is the one `savs.predict` gives."""
    prediction, explanations, _ = explain_with_activations(adapter, classifier, example)
    return prediction, explanations


def explain_with_activations(
    adapter: ModelAdapter, classifier: SAVClassifier, example: Example
) -> tuple[Prediction, list[HeadExplanation], torch.Tensor]:
    """`explain_prediction`, plus the input's vectors [L', H, d] of every head up to the deepest
    selected layer (the same forward pass reads them at no extra cost): what lets the app show
    any head of those layers against the input, and re-tally the vote without some heads. The
    model reads the input under the classifier's resolution policy, as `savs.predict` does."""
    adapter = for_classifier(adapter, classifier)
    check_compatible(classifier, adapter)
    inputs = adapter.encode([example], classifier.config.prompt or None)
    layers = sorted({h.layer for h in classifier.heads})
    with eager_attention(adapter, layers) as weights:
        acts = adapter.read_heads(inputs, range(layers[-1] + 1))  # [1, L', H, d]
    missing = [layer for layer in layers if layer not in weights]
    if missing:
        raise ModelError(
            f"{adapter.name}: layer {missing[0]} did not go through transformers' "
            "attention interface, so its attention weights cannot be read."
        )
    [prediction] = classifier.predict_activations(acts)
    selected = classifier.selected_activations(acts)  # [1, K, d]
    cosines = head_cosines(selected, classifier.means)[0].tolist()  # [K, C]
    tokens, patches = position_labels(adapter, inputs, len(example.images))
    out = []
    for (head, voted), cos in zip(prediction.head_votes, cosines):
        out.append(
            HeadExplanation(
                layer=head.layer,
                head=head.head,
                vote=voted,
                cosines=dict(zip(classifier.labels, cos)),
                attention=weights[head.layer][0, head.head].tolist(),  # [T]
                tokens=list(tokens),
                patches=list(patches),
            )
        )
    return prediction, out, acts[0]


def explain(
    adapter: ModelAdapter, classifier: SAVClassifier, example: Example
) -> list[HeadExplanation]:
    """Per selected head (in the classifier's order): where it looked at the final prompt token
    (`attention` over `tokens`, with image `patches`), how it voted, and its class cosines."""
    return explain_prediction(adapter, classifier, example)[1]


# ---------------------------------------------------------------------------------------------
# Head inspector


def head_class_accuracy(
    acts: torch.Tensor,
    labels: Sequence[str],
    head: HeadIndex | tuple[int, int],
    scoring: Scoring = "loo",
) -> dict[str, float]:
    """One head's accuracy per class on training activations [N, L, H, d]: the share of each
    class's examples whose nearest class mean (cosine, `scoring` as in fitting) is their own.
    Its mean weighted by class size is the head's score in `score_heads`."""
    if acts.ndim != 4 or acts.shape[0] != len(labels):
        raise DataError(
            f"need activations [N, L, H, d] with N = {len(labels)} labels, got {list(acts.shape)}."
        )
    layer, index = int(head[0]), int(head[1])
    if not (0 <= layer < acts.shape[1] and 0 <= index < acts.shape[2]):
        raise DataError(
            f"head ({layer}, {index}) is outside the {acts.shape[1]} layers x "
            f"{acts.shape[2]} heads."
        )
    classes, y = encode_labels(labels)  # y: [N]
    one = acts[:, layer, index, None, :].float()  # [N, 1, d]
    correct = counts_as_correct(example_margins(one, y, len(classes), scoring))[:, 0]  # [N]
    return {c: float(correct[y == i].float().mean()) for i, c in enumerate(classes)}
