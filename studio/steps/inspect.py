"""Why these heads: pick a head (from the picker or a row of the top-heads table) to see where
it looked in the last input and how it does on each class; the auto k choice. These read what
Classify's own forward pass and Extract kept; two buttons run the model on demand: where the
head looks per class (`/class_attention`) and the model's own answer with heads switched off
(`/ablated_answer`)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from savs.errors import ClassifierError, DataError

from .. import lesson
from ..actions import Studio
from ..server import POOL, gpu, notice, progress_fn, user_errors
from ..session import NO_CLASSIFIER
from ..views import (
    attention_views,
    class_attention_views,
    curve_view,
    fit_views,
    head_map_view,
    head_picker,
    inspected_head,
    k_update,
    retally_views,
)
from ..wiring import CLICK_BOUND, MODEL_BOUND, Page
from . import figure_downloads, help_line


def _choose(studio: Studio, layer: int, head: int) -> None:
    """Open any head of the model, selected or not."""
    size = lesson.grid(studio)
    if size is None:
        raise ClassifierError(NO_CLASSIFIER)
    if not (0 <= layer < size[0] and 0 <= head < size[1]):
        raise DataError(
            f"layer {layer}, head {head} is not one of the selected heads, nor any head of "
            f"this model ({size[0]} layers x {size[1]} heads, counted from 0)."
        )
    studio.inspected = (layer, head)


def _head(choice: str | None) -> tuple[int, int]:
    try:
        layer, head = (int(x) for x in str(choice or "").split(","))
    except ValueError:
        raise DataError("pick a head, as 'layer,head'.") from None
    return layer, head


@user_errors
def inspect_head_cb(studio: Studio, choice: str | None) -> tuple:
    """The head picker ("layer,head", any head): open that head in the inspector."""
    _choose(studio, *_head(choice))
    return (studio, head_picker(studio), *attention_views(studio))


@user_errors
def any_head_cb(studio: Studio, choice: str | None) -> tuple:
    """The all-heads picker: open that head, and draw its vector map."""
    _choose(studio, *_head(choice))
    return (studio, head_picker(studio), *attention_views(studio), head_map_view(studio))


def heatmap_click_cb(studio: Studio, clicked: str | None) -> tuple:
    """A click on a heatmap cell ("layer,head,n": n counts the page's clicks): open that head."""
    if not clicked:  # the box's first value: nothing was clicked
        return tuple(gr.skip() for _ in range(7))
    return any_head_cb(studio, ",".join(str(clicked).split(",")[:2]))


@user_errors
def retally_cb(studio: Studio, ticked: list[str] | None) -> tuple:
    """The vote's head boxes: the last input's vote counted by the ticked heads only."""
    clf = studio.classifier
    if clf is None:
        raise ClassifierError(NO_CLASSIFIER)
    on = {_head(c) for c in ticked or []}
    studio.heads_off = tuple((h.layer, h.head) for h in clf.heads if (h.layer, h.head) not in on)
    return (studio, *retally_views(studio))


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


@gpu
def _class_attention_on_device(studio: Studio, head: tuple[int, int], progress: Any) -> Studio:
    with POOL.use(studio.classifier_model, notice(progress), work=False) as adapter:
        lesson.run_class_attention(studio, adapter, head, progress_fn(progress, "Reading"))
    return studio


@user_errors
def class_attention_cb(
    studio: Studio, choice: str | None = None, progress: Any = gr.Progress()
) -> tuple:
    """Where a head ("layer,head", any head; empty: the inspected one) looks, per class: the
    model runs once per (capped) training example. Opens that head in the inspector too."""
    studio.current_classifier()  # before the model is lent
    _choose(studio, *(_head(choice) if choice else inspected_head(studio)))
    studio = _class_attention_on_device(studio, studio.inspected, progress)
    return (studio, *class_attention_views(studio))


@gpu
def _ablation_on_device(studio: Studio, progress: Any) -> Studio:
    with POOL.use(studio.classifier_model, notice(progress), work=False) as adapter:
        lesson.run_ablation(studio, adapter)
    return studio


@user_errors
def ablated_answer_cb(studio: Studio, progress: Any = gr.Progress()) -> tuple:
    """The model's own answer to the last classified input, with the selected heads switched
    off inside it and with as many random heads off (another draw on each click)."""
    studio.current_classifier()
    last = studio.last_classification
    if last is None or last.example() is None:
        raise DataError("classify an input in this tab first: its answer is what is compared.")
    progress(0.1, desc="Scoring the labels three times")
    studio = _ablation_on_device(studio, progress)
    return (studio, *lesson.ablation_views(studio))


@user_errors
def auto_k_cb(studio: Studio, auto: bool) -> tuple:
    """The "auto" box beside k: the fewest heads within one point of the best on the k curve;
    unticked, k stays what auto chose. Refits at once when there are kept activations."""
    k = "auto" if auto else studio.shown_k
    if not studio.can_refit:
        studio.k = k  # nothing to refit: remember the choice for the next Extract
    else:
        studio.refit(k=k)
    return (studio, k_update(studio), curve_view(studio), *fit_views(studio))


# --- layout and events -----------------------------------------------------------------------


# gr.Plot has only a change event: in the browser, a click on a heatmap cell writes the head
# plotly was hovering ("layer,head") into a hidden box, whose input event opens that head. Bound
# once per page, on the document (the plot's own div is replaced when a figure is redrawn).
HEATMAP_CLICK_JS = """
() => {
  if (window.savsHeatmapClick) return;
  window.savsHeatmapClick = true;
  document.addEventListener("click", (event) => {
    const plot = event.target.closest && event.target.closest("#head-heatmap .js-plotly-plot");
    const point = plot && plot._hoverdata && plot._hoverdata[0];
    // a cell, or a selected head's mark drawn over it: both sit at (head, layer)
    if (!point || !Number.isInteger(point.x) || !Number.isInteger(point.y)) return;
    const box = document.querySelector("#heatmap-click textarea, #heatmap-click input");
    if (!box) return;
    // a new value on every click (the same cell twice too): the box's change event fires
    window.savsHeatmapClicks = (window.savsHeatmapClicks || 0) + 1;
    box.value = `${point.y},${point.x},${window.savsHeatmapClicks}`;
    box.dispatchEvent(new Event("input", { bubbles: true }));
  });
}
"""


def build(page: Page) -> None:
    """In the Classify tab: where the chosen head looked, the inspector for any head, its vector
    map and where it looks per class; the vote re-tallied without some heads; the model's own
    answer without them. A click on a top-heads row and the "auto" k box (both drawn by the
    train step) open heads / pick k."""
    _where_heads_looked(page)
    _vote_without_heads(page)
    _model_without_heads(page)
    page.public(
        page["auto"].input,
        auto_k_cb,
        [page.state, "auto"],
        [page.state, "k", "k_curve", "heatmap", "top_heads", "fit_line"],
        "auto_k",
    )


def _where_heads_looked(page: Page) -> None:
    """The inspector: a selected head (picker), any head (all-heads picker, a heatmap cell, a
    top-heads row), its attention on the last input, its numbers, vector map and per class."""
    state = page.state
    with gr.Accordion("Why: where the heads looked", open=True):
        # custom values: choices are redrawn per session, and the callback checks the head
        picker = gr.Dropdown(
            [],
            label="Head",
            elem_id="head-picker",
            allow_custom_value=True,
            info="a selected head; or click a row of 'Top heads'",
        )
        any_head = gr.Dropdown(
            [],
            label="Any head",
            elem_id="any-head",
            allow_custom_value=True,
            info="every head of the model, best score first: why was it kept, or not?",
        )
        overlay = gr.Image(
            label="Attention on the picture",
            type="pil",
            format="jpeg",  # sent after every classify: WebP took ~11 ms to encode, JPEG 0.3
            height=220,
            interactive=False,
            elem_id="attention-overlay",
        )
        tokens = gr.HighlightedText(
            label="Attention on the prompt's tokens",
            elem_id="attention-tokens",
            combine_adjacent=False,
        )
        help_line("attention")
        inspector = gr.Markdown(elem_id="head-inspector")
        help_line("inspector")
        per_class_head = gr.Dataframe(
            headers=["class", "training accuracy", "cosine (this input)", "vote"],
            label="This head, class by class",
            interactive=False,
            max_height=200,
            elem_id="head-classes",
        )
        head_map = gr.Plot(show_label=False, elem_id="head-map")
        help_line("head_map")
        figure_downloads(page, "head-map", "head-map")
        _per_class(page, any_head)
    clicked = gr.Textbox(visible="hidden", elem_id="heatmap-click", show_label=False)
    page.add(picker=picker, overlay=overlay, tokens=tokens, inspector=inspector)
    page.add(per_class_head=per_class_head, any_head=any_head, head_map=head_map)
    inspected = [state, picker, overlay, tokens, inspector, per_class_head]
    page.public(picker.input, inspect_head_cb, [state, picker], inspected, "inspect_head")
    page.private(any_head.input, any_head_cb, [state, any_head], [*inspected, head_map])
    page.private(clicked.change, heatmap_click_cb, [state, clicked], [*inspected, head_map])
    page.on(page["heatmap"].change, None, None, None, js=HEATMAP_CLICK_JS)
    page.private(page["top_heads"].select, select_head_cb, [state], [state])


def _per_class(page: Page, any_head: gr.Dropdown) -> None:
    """In the inspector: where the chosen head looks, averaged per class (the model runs once
    per capped training example, on demand)."""
    state = page.state
    button = gr.Button(
        "Where this head looks, per class", size="sm", elem_id="class-attention-button"
    )
    class_attention = gr.Plot(show_label=False, elem_id="class-attention")
    class_attention_line = gr.Markdown(elem_id="class-attention-line")
    help_line("class_attention")
    page.add(class_attention=class_attention, class_attention_line=class_attention_line)
    page.public(
        button.click,
        class_attention_cb,
        [state, any_head],
        [state, class_attention, class_attention_line],
        "class_attention",
        **MODEL_BOUND,
    )


def _vote_without_heads(page: Page) -> None:
    """Untick heads: the last vote re-tallied without them (no model run)."""
    state = page.state
    with gr.Accordion("Switch heads off in the vote", open=False):
        vote_heads = gr.CheckboxGroup([], label="Heads that vote", elem_id="vote-heads")
        retally = gr.Markdown(elem_id="retally-line")
        retally_bars = gr.Plot(show_label=False, elem_id="retally-bars")
        help_line("retally")
    page.add(vote_heads=vote_heads, retally=retally, retally_bars=retally_bars)
    # private: a CheckboxGroup checks its value against the choices this session's page was
    # sent, which a gradio_client caller never gets
    page.private(vote_heads.input, retally_cb, [state, vote_heads], [state, retally, retally_bars])


def _model_without_heads(page: Page) -> None:
    """The model's own answer to the last input with the selected heads (and random ones) off."""
    state = page.state
    with gr.Accordion("Switch heads off in the model", open=False):
        ablate_button = gr.Button(
            "The model's own answer without the selected heads", size="sm", elem_id="ablate-button"
        )
        ablation_line = gr.Markdown(elem_id="ablation-line")
        ablation_table = gr.Dataframe(
            headers=["label", "as is", "selected heads off", "random heads off"],
            label="The model's score for each label as its answer (◀: its answer)",
            interactive=False,
            max_height=220,
            elem_id="ablation-table",
        )
        help_line("ablation")
    page.add(ablation_table=ablation_table, ablation_line=ablation_line)
    page.public(
        ablate_button.click,
        ablated_answer_cb,
        [state],
        [state, ablation_table, ablation_line],
        "ablated_answer",
        **CLICK_BOUND,
    )
