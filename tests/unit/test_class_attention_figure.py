"""savs.plots.class_attention_figure: one row per class, a patch grid (when known) and a token
strip each on its own colour scale, values on hover, visitor text drawn as text."""

from __future__ import annotations

import pytest

from savs.class_attention import ClassAttention
from savs.plots import HEAT_SCALE, class_attention_figure
from savs.plots.attention import CLASS_ROW_PX, CLASS_TOKENS_SHOWN

pytestmark = pytest.mark.unit


def attention(label: str, grid=None, n_tokens: int = 3) -> ClassAttention:
    tokens = [(f"t{i}", 0.5 / (i + 1)) for i in range(n_tokens)]
    return ClassAttention(2, 5, label, 4, grid, tokens)


def test_text_only_classes_get_one_token_strip_each_with_escaped_text():
    per_class = {
        "<b>harm</b>": attention("<b>harm</b>", n_tokens=30),
        "fine": attention("fine", n_tokens=2),
    }
    fig = class_attention_figure(per_class)
    assert len(fig.data) == 2 and fig.layout.height == 90 + 2 * CLASS_ROW_PX
    first, second = fig.data
    weights = [row[0] for row in first.z]  # a column, the strongest token on top
    assert len(weights) == CLASS_TOKENS_SHOWN and weights == sorted(weights, reverse=True)
    assert [row[0] for row in second.text] == ["t0", "t1"] and second.coloraxis == "coloraxis2"
    assert first.name == "&lt;b&gt;harm&lt;/b&gt;"  # never markup
    assert "&lt;b&gt;harm" in fig.layout.annotations[0].text
    assert "layer 2, head 5" in fig.layout.title.text
    assert [c[1] for c in fig.layout.coloraxis2.colorscale] == [c[1] for c in HEAT_SCALE]


def test_image_classes_get_a_patch_grid_beside_their_tokens():
    grid = [[0.1, 0.2], [0.3, 0.4]]
    fig = class_attention_figure({"a": attention("a", grid), "b": attention("b", grid)})
    assert [t.coloraxis for t in fig.data] == ["coloraxis", "coloraxis2"] * 2
    assert [list(r) for r in fig.data[0].z] == grid
    assert fig.layout.yaxis.autorange == "reversed"  # row 0 at the top, as in the picture
    assert "patch row" in fig.data[0].hovertemplate and "token" in fig.data[1].hovertemplate
