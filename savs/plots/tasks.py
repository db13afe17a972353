"""Several tasks' selected heads on one layer x head grid: does colour live where shape lives?

Each classifier keeps its own corner of every cell (up to four, one per corner), colour and
marker shape, so a cell two tasks share shows both marks side by side instead of one hiding
the other; the cell's grey says how many tasks kept it, and a ring marks the shared ones.
The numbers behind it (shared heads, Jaccard) are `savs.overlap.head_overlap`'s.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..classifier import SAVClassifier
from ..errors import ClassifierError
from ..overlap import one_grid
from .heads import _marker_size
from .style import (
    _MARGIN,
    CLASS_COLOURS,
    CLASS_SYMBOLS,
    DARK,
    _legend_height,
    bottom_legend,
    figure,
    go,
    shown,
)

# each classifier's corner of a cell, as (dx, dy) in cell units: top-left, top-right, ...
CORNERS = ((-0.22, -0.22), (0.22, -0.22), (-0.22, 0.22), (0.22, 0.22))
MAX_OVERLAID = len(CORNERS)
# cell shades for 0 .. 4 tasks keeping a head: white, then ever darker greys
_GREYS = ["#FFFFFF", "#E4E4E4", "#C4C4C4", "#A0A0A0", "#7C7C7C"]
_INSET = 0.46  # a shared cell's outline, in cell units from its centre (cells are 1 x 1)


def tasks_figure(
    classifiers: Mapping[str, SAVClassifier], title: str = "Heads each task keeps"
) -> go.Figure:
    """One layer x head grid with every classifier's selected heads (1 to 4 classifiers of one
    model grid): a colour, a marker and a corner of the cell per classifier; the cell's grey
    counts the tasks that keep it, and heads kept by two or more are ringed. Hover: which
    tasks keep the head, and its rank in each."""
    if not 1 <= len(classifiers) <= MAX_OVERLAID:
        raise ClassifierError(
            f"one figure overlays 1 to {MAX_OVERLAID} classifiers, got {len(classifiers)}"
        )
    num_layers, num_heads = _grid(classifiers)
    keepers: dict[tuple[int, int], list[str]] = {}
    for name, clf in classifiers.items():
        for rank, h in enumerate(clf.heads, 1):
            keepers.setdefault((h.layer, h.head), []).append(f"{shown(name)} (rank {rank})")
    size = _marker_size(num_layers, num_heads) * 0.55
    traces = [_count_cells(keepers, num_layers, num_heads)]
    traces += [
        _task_marks(i, name, clf, size, keepers)
        for i, (name, clf) in enumerate(classifiers.items())
    ]
    shared = [cell for cell, names in keepers.items() if len(names) > 1]
    if shared:
        traces.append(_shared_rings(shared))
    names = [t.name for t in traces[1:]]
    legend_height = _legend_height(names)
    layout = dict(
        title=dict(text=shown(title), x=0.01),
        height=int(min(720, max(320, 120 + 40 * num_layers))) + legend_height,
        margin={**_MARGIN, "b": _MARGIN["b"] + legend_height},
        xaxis=dict(
            title=dict(text="head"),
            dtick=max(1, num_heads // 16),
            constrain="domain",
            range=[-0.5, num_heads - 0.5],
            showgrid=False,
        ),
        yaxis=dict(
            title=dict(text="layer"),
            dtick=max(1, num_layers // 16),
            range=[num_layers - 0.5, -0.5],
            showgrid=False,
        ),
        legend=bottom_legend(legend_height, bgcolor="white"),
        plot_bgcolor="white",
    )
    return figure(traces, layout, validate=True)


def overlap_rows(overlap: dict) -> list[list]:
    """The overlap table: [task, task, shared heads, jaccard, which heads] per pair of
    `head_overlap(...)`'s result ("L4 H2" for layer 4, head 2)."""
    return [
        [
            p["a"],
            p["b"],
            len(p["shared"]),
            round(p["jaccard"], 3),
            ", ".join(f"L{layer} H{head}" for layer, head in p["shared"]),
        ]
        for p in overlap["pairs"]
    ]


def _grid(classifiers: Mapping[str, SAVClassifier]) -> tuple[int, int]:
    """The one grid they read (refused when they differ); the head scores' shape when the
    config does not say (a classifier fitted on bare activations)."""
    layers, heads = one_grid(classifiers)
    if layers and heads:
        return layers, heads
    first = next(iter(classifiers.values()))
    return int(first.head_scores.shape[0]), int(first.head_scores.shape[1])


def _count_cells(
    keepers: dict[tuple[int, int], list[str]], num_layers: int, num_heads: int
) -> go.Heatmap:
    """Every cell's grey: how many tasks keep that head (hover lists them)."""
    count = [[0] * num_heads for _ in range(num_layers)]
    text = [["kept by no task"] * num_heads for _ in range(num_layers)]
    for (layer, head), names in keepers.items():
        count[layer][head] = len(names)
        text[layer][head] = "kept by " + ", ".join(names)
    top = MAX_OVERLAID
    return go.Heatmap(
        z=count,
        x=list(range(num_heads)),
        y=list(range(num_layers)),
        zmin=0,
        zmax=top,
        colorscale=[[i / top, grey] for i, grey in enumerate(_GREYS)],
        showscale=False,
        xgap=1,
        ygap=1,
        text=text,
        hovertemplate="layer %{y}, head %{x}<br>%{text}<extra></extra>",
    )


def _task_marks(
    i: int,
    name: str,
    clf: SAVClassifier,
    size: float,
    keepers: dict[tuple[int, int], list[str]],
) -> go.Scatter:
    """One classifier's selected heads, in its own corner of each cell."""
    dx, dy = CORNERS[i]
    return go.Scatter(
        x=[h.head + dx for h in clf.heads],
        y=[h.layer + dy for h in clf.heads],
        mode="markers",
        name=f"{shown(name)} ({clf.k})",
        marker=dict(
            symbol=CLASS_SYMBOLS[i],
            size=size,
            color=CLASS_COLOURS[i],
            line=dict(width=1.2, color=DARK),
        ),
        customdata=[[h.layer, h.head, ", ".join(keepers[(h.layer, h.head)])] for h in clf.heads],
        hovertemplate="layer %{customdata[0]}, head %{customdata[1]}"
        "<br>kept by %{customdata[2]}<extra></extra>",
    )


def _shared_rings(cells: list[tuple[int, int]]) -> go.Scatter:
    """A black outline just inside every cell two or more tasks keep (one line trace, the
    cells' squares separated by gaps), sized to the cell whatever the plot's width."""
    x: list[float | None] = []
    y: list[float | None] = []
    for layer, head in cells:
        left, right, top, bottom = head - _INSET, head + _INSET, layer - _INSET, layer + _INSET
        x += [left, right, right, left, left, None]
        y += [top, top, bottom, bottom, top, None]
    return go.Scatter(
        x=x,
        y=y,
        mode="lines",
        name="kept by 2 or more",
        line=dict(color=DARK, width=2),
        hoverinfo="skip",
    )


__all__ = ["tasks_figure", "overlap_rows", "MAX_OVERLAID", "CORNERS"]
