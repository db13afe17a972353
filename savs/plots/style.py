"""What every figure shares: class colours and symbols, margins, the legend's geometry, the
unvalidated build (`FAST`), and the empty figure.

The figures every classify draws are built without plotly's per-property validation (`FAST`):
validating cost about 18 ms of a classify's 40 on this CPU, and the values are already in
plotly's canonical form (tests/unit/test_plots.py checks that validating them changes nothing).
Every figure sets its height: a zero-height autosize regression was reported for gr.Plot.

Every figure is made by `figure`, which gives it plotly's default look cut to what our figures
use (`look`): 2-D axes and heatmap, scatter and bar traces. The whole template (7.1 KB of JSON:
3-D, map, polar and 40 other trace types' defaults) was deep-copied into each new figure and
sent with it; the cut one is 2.4 KB. The vote bars went from 7.0 to 2.7 KB and 1.2 to 0.7 ms
(build and JSON), the head heatmap from 10.4 to 6.2 KB and 2.25 to 1.7 ms. The part kept draws
exactly the same (tests/unit/test_plots.py).
"""

from __future__ import annotations

import functools
import html
from collections.abc import Sequence
from typing import Any

try:
    import plotly.graph_objects as go
    import plotly.io as pio
except ImportError as exc:  # plotly is an extra: the method itself needs no figures
    raise ImportError(
        "savs.plots draws its figures with plotly, which `pip install savs` leaves out: "
        "pip install 'savs[plots]' (or 'savs[app]')."
    ) from exc

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
# what our figures draw: the trace types and, in a template's layout, the subplot kinds they
# never use (a template styles these for figures that have them)
TRACE_TYPES = ("bar", "heatmap", "scatter")
UNUSED_SUBPLOTS = ("geo", "polar", "scene", "ternary", "map", "mapbox", "smith")
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


def bottom_legend(height: int, **extra) -> dict:
    """A horizontal legend in the figure's bottom margin (below the axis title, measured from
    the bottom edge), `height` pixels tall: never over the title or the grid, never scrolled."""
    return dict(
        orientation="h",
        xref="container",
        x=0.01,
        xanchor="left",
        yref="container",
        y=0.0,
        yanchor="bottom",
        itemsizing="constant",
        maxheight=max(height, 1),
        **extra,
    )


@functools.lru_cache(maxsize=8)
def _look(name: str) -> go.layout.Template:
    full = pio.templates[name]
    layout = {k: v for k, v in full.layout.to_plotly_json().items() if k not in UNUSED_SUBPLOTS}
    data = {k: v for k, v in full.data.to_plotly_json().items() if k in TRACE_TYPES}
    return go.layout.Template(layout=layout, data=data)


def look() -> go.layout.Template | None:
    """plotly's default template (`plotly.io.templates.default`, "plotly" unless the user
    chose another) without what our figures never use; None when the default is not a
    registered name (no template, or a Template object): plotly then applies it as usual."""
    default = pio.templates.default
    if not isinstance(default, str) or default not in pio.templates:
        return None
    return _look(default)


def figure(data: Any = None, layout: dict | None = None, validate: bool = False) -> go.Figure:
    """A figure with the default look (`look`); built unvalidated (`FAST`) unless `validate`
    (the figures of rare actions, whose inputs plotly may still need to coerce)."""
    layout = dict(layout or {})
    template = look()
    if template is not None:
        layout.setdefault("template", template)
    return go.Figure(data, layout, **({} if validate else FAST))


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
    return figure(None, layout)


__all__ = [
    "CLASS_COLOURS",
    "CLASS_SYMBOLS",
    "DARK",
    "LIGHT",
    "LEGEND_WIDTH",
    "LEGEND_ROW_PX",
    "LEGEND_TITLE_PX",
    "FAST",
    "TRACE_TYPES",
    "UNUSED_SUBPLOTS",
    "VIRIDIS",
    "NAMED_COLOURS",
    "class_colour",
    "shown",
    "class_symbol",
    "empty_figure",
    "figure",
    "look",
    "bottom_legend",
]
