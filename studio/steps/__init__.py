"""The page's steps, one module each (classes, train, classify, inspect, evaluate, share): each
holds its layout, its callbacks and its events (`build`), side by side; app.py assembles them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import gradio as gr

# The webcam widget's own button, in plain words (gradio's "Record" / "Stop" read as if they
# stored something): app.py hands these to launch(i18n=...), which overrides gradio's labels.
START_CAMERA, STOP_CAMERA = "Start camera", "Stop camera"
CAMERA_LABELS = {"audio.record": START_CAMERA, "audio.stop": STOP_CAMERA}

INFO_SECONDS = 4  # an info toast's life: long enough to read, short enough not to cover the page


@contextmanager
def step(title: str, hint: str, elem_id: str) -> Iterator[None]:
    """A step of the page: a section with its title, which a phone shows one at a time (the
    page script closes the others when one is opened), and the paragraph that says what to do."""
    with gr.Accordion(title, open=True, elem_id=elem_id, elem_classes="step"):
        gr.Markdown(hint, elem_classes="hint")
        yield


def info(message: str) -> None:
    """A toast that says what an action did (it goes by itself after INFO_SECONDS)."""
    gr.Info(message, duration=INFO_SECONDS)
