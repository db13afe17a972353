"""Plotly figures for the app: which heads do the work, how a prediction was voted, where an
evaluation goes wrong. Plain functions of tensors and dicts (no gradio), so they are testable.

Every figure sets its height: a zero-height autosize regression was reported for gr.Plot.
The figures every classify draws (head heatmap, head map, vote bars, the empty figure) are
kept as plotly's JSON without plotly's per-property validation (`style.QuickFigure`):
validating cost about 18 ms of a classify's 40 on this CPU, and building the plotly objects
unvalidated still 1-4 ms a figure. The values are already in plotly's canonical form
(tests/unit/test_plots.py checks that validating them changes nothing).
"""

from __future__ import annotations

from .attention import (
    HEAT_SCALE,
    attention_highlights,
    attention_overlay,
    class_attention_figure,
    patch_weights,
)
from .heads import classifier_heatmap, head_heatmap, head_map_figure, k_curve_figure
from .results import confusion_heatmap, contact_sheet, example_tile, probability_bars
from .style import (
    CLASS_COLOURS,
    CLASS_SYMBOLS,
    DARK,
    FAST,
    LEGEND_ROW_PX,
    LEGEND_TITLE_PX,
    LEGEND_WIDTH,
    LIGHT,
    NAMED_COLOURS,
    VIRIDIS,
    class_colour,
    class_symbol,
    empty_figure,
    shown,
)
from .tasks import overlap_rows, tasks_figure

__all__ = [
    "contact_sheet",
    "example_tile",
    "head_heatmap",
    "classifier_heatmap",
    "k_curve_figure",
    "head_map_figure",
    "tasks_figure",
    "overlap_rows",
    "probability_bars",
    "confusion_heatmap",
    "empty_figure",
    "class_colour",
    "class_symbol",
    "shown",
    "CLASS_COLOURS",
    "CLASS_SYMBOLS",
    "NAMED_COLOURS",
    "FAST",
    "VIRIDIS",
    "DARK",
    "LIGHT",
    "LEGEND_WIDTH",
    "LEGEND_ROW_PX",
    "LEGEND_TITLE_PX",
    "patch_weights",
    "attention_overlay",
    "attention_highlights",
    "class_attention_figure",
    "HEAT_SCALE",
]
