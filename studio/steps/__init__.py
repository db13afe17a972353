"""The page's steps, one module each (classes, train, classify, inspect, evaluate, share): each
holds its layout, its callbacks and its events (`build`), side by side; studio/app.py assembles
them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import gradio as gr

from .. import lesson

if TYPE_CHECKING:
    from ..wiring import Page

# The webcam widget's own button, in plain words (gradio's "Record" / "Stop" read as if they
# stored something): studio/app.py hands these to launch(i18n=...), which overrides gradio's labels.
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


def upload_box(label: str, file_types: list[str]) -> gr.File:
    """A file drop box with its label on a line above (gradio's own label badge sits over the
    box's "Drop File Here" text)."""
    gr.Markdown(f"**{label}**", elem_classes="box-label")
    return gr.File(file_types=file_types, label=label, show_label=False, height=110)


def download_box() -> gr.File:
    """Where an export's file appears to download: a slim box until it holds one (CSS)."""
    return gr.File(label="Download", show_label=False, interactive=False, elem_classes="file-out")


def help_line(key: str) -> None:
    """The one-line "what am I looking at" under a view (`lesson.HELP`)."""
    gr.Markdown(lesson.HELP[key], elem_classes=["hint"], elem_id=f"help-{key.replace('_', '-')}")


# A figure saved from the page: gr.Plot passes no plotly config, but plotly's own camera button
# reads its options when clicked, so the page sets the format and clicks it (client-side, vector
# SVG or a 2x PNG; no server work).
DOWNLOAD_JS = """
() => {
  const plot = document.querySelector("#%(elem)s .js-plotly-plot");
  const camera = plot && plot.querySelector('.modebar-btn[data-title^="Download plot"]');
  if (!camera) return;
  plot._context.toImageButtonOptions = {format: "%(fmt)s", filename: "%(name)s", scale: %(scale)d};
  camera.click();
}
"""


def figure_downloads(page: Page, elem_id: str, filename: str) -> None:
    """PNG and SVG buttons that save the figure of the gr.Plot `elem_id` (for slides)."""
    with gr.Row(elem_id=f"{elem_id}-downloads"):
        for fmt, scale in (("png", 2), ("svg", 1)):
            button = gr.Button(
                f"⬇ {fmt.upper()}", size="sm", min_width=60, elem_id=f"{elem_id}-{fmt}", scale=0
            )
            js = DOWNLOAD_JS % dict(elem=elem_id, fmt=fmt, name=filename, scale=scale)
            page.on(button.click, None, None, None, js=js)
