"""Figures of heads: the layer x head score heatmap (with the selected heads and their votes
marked), the k curve, and one head's vectors on its PCA plane."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..classifier import Prediction, SAVClassifier
from ..heads import HeadIndex
from ..projection import HeadProjection
from ..text import plural
from .style import (
    _MARGIN,
    DARK,
    LIGHT,
    VIRIDIS,
    Figure,
    _legend_height,
    bottom_legend,
    class_colour,
    class_symbol,
    figure,
    shown,
    trace,
)


def head_heatmap(
    scores: torch.Tensor,
    selected: Sequence[HeadIndex] = (),
    prediction: Prediction | None = None,
    labels: Sequence[str] = (),
    title: str = "Head scores (layer x head)",
) -> Figure:
    """Every head's score [L, H] as a heatmap (layers on y, heads on x); the selected top-k
    heads ringed; with a prediction, each selected head's vote drawn as a class marker.

    Every mark pairs a near-black and a white outline, so it stands out on any cell colour
    (white vanishes on yellow cells, black on dark purple ones); the legend sits in the bottom
    margin, which grows with its rows, so it never covers the title or the grid."""
    scores = scores.detach().float().cpu()  # [L, H]
    num_layers, num_heads = scores.shape
    heat = trace(
        "heatmap",
        z=scores.numpy().copy(),  # (a go.Figure copied it; scores may be the classifier's)
        x=list(range(num_heads)),
        y=list(range(num_layers)),
        colorscale=VIRIDIS,
        zmin=0.0,
        zmax=1.0,
        colorbar=dict(title=dict(text="score"), thickness=12),
        hovertemplate="layer %{y}, head %{x}<br>score %{z:.3f}<extra></extra>",
    )
    size = _marker_size(num_layers, num_heads)
    marks: list[dict] = []
    if selected and prediction is None:
        marks = _selection_traces(scores, selected, size)
    elif selected:
        marks = _vote_traces(scores, prediction, labels, size)
    names = [t["name"] for t in marks if t.get("showlegend") is not False]
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
        legend=bottom_legend(
            legend_height,
            bgcolor="white",
            title=dict(text="votes" if prediction is not None else ""),
        ),
        plot_bgcolor="white",
    )
    return figure([heat, *marks], layout)


def _selection_traces(
    scores: torch.Tensor, selected: Sequence[HeadIndex], size: float
) -> list[dict]:
    """A black ring with a white ring inside it on each selected head: one of the two always
    contrasts with the cell. The black ring carries the legend entry (visible on white)."""
    rank = {h: i + 1 for i, h in enumerate(selected)}
    x, y = [h.head for h in selected], [h.layer for h in selected]
    group = f"top {len(selected)}"
    outer = trace(
        "scatter",
        x=x,
        y=y,
        mode="markers",
        name=group,
        legendgroup=group,
        marker=dict(symbol="square-open", size=size, color=DARK, line=dict(width=4, color=DARK)),
        customdata=[[rank[h], float(scores[h.layer, h.head])] for h in selected],
        hovertemplate="layer %{y}, head %{x}<br>score %{customdata[1]:.3f}"
        "<br>rank %{customdata[0]}<extra>selected</extra>",
    )
    inner = trace(
        "scatter",
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
    )
    return [outer, inner]


def _vote_traces(
    scores: torch.Tensor, prediction: Prediction, labels: Sequence[str], size: float
) -> list[dict]:
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
            trace(
                "scatter",
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
            )
        )
        traces.append(
            trace(
                "scatter",
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
            )
        )
    return traces


def _heatmap_height(num_layers: int) -> int:
    return int(min(720, max(320, 120 + 18 * num_layers)))


def _marker_size(num_layers: int, num_heads: int) -> float:
    return float(max(6, min(28, 480 / max(num_layers, num_heads, 1))))


def classifier_heatmap(clf: SAVClassifier, prediction: Prediction | None = None) -> Figure:
    title = (
        f"Head scores, top {clf.k} marked"
        if prediction is None
        else f"How the top {plural(clf.k, 'head')} voted: {shown(prediction.label)}"
    )
    return head_heatmap(clf.head_scores, clf.heads, prediction, clf.labels, title)


def k_curve_figure(
    curve: Sequence[tuple[int, float]], chosen_k: int | None = None, scoring: str = "loo"
) -> Figure:
    """Training accuracy for every number of heads k (`classifier.k_curve`), the chosen k marked,
    so a user sees what fewer or more heads would cost before picking k. Drawn after every
    extract and refit (every student at the start of a class): kept as JSON (QuickFigure), the
    chosen k's line written as the shape `add_vline` makes (8.3 -> 0.9 ms, the same JSON)."""
    ks, accuracy = [k for k, _ in curve], [acc for _, acc in curve]
    what = "leave-one-out" if scoring == "loo" else "training"
    traces = [
        trace(
            "scatter",
            x=ks,
            y=accuracy,
            mode="lines",
            name=f"{what} accuracy",
            line=dict(color="#0072B2"),
            hovertemplate="k = %{x}<br>accuracy %{y:.3f}<extra></extra>",
        )
    ]
    shapes = []
    if chosen_k is not None and 1 <= chosen_k <= len(accuracy):
        traces.append(
            trace(
                "scatter",
                x=[chosen_k],
                y=[accuracy[chosen_k - 1]],
                mode="markers",
                name=f"k = {chosen_k}",
                marker=dict(size=11, color="#D55E00", symbol="diamond"),
                hovertemplate="chosen k = %{x}<br>accuracy %{y:.3f}<extra></extra>",
            )
        )
        shapes.append(
            dict(
                type="line",
                x0=chosen_k,
                x1=chosen_k,
                xref="x",
                y0=0,
                y1=1,
                yref="y domain",
                line=dict(color="#D55E00", dash="dot", width=1),
            )
        )
    layout = dict(
        title=dict(text=f"How many heads: {what} accuracy for every k"),
        height=320,
        margin=_MARGIN,
        showlegend=False,
        xaxis=dict(title=dict(text="heads kept (k)"), range=[0.5, max(ks, default=1) + 0.5]),
        yaxis=dict(title=dict(text="accuracy"), range=[0, 1.02]),
    )
    if shapes:
        layout["shapes"] = shapes
    return figure(traces, layout)


def head_map_figure(
    projection: HeadProjection,
    texts: Sequence[str] = (),
    star: torch.Tensor | None = None,
    title: str = "",
) -> Figure:
    """One head's training vectors on its PCA plane (`savs.head_projection`): a trace per class
    (colour and shape), its mean as a cross, the last input as a star. Hover: label and text."""
    p = projection
    traces = _class_point_traces(p, texts)
    means = p.means.tolist()
    colours = [class_colour(c, lab) for c, lab in enumerate(p.classes)]
    traces.append(
        trace(
            "scatter",
            x=[m[0] for m in means],
            y=[m[1] for m in means],
            mode="markers",
            name="class means",
            marker=dict(symbol="x-thin", size=16, color=colours, line=dict(width=3, color=colours)),
            text=[f"mean of {shown(lab)}" for lab in p.classes],
            hovertemplate="%{text}<extra></extra>",
        )
    )
    if star is not None:
        traces.append(
            trace(
                "scatter",
                x=[float(star[0])],
                y=[float(star[1])],
                mode="markers",
                name="this input",
                marker=dict(symbol="star", size=20, color=LIGHT, line=dict(color=DARK, width=2)),
                hovertemplate="the last input<extra></extra>",
            )
        )
    a, b = p.explained
    legend_height = _legend_height([t["name"] for t in traces])
    layout = dict(
        title=dict(text=shown(title) or "A head's vectors", x=0.01),
        height=340 + legend_height,
        margin={**_MARGIN, "b": _MARGIN["b"] + legend_height},
        xaxis=dict(title=dict(text=f"axis 1 ({a:.0%} of the spread)"), zeroline=False),
        yaxis=dict(title=dict(text=f"axis 2 ({b:.0%})"), zeroline=False),
        plot_bgcolor="white",
        legend=bottom_legend(legend_height),
    )
    # drawn on every classify while the head map is open: as JSON (plots.style.QuickFigure)
    return figure(traces, layout)


def _class_point_traces(p: HeadProjection, texts: Sequence[str]) -> list[dict]:
    """One scatter per class of the training examples' points (colour and shape per class)."""
    points, traces = p.points.tolist(), []
    for c, label in enumerate(p.classes):
        rows = [i for i, lab in enumerate(p.labels) if lab == label]
        traces.append(
            trace(
                "scatter",
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
    return traces


def _hover(label: str, text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return f"{label}: {text[:limit]}{'…' if len(text) > limit else ''}" if text else label


__all__ = ["head_heatmap", "classifier_heatmap", "k_curve_figure", "head_map_figure"]
