"""The app's plotly figures: shapes, marks and hover text come from the data given."""

from __future__ import annotations

import pytest
import torch

from savs import plots
from savs.classifier import Prediction
from savs.heads import HeadIndex
from savs.metrics import evaluation_report

pytestmark = pytest.mark.unit


def test_head_heatmap_marks_the_selected_heads_with_hover_details():
    scores = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 12  # [L=3, H=4]
    selected = [HeadIndex(2, 3), HeadIndex(1, 0)]
    fig = plots.head_heatmap(scores, selected)
    heat, marks = fig.data
    assert fig.layout.height and fig.layout.height >= 300
    assert [list(r) for r in heat.z] == scores.tolist()
    assert "layer %{y}, head %{x}" in heat.hovertemplate and "score" in heat.hovertemplate
    assert list(marks.x) == [3, 0] and list(marks.y) == [2, 1]
    assert [c[0] for c in marks.customdata] == [1, 2]  # rank
    assert abs(marks.customdata[0][1] - 11 / 12) < 1e-6
    # exactly the grid, layer 0 on top: no empty padding rows around the markers
    assert tuple(fig.layout.yaxis.range) == (2.5, -0.5) and tuple(fig.layout.xaxis.range) == (-0.5, 3.5)


def test_prediction_votes_are_drawn_per_class():
    scores = torch.zeros(2, 2)
    heads = [HeadIndex(0, 0), HeadIndex(0, 1), HeadIndex(1, 1)]
    p = Prediction("cat", {"cat": 2, "dog": 1}, {"cat": 2 / 3, "dog": 1 / 3},
                   [(heads[0], "cat"), (heads[1], "dog"), (heads[2], "cat")])
    fig = plots.head_heatmap(scores, heads, p, ["cat", "dog"])
    votes = {t.name: (list(t.x), list(t.y)) for t in fig.data[1:]}
    assert votes == {"votes cat": ([0, 1], [0, 1]), "votes dog": ([1], [0])}
    assert fig.data[1].marker.color != fig.data[2].marker.color
    assert plots.class_colour(0, "Blue") == plots.NAMED_COLOURS["blue"]


def test_probability_bars_put_the_winner_first():
    p = Prediction("b", {"a": 1, "b": 3}, {"a": 0.25, "b": 0.75}, [])
    fig = plots.probability_bars(p, ["a", "b"])
    assert list(fig.data[0].y) == ["b", "a"] and list(fig.data[0].x) == [0.75, 0.25]
    assert fig.layout.height > 0


def test_confusion_heatmap_counts():
    report = evaluation_report(["a", "a", "b"], ["a", "b", "b"], ["a", "b"])
    fig = plots.confusion_heatmap(report)
    assert [list(r) for r in fig.data[0].z] == [[1, 1], [0, 1]]
    assert "66.7%" in fig.layout.title.text and fig.layout.height > 0
    assert plots.empty_figure("nothing").layout.height > 0


def test_contact_sheet_tiles_thumbnails_in_rows():
    from PIL import Image

    images = [Image.new("RGB", (30 + i, 20), (i * 30, 0, 0)) for i in range(8)]
    sheet = plots.contact_sheet(images, thumb=10, columns=3, gap=2)
    assert sheet.size == (3 * 12 - 2, 3 * 12 - 2)
    assert sheet.getpixel((12 + 5, 12 + 5)) == (4 * 30, 0, 0)  # row 1, column 1: the 5th image
    assert plots.contact_sheet([]) is None
