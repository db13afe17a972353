"""Plotly figures for the app: which heads do the work, how a prediction was voted, where an
evaluation goes wrong. Plain functions of tensors and dicts (no gradio), so they are testable.

Every figure sets its height: a zero-height autosize regression was reported for gr.Plot.
"""

from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go
import torch
from PIL import Image, ImageOps

from .classifier import Prediction, SAVClassifier
from .explanation import HeadExplanation
from .heads import HeadIndex
from .metrics import EvalReport

# one colour per class (Okabe-Ito, colour-blind safe), cycled when there are more classes
CLASS_COLOURS = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
                 "#000000"]
_MARGIN = dict(l=50, r=20, t=50, b=45)


# classes named after a colour are drawn in it (a "blue" class in green is confusing)
NAMED_COLOURS = {"red": "#D62728", "green": "#2CA02C", "blue": "#1F5FD6", "yellow": "#E6C619",
                 "orange": "#FF7F0E", "purple": "#8E44AD", "pink": "#E377C2", "brown": "#8C564B",
                 "black": "#222222", "white": "#D0D0D0", "grey": "#8C8C8C", "gray": "#8C8C8C",
                 "cyan": "#17BECF", "magenta": "#D62AD0"}


def class_colour(index: int, label: str = "") -> str:
    return NAMED_COLOURS.get(label.strip().lower()) or CLASS_COLOURS[index % len(CLASS_COLOURS)]


def head_heatmap(scores: torch.Tensor, selected: Sequence[HeadIndex] = (),
                 prediction: Prediction | None = None, labels: Sequence[str] = (),
                 title: str = "Head scores (layer x head)") -> go.Figure:
    """Every head's score [L, H] as a heatmap (layers on y, heads on x); the selected top-k
    heads outlined; with a prediction, each selected head's vote drawn as a coloured marker."""
    scores = scores.detach().float().cpu()
    num_layers, num_heads = scores.shape
    fig = go.Figure(go.Heatmap(
        z=scores.tolist(), x=list(range(num_heads)), y=list(range(num_layers)),
        colorscale="Viridis", zmin=0.0, zmax=1.0, colorbar=dict(title="score", thickness=12),
        hovertemplate="layer %{y}, head %{x}<br>score %{z:.3f}<extra></extra>"))
    if selected:
        rank = {h: i + 1 for i, h in enumerate(selected)}
        if prediction is None:
            fig.add_trace(go.Scatter(
                x=[h.head for h in selected], y=[h.layer for h in selected], mode="markers",
                name=f"top {len(selected)}",
                marker=dict(symbol="square-open", size=_marker_size(num_layers, num_heads),
                            color="white", line=dict(width=2, color="white")),
                customdata=[[rank[h], float(scores[h.layer, h.head])] for h in selected],
                hovertemplate="layer %{y}, head %{x}<br>score %{customdata[1]:.3f}"
                              "<br>rank %{customdata[0]}<extra>selected</extra>"))
        else:
            index = {lab: i for i, lab in enumerate(labels or prediction.probabilities)}
            by_class: dict[str, list[HeadIndex]] = {}
            for head, lab in prediction.head_votes:
                by_class.setdefault(lab, []).append(head)
            for lab, heads in by_class.items():
                fig.add_trace(go.Scatter(
                    x=[h.head for h in heads], y=[h.layer for h in heads], mode="markers",
                    name=f"votes {lab}",
                    marker=dict(symbol="square", size=_marker_size(num_layers, num_heads) * 0.7,
                                color=class_colour(index.get(lab, 0), lab),
                                line=dict(width=1.5, color="white")),
                    customdata=[[lab, float(scores[h.layer, h.head])] for h in heads],
                    hovertemplate="layer %{y}, head %{x}<br>score %{customdata[1]:.3f}"
                                  "<br>votes <b>%{customdata[0]}</b><extra></extra>"))
    fig.update_layout(
        title=dict(text=title, x=0.01), height=_heatmap_height(num_layers), margin=_MARGIN,
        showlegend=bool(selected),
        # fixed ranges: autorange pads for the markers and shows empty rows -1 and L
        xaxis=dict(title="head", dtick=max(1, num_heads // 16), constrain="domain",
                   range=[-0.5, num_heads - 0.5]),
        yaxis=dict(title="layer", dtick=max(1, num_layers // 16), range=[num_layers - 0.5, -0.5]),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
        plot_bgcolor="white")
    return fig


def _heatmap_height(num_layers: int) -> int:
    return int(min(720, max(320, 120 + 18 * num_layers)))


def _marker_size(num_layers: int, num_heads: int) -> float:
    return float(max(6, min(28, 480 / max(num_layers, num_heads, 1))))


def classifier_heatmap(clf: SAVClassifier, prediction: Prediction | None = None) -> go.Figure:
    title = (f"Head scores, top {clf.k} marked" if prediction is None
             else f"How the top {clf.k} heads voted: {prediction.label}")
    return head_heatmap(clf.head_scores, clf.heads, prediction, clf.labels, title)


def empty_figure(message: str, height: int = 320) -> go.Figure:
    """A blank figure with a hint, for plots that have nothing to show yet."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font=dict(size=15, color="#666"),
                       xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_layout(height=height, margin=_MARGIN, xaxis=dict(visible=False),
                      yaxis=dict(visible=False), plot_bgcolor="white")
    return fig


def probability_bars(prediction: Prediction, labels: Sequence[str] = ()) -> go.Figure:
    """Vote share per class, horizontal bars, the winner first."""
    labels = list(labels or prediction.probabilities)
    order = sorted(labels, key=lambda lab: -prediction.probabilities.get(lab, 0.0))
    fig = go.Figure(go.Bar(
        x=[prediction.probabilities.get(lab, 0.0) for lab in order], y=order, orientation="h",
        marker_color=[class_colour(labels.index(lab), lab) for lab in order],
        text=[f"{prediction.probabilities.get(lab, 0.0):.0%} ({prediction.votes.get(lab, 0)})"
              for lab in order], textposition="auto",
        hovertemplate="%{y}: %{x:.1%} of the votes<extra></extra>"))
    fig.update_layout(title=dict(text="Vote share per class", x=0.01), margin=_MARGIN,
                      height=int(min(520, 110 + 36 * len(order))),
                      xaxis=dict(range=[0, 1], tickformat=".0%"),
                      yaxis=dict(autorange="reversed"), plot_bgcolor="white")
    return fig


def confusion_heatmap(report: EvalReport) -> go.Figure:
    """Counts of true (rows) x predicted (columns) labels, with the counts written in."""
    z = report.confusion
    fig = go.Figure(go.Heatmap(
        z=z, x=report.labels, y=report.labels, colorscale="Blues", showscale=False,
        text=[[str(v) for v in row] for row in z], texttemplate="%{text}",
        hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>"))
    n = len(report.labels)
    fig.update_layout(title=dict(text=f"Confusion matrix (accuracy {report.accuracy:.1%})", x=0.01),
                      height=int(min(720, max(320, 140 + 40 * n))), margin=_MARGIN,
                      xaxis=dict(title="predicted", type="category"),
                      yaxis=dict(title="true", type="category", autorange="reversed"))
    return fig


def contact_sheet(images: Sequence[Image.Image], thumb: int = 56, columns: int = 6,
                  gap: int = 4) -> Image.Image | None:
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


__all__ = ["contact_sheet", "head_heatmap", "classifier_heatmap", "probability_bars", "confusion_heatmap",
           "empty_figure", "class_colour"]


# ---------------------------------------------------------------------------------------------
# Where a head looks (savs.explain): heat over the picture, weights over the tokens

# black -> purple -> orange -> yellow (an inferno-like ramp: readable on colour pictures and
# for colour-blind readers; the weight also sets the opacity, so cold patches stay visible)
_HEAT_STOPS = [(0.0, (0, 0, 4)), (0.35, (120, 28, 109)), (0.7, (237, 105, 37)),
               (1.0, (252, 255, 164))]


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
    cells = [(p[1], p[2], w) for p, w in zip(explanation.patches, explanation.attention)
             if p is not None and p[0] == image_index]
    if not cells:
        raise ValueError(f"no patch positions for image {image_index} in this explanation: the "
                         "model's image tokens do not map to patches, or it has no such image.")
    grid = torch.zeros(max(r for r, _, _ in cells) + 1, max(c for _, c, _ in cells) + 1)
    for row, col, weight in cells:
        grid[row, col] = weight
    return grid  # [rows, cols]


def attention_overlay(image: Image.Image, explanation: HeadExplanation, image_index: int = 0,
                      opacity: float = 0.75) -> Image.Image:
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


def attention_highlights(explanation: HeadExplanation, merge_images: bool = True,
                         scale: bool = True) -> list[tuple[str, float]]:
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
