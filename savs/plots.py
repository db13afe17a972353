"""Plotly figures for the app: which heads do the work, how a prediction was voted, where an
evaluation goes wrong. Plain functions of tensors and dicts (no gradio), so they are testable.

Every figure sets its height: a zero-height autosize regression was reported for gr.Plot.
The figures every classify draws (head heatmap, vote bars, the empty figure) are built without
plotly's per-property validation (`FAST`): validating cost about 18 ms of a classify's 40 on
this CPU, and the values are already in plotly's canonical form (tests/unit/test_plots.py
checks that validating them changes nothing).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

try:
    import plotly.graph_objects as go
except ImportError as exc:  # plotly is an extra: the method itself needs no figures
    raise ImportError(
        "savs.plots draws its figures with plotly, which `pip install savs` leaves out: "
        "pip install 'savs[plots]' (or 'savs[app]')."
    ) from exc
import torch
from PIL import Image, ImageOps

from .classifier import Prediction, SAVClassifier
from .explanation import HeadExplanation
from .heads import HeadIndex
from .metrics import EvalReport
from .projection import HeadProjection
from .text import plural

# one colour per class (Okabe-Ito, colour-blind safe), cycled when there are more classes
CLASS_COLOURS = [
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
    "#000000",
]
# 15 marker shapes, one per class (odd against 8 colours, so shape and colour cycle apart)
CLASS_SYMBOLS = [
    "circle",
    "square",
    "diamond",
    "triangle-up",
    "triangle-down",
    "star",
    "cross",
    "x",
    "pentagon",
    "hexagon",
    "triangle-left",
    "triangle-right",
    "hourglass",
    "star-diamond",
    "bowtie",
]
# the two outline colours every heatmap mark pairs: one of them contrasts >= 4.5:1 with any colour
DARK, LIGHT = "#000000", "#FFFFFF"
_MARGIN = dict(l=50, r=20, t=50, b=45)
# the horizontal legend under a heatmap: the narrowest plot width planned for, row height, title
# (row height and wrapping as measured in Chromium: tests/test_plot_render.py)
LEGEND_WIDTH, LEGEND_ROW_PX, LEGEND_TITLE_PX = 520, 30, 50
# build a figure or trace without validating each property (see the module's docstring)
FAST = dict(_validate=False)
VIRIDIS = go.Heatmap(colorscale="Viridis").colorscale  # the list validation would make of it


# classes named after a colour are drawn in it (a "blue" class in green is confusing)
NAMED_COLOURS = {
    "red": "#D62728",
    "green": "#2CA02C",
    "blue": "#1F5FD6",
    "yellow": "#E6C619",
    "orange": "#FF7F0E",
    "purple": "#8E44AD",
    "pink": "#E377C2",
    "brown": "#8C564B",
    "black": "#222222",
    "white": "#D0D0D0",
    "grey": "#8C8C8C",
    "gray": "#8C8C8C",
    "cyan": "#17BECF",
    "magenta": "#D62AD0",
}


def class_colour(index: int, label: str = "") -> str:
    return NAMED_COLOURS.get(label.strip().lower()) or CLASS_COLOURS[index % len(CLASS_COLOURS)]


def shown(label: str) -> str:
    """A label as plotly text: plotly draws a subset of HTML in names, titles and ticks (links
    among it), so a label from a shared file is written with entities, never as markup."""
    return html.escape(str(label), quote=False)


def class_symbol(index: int) -> str:
    """A marker shape per class, so votes read without colour (colour-blind readers, greyscale
    prints); 15 shapes against 8 colours give 120 distinct (shape, colour) pairs."""
    return CLASS_SYMBOLS[index % len(CLASS_SYMBOLS)]


def head_heatmap(
    scores: torch.Tensor,
    selected: Sequence[HeadIndex] = (),
    prediction: Prediction | None = None,
    labels: Sequence[str] = (),
    title: str = "Head scores (layer x head)",
) -> go.Figure:
    """Every head's score [L, H] as a heatmap (layers on y, heads on x); the selected top-k
    heads ringed; with a prediction, each selected head's vote drawn as a class marker.

    Every mark pairs a near-black and a white outline, so it stands out on any cell colour
    (white vanishes on yellow cells, black on dark purple ones); the legend sits in the bottom
    margin, which grows with its rows, so it never covers the title or the grid."""
    scores = scores.detach().float().cpu()  # [L, H]
    num_layers, num_heads = scores.shape
    heat = go.Heatmap(
        z=scores.numpy(),
        x=list(range(num_heads)),
        y=list(range(num_layers)),
        colorscale=VIRIDIS,
        zmin=0.0,
        zmax=1.0,
        colorbar=dict(title=dict(text="score"), thickness=12),
        hovertemplate="layer %{y}, head %{x}<br>score %{z:.3f}<extra></extra>",
        **FAST,
    )
    size = _marker_size(num_layers, num_heads)
    marks: list[go.Scatter] = []
    if selected and prediction is None:
        marks = _selection_traces(scores, selected, size)
    elif selected:
        marks = _vote_traces(scores, prediction, labels, size)
    names = [t.name for t in marks if t.showlegend is not False]
    legend_height = _legend_height(names)
    layout = dict(
        title=dict(text=title, x=0.01),
        height=_heatmap_height(num_layers) + legend_height,
        margin={**_MARGIN, "b": _MARGIN["b"] + legend_height},
        showlegend=bool(names),
        # fixed ranges: autorange pads for the markers and shows empty rows -1 and L
        xaxis=dict(
            title=dict(text="head"),
            dtick=max(1, num_heads // 16),
            constrain="domain",
            range=[-0.5, num_heads - 0.5],
        ),
        yaxis=dict(
            title=dict(text="layer"),
            dtick=max(1, num_layers // 16),
            range=[num_layers - 0.5, -0.5],
        ),
        # in the bottom margin, below the axis title, measured from the figure's bottom edge
        legend=dict(
            orientation="h",
            xref="container",
            x=0.01,
            xanchor="left",
            yref="container",
            y=0.0,
            yanchor="bottom",
            itemsizing="constant",
            bgcolor="white",
            maxheight=max(legend_height, 1),  # pixels: never a scrolled, cut legend
            title=dict(text="votes" if prediction is not None else ""),
        ),
        plot_bgcolor="white",
    )
    return go.Figure([heat, *marks], layout, **FAST)


def _selection_traces(
    scores: torch.Tensor, selected: Sequence[HeadIndex], size: float
) -> list[go.Scatter]:
    """A black ring with a white ring inside it on each selected head: one of the two always
    contrasts with the cell. The black ring carries the legend entry (visible on white)."""
    rank = {h: i + 1 for i, h in enumerate(selected)}
    x, y = [h.head for h in selected], [h.layer for h in selected]
    group = f"top {len(selected)}"
    outer = go.Scatter(
        x=x,
        y=y,
        mode="markers",
        name=group,
        legendgroup=group,
        marker=dict(symbol="square-open", size=size, color=DARK, line=dict(width=4, color=DARK)),
        customdata=[[rank[h], float(scores[h.layer, h.head])] for h in selected],
        hovertemplate="layer %{y}, head %{x}<br>score %{customdata[1]:.3f}"
        "<br>rank %{customdata[0]}<extra>selected</extra>",
        **FAST,
    )
    inner = go.Scatter(
        x=x,
        y=y,
        mode="markers",
        name=group,
        legendgroup=group,
        showlegend=False,
        hoverinfo="skip",
        marker=dict(
            symbol="square-open", size=size, color=LIGHT, line=dict(width=1.5, color=LIGHT)
        ),
        **FAST,
    )
    return [outer, inner]


def _vote_traces(
    scores: torch.Tensor, prediction: Prediction, labels: Sequence[str], size: float
) -> list[go.Scatter]:
    """Per voted class: a white halo under a shape of the class's own symbol and colour with a
    near-black outline (halo and outline together contrast with any cell)."""
    index = {lab: i for i, lab in enumerate(labels or prediction.probabilities)}
    by_class: dict[str, list[HeadIndex]] = {}
    for head, lab in prediction.head_votes:
        by_class.setdefault(lab, []).append(head)
    traces = []
    for lab, heads in by_class.items():
        i = index.get(lab, 0)
        x, y, symbol, inner = (
            [h.head for h in heads],
            [h.layer for h in heads],
            class_symbol(i),
            size * 0.7,
        )
        traces.append(
            go.Scatter(
                x=x,
                y=y,
                mode="markers",
                name=shown(lab),
                legendgroup=f"class-{i}",
                showlegend=False,
                hoverinfo="skip",
                marker=dict(
                    symbol=symbol, size=inner + 4, color=LIGHT, line=dict(width=2, color=LIGHT)
                ),
                **FAST,
            )
        )
        traces.append(
            go.Scatter(
                x=x,
                y=y,
                mode="markers",
                name=shown(lab),
                legendgroup=f"class-{i}",
                marker=dict(
                    symbol=symbol,
                    size=inner,
                    color=class_colour(i, lab),
                    line=dict(width=1.5, color=DARK),
                ),
                customdata=[[shown(lab), float(scores[h.layer, h.head])] for h in heads],
                hovertemplate="layer %{y}, head %{x}<br>score %{customdata[1]:.3f}"
                "<br>votes <b>%{customdata[0]}</b><extra></extra>",
                **FAST,
            )
        )
    return traces


def _legend_height(names: Sequence[str], width: int = LEGEND_WIDTH) -> int:
    """Pixels a horizontal legend of these entries takes when it wraps at `width`. plotly.js
    wraps a long legend into columns as wide as its widest entry. The plot's real width is
    unknown here: plan for a narrow one, so wide screens get spare room, never overlap."""
    if not names:
        return 0
    entry = 40 + 7 * max(len(n) for n in names)  # symbol + gap + ~7 px a character at 12 px
    per_row = max(1, (width - _MARGIN["l"] - _MARGIN["r"] - LEGEND_TITLE_PX) // entry)
    rows = -(-len(names) // per_row)
    return 10 + LEGEND_ROW_PX * rows


def _heatmap_height(num_layers: int) -> int:
    return int(min(720, max(320, 120 + 18 * num_layers)))


def _marker_size(num_layers: int, num_heads: int) -> float:
    return float(max(6, min(28, 480 / max(num_layers, num_heads, 1))))


def classifier_heatmap(clf: SAVClassifier, prediction: Prediction | None = None) -> go.Figure:
    title = (
        f"Head scores, top {clf.k} marked"
        if prediction is None
        else f"How the top {plural(clf.k, 'head')} voted: {shown(prediction.label)}"
    )
    return head_heatmap(clf.head_scores, clf.heads, prediction, clf.labels, title)


def k_curve_figure(
    curve: Sequence[tuple[int, float]], chosen_k: int | None = None, scoring: str = "loo"
) -> go.Figure:
    """Training accuracy for every number of heads k (`classifier.k_curve`), the chosen k marked,
    so a user sees what fewer or more heads would cost before picking k."""
    ks, accuracy = [k for k, _ in curve], [acc for _, acc in curve]
    what = "leave-one-out" if scoring == "loo" else "training"
    fig = go.Figure(
        go.Scatter(
            x=ks,
            y=accuracy,
            mode="lines",
            name=f"{what} accuracy",
            line=dict(color="#0072B2"),
            hovertemplate="k = %{x}<br>accuracy %{y:.3f}<extra></extra>",
        )
    )
    if chosen_k is not None and 1 <= chosen_k <= len(accuracy):
        fig.add_trace(
            go.Scatter(
                x=[chosen_k],
                y=[accuracy[chosen_k - 1]],
                mode="markers",
                name=f"k = {chosen_k}",
                marker=dict(size=11, color="#D55E00", symbol="diamond"),
                hovertemplate="chosen k = %{x}<br>accuracy %{y:.3f}<extra></extra>",
            )
        )
        fig.add_vline(x=chosen_k, line=dict(color="#D55E00", dash="dot", width=1))
    fig.update_layout(
        title=f"How many heads: {what} accuracy for every k",
        height=320,
        margin=_MARGIN,
        showlegend=False,
        xaxis=dict(title="heads kept (k)", range=[0.5, max(ks, default=1) + 0.5]),
        yaxis=dict(title="accuracy", range=[0, 1.02]),
    )
    return fig


def empty_figure(message: str, height: int = 320) -> go.Figure:
    """A blank figure with a hint, for plots that have nothing to show yet."""
    layout = dict(
        annotations=[
            dict(
                text=message,
                showarrow=False,
                font=dict(size=15, color="#666"),
                xref="paper",
                yref="paper",
                x=0.5,
                y=0.5,
            )
        ],
        height=height,
        margin=_MARGIN,
        xaxis=dict(visible=False),
        yaxis=dict(visible=False),
        plot_bgcolor="white",
    )
    return go.Figure(None, layout, **FAST)


def probability_bars(prediction: Prediction, labels: Sequence[str] = ()) -> go.Figure:
    """Vote share per class, horizontal bars, the winner first."""
    labels = list(labels or prediction.probabilities)
    position = {lab: i for i, lab in enumerate(labels)}  # list.index per bar was quadratic
    order = sorted(labels, key=lambda lab: -prediction.probabilities.get(lab, 0.0))
    bars = go.Bar(
        x=[prediction.probabilities.get(lab, 0.0) for lab in order],
        y=[shown(lab) for lab in order],
        orientation="h",
        marker=dict(color=[class_colour(position[lab], lab) for lab in order]),
        text=[
            f"{prediction.probabilities.get(lab, 0.0):.0%} ({prediction.votes.get(lab, 0)})"
            for lab in order
        ],
        textposition="auto",
        hovertemplate="%{y}: %{x:.1%} of the votes<extra></extra>",
        **FAST,
    )
    layout = dict(
        title=dict(text="Vote share per class", x=0.01),
        margin=_MARGIN,
        height=int(min(520, 110 + 36 * len(order))),
        xaxis=dict(range=[0, 1], tickformat=".0%"),
        yaxis=dict(autorange="reversed"),
        plot_bgcolor="white",
    )
    return go.Figure(bars, layout, **FAST)


def confusion_heatmap(report: EvalReport) -> go.Figure:
    """Counts of true (rows) x predicted (columns) labels, with the counts written in."""
    z = report.confusion
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[shown(lab) for lab in report.labels],
            y=[shown(lab) for lab in report.labels],
            colorscale="Blues",
            showscale=False,
            text=[[str(v) for v in row] for row in z],
            texttemplate="%{text}",
            hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
        )
    )
    n = len(report.labels)
    fig.update_layout(
        title=dict(text=f"Confusion matrix (accuracy {report.accuracy:.1%})", x=0.01),
        height=int(min(720, max(320, 140 + 40 * n))),
        margin=_MARGIN,
        xaxis=dict(title="predicted", type="category"),
        yaxis=dict(title="true", type="category", autorange="reversed"),
    )
    return fig


def contact_sheet(
    images: Sequence[Image.Image], thumb: int = 56, columns: int = 6, gap: int = 4
) -> Image.Image | None:
    """Thumbnails of a class's examples in one small picture: a compact, fixed-size preview for
    a class card (a gallery of many files is heavier and grows with the count)."""
    if not images:
        return None
    rows = (len(images) + columns - 1) // columns
    width = min(len(images), columns) * (thumb + gap) - gap
    sheet = Image.new("RGB", (width, rows * (thumb + gap) - gap), (255, 255, 255))
    for i, image in enumerate(images):
        tile = ImageOps.fit(image.convert("RGB"), (thumb, thumb))
        sheet.paste(tile, ((i % columns) * (thumb + gap), (i // columns) * (thumb + gap)))
    return sheet


__all__ = [
    "contact_sheet",
    "example_tile",
    "head_heatmap",
    "classifier_heatmap",
    "probability_bars",
    "confusion_heatmap",
    "empty_figure",
    "class_colour",
]


def example_tile(images: Sequence[Image.Image], text: str = "", side: int = 96) -> Image.Image:
    """One example as a square thumbnail for a class card: its first picture, or (text-only
    examples) its text written on a plain tile, so every example can be seen and picked."""
    if images:
        return ImageOps.fit(images[0].convert("RGB"), (side, side))
    from PIL import ImageDraw

    tile = Image.new("RGB", (side, side), (244, 244, 248))
    draw = ImageDraw.Draw(tile)
    words, lines, line = text.split(), [], ""
    for word in words:
        if len(line) + len(word) + 1 > side // 7:
            lines.append(line)
            line = word[: side // 7]
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    for i, row in enumerate(lines[: side // 14]):
        draw.text((4, 4 + 13 * i), row, fill=(40, 40, 60))
    return tile


# ---------------------------------------------------------------------------------------------
# Where a head looks (savs.explain): heat over the picture, weights over the tokens

# black -> purple -> orange -> yellow (an inferno-like ramp: readable on colour pictures and
# for colour-blind readers; the weight also sets the opacity, so cold patches stay visible)
_HEAT_STOPS = [
    (0.0, (0, 0, 4)),
    (0.35, (120, 28, 109)),
    (0.7, (237, 105, 37)),
    (1.0, (252, 255, 164)),
]


def _heat_colour(w: float) -> tuple[int, int, int]:
    for (a, ca), (b, cb) in zip(_HEAT_STOPS, _HEAT_STOPS[1:]):
        if w <= b:
            t = (w - a) / (b - a)
            return tuple(round(x + (y - x) * t) for x, y in zip(ca, cb))
    return _HEAT_STOPS[-1][1]


def patch_weights(explanation: HeadExplanation, image_index: int = 0) -> torch.Tensor:
    """One image's attention weights on its patch grid, [rows, columns], from an explanation's
    `patches` and `attention`. Raises ValueError when that image's patches are not known (tiled
    or pixel-shuffled architectures: see the README)."""
    cells = [
        (p[1], p[2], w)
        for p, w in zip(explanation.patches, explanation.attention)
        if p is not None and p[0] == image_index
    ]
    if not cells:
        raise ValueError(
            f"no patch positions for image {image_index} in this explanation: the "
            "model's image tokens do not map to patches, or it has no such image."
        )
    grid = torch.zeros(max(r for r, _, _ in cells) + 1, max(c for _, c, _ in cells) + 1)
    for row, col, weight in cells:
        grid[row, col] = weight
    return grid  # [rows, cols]


def attention_overlay(
    image: Image.Image, explanation: HeadExplanation, image_index: int = 0, opacity: float = 0.75
) -> Image.Image:
    """The picture with one head's attention as a heat overlay: each patch's weight (scaled so
    the image's largest is 1) coloured and blended over the region of the picture that patch
    covers. The grid is stretched over the whole picture, as the processors of the mapped
    architectures resize (not crop) it. Nearest-neighbour: a patch stays a visible block."""
    grid = patch_weights(explanation, image_index)  # [rows, cols]
    scaled = grid / grid.max() if float(grid.max()) > 0 else grid
    base = image.convert("RGB")
    rows, cols = scaled.shape
    heat = Image.new("RGB", (cols, rows))
    alpha = Image.new("L", (cols, rows))
    for r in range(rows):
        for c in range(cols):
            w = float(scaled[r, c])
            heat.putpixel((c, r), _heat_colour(w))
            alpha.putpixel((c, r), round(255 * opacity * w))
    heat = heat.resize(base.size, Image.NEAREST)
    alpha = alpha.resize(base.size, Image.NEAREST)
    return Image.composite(heat, base, alpha)


def attention_highlights(
    explanation: HeadExplanation, merge_images: bool = True, scale: bool = True
) -> list[tuple[str, float]]:
    """(token text, weight) per input position, for highlighted text (gradio's HighlightedText
    takes such pairs, with weights in [-1, 1]). `merge_images`: each image's run of patch
    tokens becomes one "<image i>" entry with their summed weight. `scale`: weights divided by
    the largest, so the most-attended entry is 1."""
    pairs: list[tuple[str, float]] = []
    last_image: object = None
    for token, patch, weight in zip(explanation.tokens, explanation.patches, explanation.attention):
        image = patch[0] if patch is not None else ("?" if token == "<image>" else None)
        if merge_images and image is not None:
            if image == last_image:
                pairs[-1] = (pairs[-1][0], pairs[-1][1] + weight)
            else:
                pairs.append(("<image>" if image == "?" else f"<image {image}>", weight))
            last_image = image
            continue
        pairs.append((token, weight))
        last_image = None
    top = max((w for _, w in pairs), default=0.0)
    if scale and top > 0:
        pairs = [(t, w / top) for t, w in pairs]
    return pairs


__all__ += ["patch_weights", "attention_overlay", "attention_highlights"]


def head_map_figure(
    projection: HeadProjection,
    texts: Sequence[str] = (),
    star: torch.Tensor | None = None,
    title: str = "",
) -> go.Figure:
    """One head's training vectors on its PCA plane (`savs.head_projection`): a trace per class
    (colour and shape), its mean as a cross, the last input as a star. Hover: label and text."""
    p = projection
    fig = go.Figure()
    points = p.points.tolist()
    for c, label in enumerate(p.classes):
        rows = [i for i, lab in enumerate(p.labels) if lab == label]
        fig.add_trace(
            go.Scatter(
                x=[points[i][0] for i in rows],
                y=[points[i][1] for i in rows],
                mode="markers",
                name=shown(label),
                marker=dict(
                    color=class_colour(c, label),
                    symbol=class_symbol(c),
                    size=9,
                    line=dict(color=DARK, width=0.5),
                ),
                text=[shown(_hover(label, texts[i] if i < len(texts) else "")) for i in rows],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    means = p.means.tolist()
    fig.add_trace(
        go.Scatter(
            x=[m[0] for m in means],
            y=[m[1] for m in means],
            mode="markers",
            name="class means",
            marker=dict(
                color=[class_colour(c, lab) for c, lab in enumerate(p.classes)],
                symbol="x-thin",
                size=16,
                line=dict(width=3, color=[class_colour(c, lab) for c, lab in enumerate(p.classes)]),
            ),
            text=[f"mean of {shown(lab)}" for lab in p.classes],
            hovertemplate="%{text}<extra></extra>",
        )
    )
    if star is not None:
        fig.add_trace(
            go.Scatter(
                x=[float(star[0])],
                y=[float(star[1])],
                mode="markers",
                name="this input",
                marker=dict(symbol="star", size=20, color=LIGHT, line=dict(color=DARK, width=2)),
                hovertemplate="the last input<extra></extra>",
            )
        )
    a, b = p.explained
    legend_height = _legend_height([t.name for t in fig.data])
    fig.update_layout(
        title=dict(text=shown(title) or "A head's vectors", x=0.01),
        height=340 + legend_height,
        margin={**_MARGIN, "b": _MARGIN["b"] + legend_height},
        xaxis=dict(title=f"axis 1 ({a:.0%} of the spread)", zeroline=False),
        yaxis=dict(title=f"axis 2 ({b:.0%})", zeroline=False),
        plot_bgcolor="white",
        legend=dict(  # in the bottom margin, as under the heatmap
            orientation="h",
            xref="container",
            x=0.01,
            xanchor="left",
            yref="container",
            y=0.0,
            yanchor="bottom",
            itemsizing="constant",
            maxheight=max(legend_height, 1),
        ),
    )
    return fig


def _hover(label: str, text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return f"{label}: {text[:limit]}{'…' if len(text) > limit else ''}" if text else label


__all__ += ["head_map_figure"]
