"""Evaluate a labeled test set: accuracy, per-class precision / recall, confusion, mistakes.
Uploaded test sets are read with the hosted limits and deleted after the call."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..actions import Studio
from ..server import POOL, discard_upload, gpu, notice, progress_fn, user_errors
from ..views import evaluation_views


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


def _ready(studio: Studio) -> None:
    if studio.classifier is None:
        raise gr.Error("No classifier yet: add examples and click 'Extract', or import one.")
    if studio.stale:
        raise gr.Error(studio.stale_message())


@user_errors
def evaluate_cb(
    studio: Studio, file: str | None, zero_shot: bool = False, progress: Any = gr.Progress()
) -> tuple:
    try:
        if not file:
            raise gr.Error("Upload a labeled test set (.jsonl or .zip) first.")
        _ready(studio)
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
    _ready(studio)
    studio = _evaluate_on_device(studio, str(path), zero_shot, False, progress)
    return (studio, *evaluation_views(studio))
