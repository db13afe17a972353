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


def k_curve_figure(curve: Sequence[tuple[int, float]], chosen_k: int | None = None,
                   scoring: str = "loo") -> go.Figure:
    """Training accuracy for every number of heads k (`classifier.k_curve`), the chosen k marked,
    so a user sees what fewer or more heads would cost before picking k."""
    ks, accuracy = [k for k, _ in curve], [acc for _, acc in curve]
    what = "leave-one-out" if scoring == "loo" else "training"
    fig = go.Figure(go.Scatter(
        x=ks, y=accuracy, mode="lines", name=f"{what} accuracy", line=dict(color="#0072B2"),
        hovertemplate="k = %{x}<br>accuracy %{y:.3f}<extra></extra>"))
    if chosen_k is not None and 1 <= chosen_k <= len(accuracy):
        fig.add_trace(go.Scatter(
            x=[chosen_k], y=[accuracy[chosen_k - 1]], mode="markers", name=f"k = {chosen_k}",
            marker=dict(size=11, color="#D55E00", symbol="diamond"),
            hovertemplate="chosen k = %{x}<br>accuracy %{y:.3f}<extra></extra>"))
        fig.add_vline(x=chosen_k, line=dict(color="#D55E00", dash="dot", width=1))
    fig.update_layout(title=f"How many heads: {what} accuracy for every k", height=320,
                      margin=_MARGIN, showlegend=False,
                      xaxis=dict(title="heads kept (k)", range=[0.5, max(ks, default=1) + 0.5]),
                      yaxis=dict(title="accuracy", range=[0, 1.02]))
    return fig


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
