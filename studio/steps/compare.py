"""Compare tasks (under the fit): keep the session's classifier by name, up to four, and see
their selected heads on one grid with the heads each pair shares. No model runs here: the kept
classifiers' heads are all it reads (`studio.comparing`)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from savs.limits import MAX_KEPT_CLASSIFIERS
from savs.markup import plain

from ..actions import Studio
from ..server import user_errors
from ..views import REMOVE, REMOVE_BUTTONS, compare_views
from ..wiring import Page
from . import help_line

KEPT = ("compare_line", "tasks_overlay", "overlap_table")


@user_errors
def keep_classifier_cb(studio: Studio, name: str | None) -> tuple:
    """Keep the session's classifier under `name` (empty: the loaded task's name)."""
    gr.Info(plain(studio.keep_classifier(name or "")))
    return (studio, *compare_views(studio)[: len(KEPT)])


@user_errors
def remove_kept_cb(studio: Studio, name: str | None) -> tuple:
    """Remove a kept classifier: by name, or by a remove button's label ("Remove colour")."""
    name = str(name or "")
    studio.remove_kept(name[len(REMOVE) :] if name.startswith(REMOVE) else name)
    return (studio, *compare_views(studio)[: len(KEPT)])


def build(page: Page) -> None:
    """The "Compare tasks" accordion: name box, keep button, overlay, overlap table, removes."""
    state = page.state
    with gr.Accordion("Compare tasks", open=False, elem_id="compare-tasks"):
        with gr.Row():
            name = gr.Textbox(
                label="Name",
                placeholder="the task's name",
                max_lines=1,
                scale=3,
                elem_id="keep-name",
            )
            keep = gr.Button("Keep for comparison", scale=2, elem_id="keep-classifier")
        line = gr.Markdown(elem_id="compare-line")
        overlay = gr.Plot(show_label=False, elem_id="tasks-overlay")
        table = gr.Dataframe(
            headers=["task", "task", "shared heads", "jaccard", "which heads"],
            label="Heads each pair shares",
            interactive=False,
            max_height=200,
            elem_id="overlap-table",
        )
        help_line("compare")
        with gr.Row():
            removes = [
                gr.Button(REMOVE, visible=False, size="sm", elem_id=f"remove-kept-{i}")
                for i in range(MAX_KEPT_CLASSIFIERS)
            ]
    page.add(compare_line=line, tasks_overlay=overlay, overlap_table=table)
    page.add(**dict(zip(REMOVE_BUTTONS, removes)))
    shown: list[Any] = [state, line, overlay, table]
    page.public(keep.click, keep_classifier_cb, [state, name], shown, "keep_classifier")
    page.private(name.submit, keep_classifier_cb, [state, name], shown)
    # a button's value is its label: the first one's click is the API's /remove_kept (a name)
    first, *others = removes
    page.public(first.click, remove_kept_cb, [state, first], shown, "remove_kept")
    for button in others:
        page.private(button.click, remove_kept_cb, [state, button], shown)
