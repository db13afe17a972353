"""Why these heads: pick a head (from the picker or a row of the top-heads table) to see where
it looked in the last input and how it does on each class; the auto k choice. No model runs
here: the explanations come from Classify's own forward pass, the rest from kept activations."""

from __future__ import annotations

import gradio as gr

from savs.errors import DataError

from ..actions import Studio
from ..server import user_errors
from ..views import attention_views, curve_view, fit_views, head_picker, k_update


def _choose(studio: Studio, layer: int, head: int) -> None:
    clf = studio.classifier
    if clf is None:
        raise DataError("no classifier yet: click 'Extract' first.")
    if (layer, head) not in [(h.layer, h.head) for h in clf.heads]:
        raise DataError(f"layer {layer}, head {head} is not one of the selected heads.")
    studio.inspected = (layer, head)


@user_errors
def inspect_head_cb(studio: Studio, choice: str | None) -> tuple:
    """The head picker ("layer,head"): open that head in the inspector."""
    try:
        layer, head = (int(x) for x in str(choice or "").split(","))
    except ValueError:
        raise DataError("pick one of the selected heads, as 'layer,head'.") from None
    _choose(studio, layer, head)
    return (studio, head_picker(studio), *attention_views(studio))


@user_errors
def select_head_cb(studio: Studio, evt: gr.SelectData) -> Studio:
    """A click on a row of the top-heads table ([rank, layer, head, score]) opens that head."""
    row = evt.row_value if getattr(evt, "row_value", None) else None
    if row is None and studio.classifier is not None:  # older gradio: the row's index
        h = studio.classifier.heads[int(evt.index[0])]
        row = [0, h.layer, h.head]
    if row is not None:
        _choose(studio, int(row[1]), int(row[2]))
    return studio


@user_errors
def auto_k_cb(studio: Studio, auto: bool) -> tuple:
    """The "auto" box beside k: the fewest heads within one point of the best on the k curve;
    unticked, k stays what auto chose. Refits at once when there are kept activations."""
    k = "auto" if auto else studio.shown_k
    if studio.activations is None or studio.classifier is None or studio.stale:
        studio.k = k  # nothing to refit: remember the choice for the next Extract
    else:
        studio.refit(k=k)
    return (studio, k_update(studio), curve_view(studio), *fit_views(studio))
