"""A first visit that just works (issue 22): "Try an example" loads the bundled colour task and
extracts it in one click, and the Classify tab offers the loaded task's test inputs as
thumbnails to click (one fills the classify inputs). Why its own module: both halves serve one
purpose, and the steps they sit in (classes, classify) stay about their own work."""

from __future__ import annotations

from typing import Any

import gradio as gr

from savs import plots
from savs.markup import plain

from ..actions import Studio, list_example_tasks
from ..server import user_errors
from ..session import stored_image
from ..wiring import FIT, MODEL_BOUND, PRIVATE, Page
from . import info
from .train import extract_cb

EXAMPLE_TASK = "colour"  # the bundled task "Try an example" loads (else the first one there is)
TILE = 96  # px of one test-input thumbnail


def example_task() -> str | None:
    """The task "Try an example" loads: the colour task where it is bundled, else the first."""
    tasks = list_example_tasks()
    return EXAMPLE_TASK if EXAMPLE_TASK in tasks else next(iter(tasks), None)


def loaded_message(studio: Studio, task: str, n: int) -> str:
    """The toast after a task is loaded: what came in, and what it replaced (Undo)."""
    replaced = studio.replaced_notice()
    return f"Loaded example task '{plain(task)}': {n} examples." + (
        f" {replaced}" if replaced else ""
    )


@user_errors
def try_example_cb(studio: Studio, progress: Any = gr.Progress()) -> tuple:
    """Load the example task and extract it: what /load_example_task then /extract do."""
    task = example_task()
    if task is None:
        raise gr.Error("This server has no example tasks.")
    n = studio.load_example_task(task)
    message = loaded_message(studio, task, n)
    studio, *fitted, summary = extract_cb(
        studio, studio.prompt, studio.shown_k, studio.scoring, progress
    )
    info(f"{message} Extracted: now classify one of its test pictures.")
    return (studio, studio.prompt, summary, *fitted)


def try_button(page: Page) -> None:
    """The first thing on the page for a new visitor (shown when there is an example task)."""
    button = gr.Button(
        "Try an example", variant="primary", visible=example_task() is not None, elem_id="try"
    )
    page.public(
        button.click,
        try_example_cb,
        [page.state],
        [page.state, "prompt", "summary", *FIT],
        "try_example",
        **MODEL_BOUND,
    )


# --- the Classify tab's test inputs -----------------------------------------------------------


def test_gallery_view(studio: Studio) -> Any:
    """The loaded task's test inputs as thumbnails captioned with their true label (hidden
    without a task): drawn when the task changes, not on every redraw."""
    shown = [
        (plots.example_tile([stored_image(im) for im in ex.images], ex.text, TILE), ex.label)
        for ex in studio.task_test_inputs()
    ]
    return gr.update(value=shown, visible=bool(shown))


def pick_test_input_cb(studio: Studio, evt: gr.SelectData) -> tuple:
    """A clicked test input fills the classify inputs: its picture (a copy: classify deletes
    the file it is given) and its own text."""
    inputs = studio.task_test_inputs()
    if not 0 <= evt.index < len(inputs):  # the task changed since the gallery was drawn
        return gr.skip(), gr.skip()
    ex = inputs[evt.index]
    return (stored_image(ex.images[0]) if ex.images else None), ex.text


def test_gallery(page: Page) -> None:
    """Below the classify button: the task's test inputs, refreshed when the task changes."""
    task_key = gr.Textbox(visible=False, elem_id="task-key")
    gallery = gr.Gallery(
        label="The example task's test inputs: click one, then Classify",
        columns=6,
        height=180,
        allow_preview=False,
        object_fit="contain",
        visible=False,
        buttons=[],
        elem_id="test-inputs",
    )
    page.add(task_key=task_key)
    page.on(task_key.change, test_gallery_view, [page.state], [gallery], **PRIVATE)
    page.on(gallery.select, pick_test_input_cb, [page.state], ["image", "text"], **PRIVATE)
