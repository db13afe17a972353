"""The app's plotly figures: shapes, marks and hover text come from the data given."""

from __future__ import annotations

import json

import pytest
import torch
from plotly.colors import sample_colorscale

from savs import plots
from savs.classifier import Prediction, SAVClassifier
from savs.heads import HeadIndex
from savs.metrics import evaluation_report
from savs.projection import head_projection

pytestmark = pytest.mark.unit


def test_head_heatmap_marks_the_selected_heads_with_hover_details():
    scores = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 12  # [L=3, H=4]
    selected = [HeadIndex(2, 3), HeadIndex(1, 0)]
    fig = plots.head_heatmap(scores, selected)
    heat, marks = fig.data[:2]  # the heatmap, then the ring that carries the hover
    assert fig.layout.height and fig.layout.height >= 300
    assert [list(r) for r in heat.z] == scores.tolist()
    assert "layer %{y}, head %{x}" in heat.hovertemplate and "score" in heat.hovertemplate
    assert list(marks.x) == [3, 0] and list(marks.y) == [2, 1]
    assert [c[0] for c in marks.customdata] == [1, 2]  # rank
    assert abs(marks.customdata[0][1] - 11 / 12) < 1e-6
    # exactly the grid, layer 0 on top: no empty padding rows around the markers
    assert tuple(fig.layout.yaxis.range) == (2.5, -0.5) and tuple(fig.layout.xaxis.range) == (
        -0.5,
        3.5,
    )


def test_prediction_votes_are_drawn_per_class():
    scores = torch.zeros(2, 2)
    heads = [HeadIndex(0, 0), HeadIndex(0, 1), HeadIndex(1, 1)]
    p = Prediction(
        "cat",
        {"cat": 2, "dog": 1},
        {"cat": 2 / 3, "dog": 1 / 3},
        [(heads[0], "cat"), (heads[1], "dog"), (heads[2], "cat")],
    )
    fig = plots.head_heatmap(scores, heads, p, ["cat", "dog"])
    shown = _legend_traces(fig)
    votes = {t.name: (list(t.x), list(t.y)) for t in shown}
    assert votes == {"cat": ([0, 1], [0, 1]), "dog": ([1], [0])}
    assert shown[0].marker.color != shown[1].marker.color
    assert shown[0].marker.symbol != shown[1].marker.symbol
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


# --- the heatmap stays readable: any cell colour, colour-blind readers, many classes ------------


def _luminance(colour: str) -> float:
    """WCAG relative luminance of '#rrggbb' or 'rgb(r, g, b)'."""
    if colour.startswith("#"):
        rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    else:
        rgb = [float(v) for v in colour[colour.index("(") + 1 : -1].split(",")[:3]]
    lin = [
        c / 255 / 12.92 if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb
    ]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    la, lb = sorted([_luminance(a), _luminance(b)], reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _legend_traces(fig):
    return [t for t in fig.data[1:] if t.showlegend is not False]


def _voted(num_classes: int, k: int, num_layers: int = 6, num_heads: int = 10):
    """A prediction where k heads vote round-robin over num_classes classes."""
    labels = [f"class {i}" for i in range(num_classes)]
    heads = [HeadIndex(i // num_heads, i % num_heads) for i in range(k)]
    head_votes = [(h, labels[i % num_classes]) for i, h in enumerate(heads)]
    votes = {lab: sum(v == lab for _, v in head_votes) for lab in labels}
    p = Prediction(labels[0], votes, {lab: n / k for lab, n in votes.items()}, head_votes)
    return torch.rand(num_layers, num_heads), heads, p, labels


def _colours_around(fig, x: int, y: int) -> set[str]:
    """Every outline / halo colour drawn on cell (x, y) by the marker traces."""
    found = set()
    for t in fig.data[1:]:
        if any(px == x and py == y for px, py in zip(t.x, t.y)):
            found.add(t.marker.line.color)
            if t.showlegend is False:  # a halo / inner ring: its fill shows too
                found.add(t.marker.color)
    return found


@pytest.mark.parametrize("with_votes", [False, True])
def test_every_mark_contrasts_with_every_cell_colour(with_votes):
    scores, heads, p, labels = _voted(4, 12)
    fig = plots.head_heatmap(scores, heads, p if with_votes else None, labels)
    cells = sample_colorscale("Viridis", [i / 63 for i in range(64)])  # every cell colour
    for head in heads:
        around = _colours_around(fig, head.head, head.layer)
        worst = min(max(_contrast(c, cell) for c in around) for cell in cells)
        assert worst >= 4.5, (head, around, worst)


def test_vote_marks_differ_in_shape_not_only_in_colour():
    scores, heads, p, labels = _voted(10, 20)
    shown = _legend_traces(plots.head_heatmap(scores, heads, p, labels))
    assert len(shown) == 10
    assert len({t.marker.symbol for t in shown}) == 10
    for t in shown:  # every mark has a dark outline, whatever its fill
        assert t.marker.line.width >= 1 and _luminance(t.marker.line.color) < 0.05
    assert set(plots.CLASS_COLOURS[:8]) == {
        "#E69F00",
        "#56B4E9",
        "#009E73",
        "#F0E442",
        "#0072B2",
        "#D55E00",
        "#CC79A7",
        "#000000",
    }
    # 50 classes: shapes and colours cycle apart, so no two classes look alike
    pairs = {(plots.class_symbol(i), plots.class_colour(i)) for i in range(50)}
    assert len(pairs) == 50


@pytest.mark.parametrize("with_votes", [False, True])
def test_legend_entries_are_visible_on_the_legend_background(with_votes):
    scores, heads, p, labels = _voted(3, 6)
    fig = plots.head_heatmap(scores, heads, p if with_votes else None, labels)
    background = fig.layout.legend.bgcolor or fig.layout.paper_bgcolor or "#FFFFFF"
    background = "#FFFFFF" if background == "white" else background
    assert _legend_traces(fig)
    for t in _legend_traces(fig):
        assert _contrast(t.marker.line.color, background) >= 3, t.name


@pytest.mark.parametrize("num_classes", [4, 10, 50])
def test_legend_sits_below_the_grid_and_the_grid_keeps_its_size(num_classes):
    scores, heads, p, labels = _voted(num_classes, num_classes, num_layers=8, num_heads=8)
    fig = plots.head_heatmap(scores, heads, p, labels, title="How the top heads voted")
    bare = plots.head_heatmap(scores)
    legend, margin = fig.layout.legend, fig.layout.margin
    # anchored to the figure's bottom edge, in the bottom margin; the title is in the top one
    assert (legend.orientation, legend.yref, legend.yanchor, legend.y) == (
        "h",
        "container",
        "bottom",
        0,
    )
    assert fig.layout.title.y is None or fig.layout.title.y > 0.9
    band = margin.b - bare.layout.margin.b  # the room made for the legend
    assert band >= plots.LEGEND_ROW_PX
    # the figure grows by that room: the grid is as tall as without a legend
    assert fig.layout.height - margin.t - margin.b == (
        bare.layout.height - bare.layout.margin.t - bare.layout.margin.b
    )


def test_legend_room_grows_with_the_entries():
    bands = []
    for n in (4, 10, 50):
        scores, heads, p, labels = _voted(n, n, num_layers=8, num_heads=8)
        bands.append(plots.head_heatmap(scores, heads, p, labels).layout.margin.b)
    assert bands[0] < bands[1] < bands[2]


def test_titles_count_heads_in_the_right_number():
    clf = SAVClassifier(
        labels=["a", "b"],
        heads=[HeadIndex(0, 1)],
        means=torch.zeros(1, 2, 4),
        head_scores=torch.zeros(2, 2),
    )
    p = Prediction("a", {"a": 1, "b": 0}, {"a": 1.0, "b": 0.0}, [(HeadIndex(0, 1), "a")])
    assert plots.classifier_heatmap(clf, p).layout.title.text == "How the top 1 head voted: a"
    clf.heads.append(HeadIndex(1, 1))
    assert "top 2 heads voted" in plots.classifier_heatmap(clf, p).layout.title.text


def test_labels_are_text_in_every_figure_not_markup():
    """plotly draws a subset of HTML (links too) in names, titles and ticks: a label from a
    shared classifier must come out as entities."""
    import json

    from savs.metrics import evaluation_report

    evil = '<a href="https://phish.invalid">sign in</a>'
    report = evaluation_report([evil, "b"], [evil, "b"], [evil, "b"])
    prediction = Prediction(
        label=evil,
        votes={evil: 2, "b": 0},
        probabilities={evil: 1.0, "b": 0.0},
        head_votes=[(HeadIndex(0, 0), evil), (HeadIndex(0, 1), evil)],
    )
    figures = [
        plots.confusion_heatmap(report),
        plots.probability_bars(prediction),
        plots.head_heatmap(
            torch.rand(2, 2), [HeadIndex(0, 0), HeadIndex(0, 1)], prediction, [evil, "b"], title="t"
        ),
    ]
    for fig in figures:
        text = json.dumps(fig.to_plotly_json(), default=str)
        assert "<a href" not in text and "&lt;a href" in text


def _figures_built_unvalidated():
    """Every figure plots.FAST builds, with votes, rings, named colours and markup labels."""
    scores, heads, p, labels = _voted(5, 12)
    labels[1] = "<b>blue</b> & red"
    named = Prediction("red", {"red": 2, "blue": 1}, {"red": 2 / 3, "blue": 1 / 3}, [])
    return {
        "votes": plots.head_heatmap(scores, heads, p, labels),
        "rings": plots.head_heatmap(scores, heads),
        "bare": plots.head_heatmap(scores),
        "bars": plots.probability_bars(p, labels),
        "named bars": plots.probability_bars(named, ["red", "blue"]),
        "empty": plots.empty_figure("Extract first", height=200),
        "head map": plots.head_map_figure(
            head_projection(torch.randn(12, 2, 3, 4), [labels[i % 5] for i in range(12)], (1, 2)),
            [f"text {i} <i>x</i>" for i in range(12)],
            torch.tensor([0.5, -0.25]),
            "Layer 1, head 2",
        ),
        "k curve": plots.k_curve_figure([(k, k / 12) for k in range(1, 13)], 5),
        "k curve, none chosen": plots.k_curve_figure([(1, 0.5), (2, 0.75)], None, "train"),
        "head map, no input": plots.head_map_figure(
            head_projection(torch.randn(12, 2, 3, 4), [labels[i % 5] for i in range(12)], (0, 0))
        ),
    }


@pytest.mark.parametrize("name", list(_figures_built_unvalidated()))
def test_figures_built_without_validation_are_what_validation_makes(name):
    """plots.FAST skips plotly's per-property validation (most of a classify's plot cost):
    validating the figure again must change nothing in the JSON the page receives."""
    import json

    import plotly.graph_objects as go

    fig = _figures_built_unvalidated()[name]
    sent = fig.to_json()  # first, as gr.Plot asks: a QuickFigure writes it from its dicts
    validated = go.Figure(fig.to_plotly_json())
    assert json.loads(sent) == json.loads(validated.to_json())


def test_the_figures_every_classify_draws_are_kept_as_json():
    """Building a go.Figure cost 1.5-7 ms each, even unvalidated; these are written from their
    dicts (the JSON compared with plotly's own just above)."""
    from savs.plots.style import QuickFigure

    figures = _figures_built_unvalidated()
    assert all(isinstance(fig, QuickFigure) for fig in figures.values()), figures


def test_a_quick_figure_answers_as_its_go_figure():
    """Anything but its JSON goes to the go.Figure of the same dicts, which is then the figure:
    a change made through it is in the JSON sent."""
    import copy

    import plotly.graph_objects as go

    fig = plots.probability_bars(
        Prediction("a", {"a": 2, "b": 1}, {"a": 2 / 3, "b": 1 / 3}, []), ["a", "b"]
    )
    assert fig.data[0].type == "bar" and isinstance(fig.figure, go.Figure)
    fig.update_layout(height=777)
    assert json.loads(fig.to_json())["layout"]["height"] == 777
    assert copy.deepcopy(fig).layout.height == 777 and "Figure" in repr(fig)


def test_writing_a_quick_figure_changes_neither_it_nor_the_shared_look():
    """The look's JSON is made once and shared by every figure: writing one must leave it, and
    the figure's own dicts, as they were."""
    import copy

    import plotly.io as pio

    from savs.plots.style import _look_json

    fig = _figures_built_unvalidated()["votes"]
    look, traces = copy.deepcopy(_look_json(pio.templates.default)), copy.deepcopy(fig._data)
    first = fig.to_json()
    assert fig.to_json() == first
    assert _look_json(pio.templates.default) == look
    assert json.dumps(fig._data, default=str) == json.dumps(traces, default=str)


def test_an_example_tile_shows_the_whole_picture_padded():
    """A wide picture is padded to the square, not centre-cropped: both ends stay on the tile
    (a crop would cut the blue right end off)."""
    from PIL import Image

    from savs.plots import example_tile
    from savs.plots.results import TILE_BACKGROUND

    wide = Image.new("RGB", (300, 100), (220, 30, 30))
    wide.paste((30, 40, 220), (270, 0, 300, 100))  # the last tenth is blue
    tile = example_tile([wide], side=96)
    assert tile.size == (96, 96)
    assert tile.getpixel((94, 48)) == (30, 40, 220) and tile.getpixel((2, 48)) == (220, 30, 30)
    assert tile.getpixel((48, 2)) == TILE_BACKGROUND  # padded above and below


def _every_figure() -> dict:
    """Every kind of figure savs.plots makes: the unvalidated ones and the rare validated ones
    (confusion matrix, the tasks overlay, class attention)."""
    from savs import fit_activations
    from savs.class_attention import ClassAttention

    g = torch.Generator().manual_seed(0)
    fitted = {
        name: fit_activations(
            torch.randn(12, 4, 5, 3, generator=g), ["a", "b", "c"] * 4, k=4, config={"model": "m"}
        )
        for name in ("one", "two")
    }
    tokens = [("t0", 0.5), ("t1", 0.25)]
    grid = torch.rand(2, 3)
    return {
        **_figures_built_unvalidated(),
        "confusion": plots.confusion_heatmap(evaluation_report(["a", "b"], ["a", "b"], ["a", "b"])),
        "tasks": plots.tasks_figure(fitted),
        "class attention": plots.class_attention_figure(
            {lab: ClassAttention(2, 5, lab, 4, grid, tokens) for lab in ("a", "b")}
        ),
    }


def test_every_figure_carries_the_cut_default_look():
    """Every figure gets plotly's default template cut to what our figures use (7 KB of JSON
    less each), never the whole one: the same look for every trace it draws."""
    import json

    import plotly.io as pio

    full = pio.templates[pio.templates.default]
    look = plots.style.look()
    assert look is not None
    for name, fig in _every_figure().items():
        kinds = {trace.type for trace in fig.data}
        assert kinds <= set(plots.style.TRACE_TYPES), (name, kinds)  # nothing the cut dropped
        template = fig.layout.template
        assert template == look, name
        for kind in kinds:  # each trace's defaults are plotly's own
            assert template.data[kind] == full.data[kind], (name, kind)
        ours = template.layout.to_plotly_json()
        assert set(ours) == set(full.layout.to_plotly_json()) - set(plots.style.UNUSED_SUBPLOTS)
        for key, value in ours.items():  # 2-D axes, fonts, colours: unchanged
            assert value == full.layout.to_plotly_json()[key], (name, key)
        assert (
            len(json.dumps(template.to_plotly_json())) < len(json.dumps(full.to_plotly_json())) / 2
        )


def test_a_default_look_the_user_chose_is_followed(monkeypatch):
    """The cut is made of whatever default the user set (plotly.io.templates.default); no
    registered default (None, or a Template object): plotly applies it as it always does."""
    import plotly.graph_objects as go
    import plotly.io as pio

    monkeypatch.setattr(pio.templates, "default", "plotly_dark")
    dark = plots.probability_bars(Prediction("a", {"a": 1}, {"a": 1.0}, []))
    assert (
        dark.layout.template.layout.paper_bgcolor
        == pio.templates["plotly_dark"].layout.paper_bgcolor
    )
    assert "geo" not in dark.layout.template.layout.to_plotly_json()
    mine = go.layout.Template(layout=dict(paper_bgcolor="#123456"))
    monkeypatch.setattr(pio.templates, "default", mine)
    assert plots.style.look() is None
    assert plots.empty_figure("x").layout.template.layout.paper_bgcolor == "#123456"
