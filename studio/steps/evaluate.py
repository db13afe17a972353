"""Evaluate a labeled test set: accuracy, per-class precision / recall, confusion, mistakes.
Uploaded test sets are read with the hosted limits and deleted after the call."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..actions import Studio
from ..server import POOL, discard_upload, gpu, notice, progress_fn, user_errors
from ..views import evaluation_views
from ..wiring import MODEL_BOUND, Page
from . import upload_box


@gpu
def _evaluate_on_device(
    studio: Studio, path: str, zero_shot: bool, confine: bool, progress: Any
) -> Studio:
    with POOL.use(studio.classifier_model, notice(progress), work=False) as adapter:
        # the one "compare" box: zero-shot, and the baselines on the same test activations
        studio.evaluate(
            adapter,
            path,
            progress_fn(progress, "Classifying"),
            zero_shot=zero_shot,
            confine=confine,
            baselines=zero_shot,
        )
    return studio


@user_errors
def evaluate_cb(
    studio: Studio, file: str | None, zero_shot: bool = False, progress: Any = gr.Progress()
) -> tuple:
    try:
        if not file:
            raise gr.Error("Upload a labeled test set (.jsonl or .zip) first.")
        studio.current_classifier()  # before the upload is read
        studio = _evaluate_on_device(studio, file, zero_shot, True, progress)
    finally:
        discard_upload(file)
    return (studio, *evaluation_views(studio))


@user_errors
def evaluate_task_cb(
    studio: Studio, zero_shot: bool = False, progress: Any = gr.Progress()
) -> tuple:
    path = studio.task_test_set()
    if path is None:
        raise gr.Error("Load a bundled example task first: its test set is evaluated here.")
    studio.current_classifier()  # before the model is lent
    studio = _evaluate_on_device(studio, str(path), zero_shot, False, progress)
    return (studio, *evaluation_views(studio))


# --- layout and events -----------------------------------------------------------------------


def build(page: Page) -> None:
    """The Evaluate tab: a labeled test set (uploaded, or the example task's), optionally
    against the baselines."""
    state = page.state
    test_in = upload_box(
        "Labeled test set (.jsonl, .zip of JSONL + images, or one folder per class)",
        [".jsonl", ".zip"],
    )
    with gr.Row():
        evaluate = gr.Button("Evaluate upload", variant="primary", size="sm")
        evaluate_task = gr.Button("Evaluate example task", size="sm")
    zero_shot = gr.Checkbox(
        label="Compare with baselines (slower)",
        elem_id="compare-baselines",
        info="zero-shot (the model answering with a label itself); all heads voting, "
        "nearest class mean, 1-nearest neighbour and a linear probe on the "
        "selected heads' activations",
    )
    eval_line = gr.Markdown(elem_id="eval-line")
    per_class = gr.Dataframe(
        headers=["class", "precision", "recall", "support"],
        label="Per class",
        interactive=False,
        max_height=200,
    )
    baselines = gr.Dataframe(
        headers=["method", "accuracy"], label="Baselines", interactive=False, elem_id="baselines"
    )
    confusion = gr.Plot(show_label=False)
    mistakes = gr.Gallery(
        label="Mistakes", columns=4, height="auto", object_fit="contain", interactive=False
    )
    page.add(eval_line=eval_line, per_class=per_class, baselines=baselines)
    page.add(confusion=confusion, mistakes=mistakes)
    evaluated = [state, eval_line, per_class, confusion, mistakes]
    page.public(
        evaluate.click,
        evaluate_cb,
        [state, test_in, zero_shot],
        evaluated,
        "evaluate",
        **MODEL_BOUND,
    )
    page.public(
        evaluate_task.click,
        evaluate_task_cb,
        [state, zero_shot],
        evaluated,
        "evaluate_task",
        **MODEL_BOUND,
    )
