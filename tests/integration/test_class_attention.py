"""savs.class_attention: one head's attention averaged over each class's examples equals the
average of transformers' own eager attention rows, placed on the patch grid and summed by token
text; any head (selected or not); a head outside the model is refused."""

from __future__ import annotations

from collections import defaultdict

import pytest
import torch
from test_architectures import TEXT_LMS, adapter_for, training_sets
from test_explain import eager_reference

from savs import DataError
from savs.class_attention import class_attention
from savs.explanation import position_labels

pytestmark = pytest.mark.integration

torch.set_num_threads(1)

# (tiny gemma3's sliding window of 8 hides the image from the last token: not used here)
# a square grid, a merged grid, an unsplit pixel-shuffled image, tiles + a global view, anyres
# tiles + a base view + newlines, a text LM
NAMES = ["llava", "qwen2_vl", "paligemma", "idefics3", "idefics3_tiled", "llava_onevision"]
NAMES += ["llama_lm"]


def reference(name: str, examples, layer: int, head: int):
    """Per class: the mean [rows, cols] grid of image 0 (its (image, row, col) patches: the
    finest grid), mean weight per token text, and mean weight on other views (a global view),
    from transformers' eager attentions of each example (one forward pass each)."""
    adapter = adapter_for(name)
    grids, tokens, counts, elsewhere = (
        defaultdict(list),
        defaultdict(lambda: defaultdict(float)),
        defaultdict(int),
        defaultdict(float),
    )
    for example in examples:
        row = eager_reference(name, example)[layer][0, head, -1]  # [T]
        texts, patches = position_labels(adapter, adapter.encode([example]), len(example.images))
        counts[example.label] += 1
        on_image_0 = [(p, float(w)) for w, p in zip(row, patches) if p is not None and p[0] == 0]
        cells = {p[1:]: w for p, w in on_image_0 if len(p) == 3}
        elsewhere[example.label] += sum(w for p, w in on_image_0 if len(p) == 4)
        if cells:
            rows, cols = max(r for r, _ in cells) + 1, max(c for _, c in cells) + 1
            grids[example.label].append(
                torch.tensor([[cells[(r, c)] for c in range(cols)] for r in range(rows)])
            )
        for w, text, p in zip(row.tolist(), texts, patches):
            if p is None:
                tokens[example.label][text] += w
    return {
        label: (
            torch.stack(grids[label]).mean(0) if grids[label] else None,
            {t: w / n for t, w in tokens[label].items()},
            elsewhere[label] / n,
        )
        for label, n in counts.items()
    }


@pytest.mark.parametrize("name", NAMES)
def test_class_attention_is_the_mean_of_eager_attention_rows(name):
    adapter = adapter_for(name)
    kind = "text" if name in TEXT_LMS else "image"
    train, _ = training_sets(name)[kind]
    layer, head = adapter.num_layers - 1, adapter.num_heads - 1  # any head: nothing is fitted
    seen: list[tuple[int, int]] = []
    got = class_attention(adapter, train, (layer, head), progress=lambda *d: seen.append(d))
    assert seen == [(i, len(train)) for i in range(1, len(train) + 1)]  # after each example
    expected = reference(name, train, layer, head)
    assert list(got) == list(dict.fromkeys(e.label for e in train))
    for label, attention in got.items():
        grid, tokens, other_views = expected[label]
        assert attention.examples == sum(e.label == label for e in train)
        assert (attention.layer, attention.head) == (layer, head)
        assert (attention.grid is None) == (kind == "text")  # every image layout is mapped
        if grid is None:
            assert attention.grid is None
        else:
            torch.testing.assert_close(torch.tensor(attention.grid), grid, rtol=0, atol=1e-5)
        top = sorted(tokens.items(), key=lambda kv: -kv[1])[: len(attention.tokens)]
        assert [t for t, _ in attention.tokens] == [t for t, _ in top]
        torch.testing.assert_close(
            torch.tensor([w for _, w in attention.tokens]), torch.tensor([w for _, w in top])
        )
        if len(tokens) <= len(attention.tokens):  # nothing cut: each example's row sums to 1
            on_grid = sum(map(sum, attention.grid)) if attention.grid else 0.0
            total = sum(w for _, w in attention.tokens) + on_grid + other_views
            assert abs(total - 1) < 1e-4
    if kind == "image":  # the classes differ: the average is not of one row with itself
        grids = [tuple(map(tuple, a.grid)) for a in got.values()]
        assert len(set(grids)) > 1


def test_a_head_outside_the_model_is_refused():
    adapter = adapter_for("llava")
    train, _ = training_sets("llava")["image"]
    with pytest.raises(DataError, match="outside"):
        class_attention(adapter, train, (adapter.num_layers, 0))
    with pytest.raises(DataError, match="at least one"):
        class_attention(adapter, [], (0, 0))
