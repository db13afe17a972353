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

Those figures are also kept as plotly's JSON (`QuickFigure`, traces made by `trace`), not as
plotly objects: a go.Figure deep-copies every trace and the layout, template included, and sets
each property through plotly's machinery, even unvalidated. Built and written, the head heatmap
took 3.4-3.6 ms, the head map 2.2, the vote bars 1.3-1.6, the empty figure 0.6-0.7; as JSON
0.24-0.30, 0.19-0.31, 0.03 and 0.01 ms (7 Dec 2026, benchmarks-style loop, same machine), the
same JSON (tests/unit/test_plots.py). In the app a classify drew ~8 ms of figures. Anything
else asked of a QuickFigure is answered by the go.Figure built from the same dicts.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Sequence
from typing import Any

import numpy as np

try:
    import plotly.graph_objects as go
    import plotly.io as pio
    from _plotly_utils.utils import to_typed_array_spec
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


def trace(kind: str, **props: Any) -> dict:
    """A trace as plotly's JSON holds it, e.g. trace("scatter", x=..., y=...): what
    go.Scatter(x=..., y=..., **FAST) holds, without building it. Values must already be in
    plotly's canonical form (tests/unit/test_plots.py validates every figure's)."""
    return {"type": kind, **props}


class QuickFigure:
    """A figure kept as plotly's JSON: traces (dicts) and a layout, unvalidated like FAST.

    `to_json()` (what gr.Plot sends) writes them as they are: the same JSON a go.Figure of
    them writes (tests/unit/test_plots.py), without building one. It is not a go.Figure
    (isinstance says so): anything else (fig.data, fig.update_layout, fig.write_html ...)
    goes to `.figure`, the go.Figure of the same dicts, built on first use; from then on it is
    the figure, its JSON included."""

    def __init__(self, data: Sequence[Any], layout: dict, look_name: str) -> None:
        # go objects given as traces are written as the JSON they hold
        self._data = [t if isinstance(t, dict) else t.to_plotly_json() for t in data]
        self._layout, self._look_name = layout, look_name  # the look: `_look(look_name)`
        self._figure: go.Figure | None = None

    @property
    def figure(self) -> go.Figure:
        """The go.Figure of the same traces and layout (built once)."""
        if self._figure is None:
            layout = {**self._layout, "template": _look(self._look_name)}
            self._figure = go.Figure(self._data, layout, **FAST)
        return self._figure

    def to_json(self, *args: Any, **kwargs: Any) -> str:
        if self._figure is not None or args or kwargs:
            return self.figure.to_json(*args, **kwargs)
        spec = {
            "data": [_typed_arrays(t) for t in self._data],
            "layout": {**self._layout, "template": _look_json(self._look_name)},
        }
        return pio.to_json(spec, validate=False)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_data", "_layout", "_look_name", "_figure"):
            raise AttributeError(name)  # (copy and pickle probe these before __init__)
        return getattr(self.figure, name)

    def __repr__(self) -> str:
        return f"QuickFigure({self.figure!r})"


# what savs.plots returns: a QuickFigure for the figures every classify draws, else a go.Figure
Figure = QuickFigure | go.Figure


def _typed_arrays(trace: dict) -> dict:
    """A trace's copy whose numpy arrays (a heatmap's z) are plotly's typed arrays, as a
    go.Figure writes them (so the JSON is the same). A copy: plotly's JSON writer also pops a
    trace's "uid" in place."""
    return {k: to_typed_array_spec(v) if isinstance(v, np.ndarray) else v for k, v in trace.items()}


@functools.lru_cache(maxsize=8)
def _look_json(name: str) -> dict:
    """The JSON of `_look(name)`, made once (shared: plotly's JSON writer does not change it)."""
    return _look(name).to_plotly_json()


def figure(data: Any = None, layout: dict | None = None, validate: bool = False) -> Figure:
    """A figure with the default look (`look`). Unless `validate` (the figures of rare actions,
    whose inputs plotly may still need to coerce), a QuickFigure of `data` (traces: `trace`
    dicts, or go objects) when the look is a template of ours, else a go.Figure built
    unvalidated (`FAST`)."""
    layout = dict(layout or {})
    template = look()
    if validate or template is None or "template" in layout:
        if template is not None:
            layout.setdefault("template", template)
        return go.Figure(data, layout, **({} if validate else FAST))
    traces = [] if data is None else [data] if not isinstance(data, (list, tuple)) else data
    return QuickFigure(traces, layout, pio.templates.default)


def empty_figure(message: str, height: int = 320) -> Figure:
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
    "Figure",
    "QuickFigure",
    "trace",
    "look",
    "bottom_legend",
]
