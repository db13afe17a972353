"""A Gradio Space that classifies with one SAVs classifier (written by `python -m savs
export-space`; the same file for every export, what differs is in space.json).

Everything it runs is in this folder: the classifier, a copy of the `savs` library (found first:
Python puts this script's folder first on its path), the app's guards against gradio's own
memory and queue (studio/: gradio_state, upload_progress, queue_caps, allocator; the same
files SAVs Studio runs) and, for the bundled `tiny` model, its weights (savs/assets/tiny).
The model loads once, at start, cut after the classifier's deepest selected layer. Visitors
classify an image and/or a text, from a file or the live webcam, within the hosted limits
(savs.limits); they cannot load another model or import data.

API: `/classify` (image file or None, text) -> (label with each class's vote share, vote bars).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import gradio as gr
from starlette.middleware import Middleware

import savs
from savs import plots
from savs.closed_routes import ClosedRoutes
from savs.data import Example, clean_text
from savs.errors import SavsError
from savs.images import open_image, unopened_image
from savs.limits import (
    HOSTED_FILE_SIZE,
    HOSTED_TEXT_CHARS,
    LIVE_STREAMS,
    LIVE_STREAMS_WAITING,
    LIVE_TIME_LIMIT_S,
)
from savs.markup import hide_paths, md
from savs.pipeline import recorded_image_tokens
from savs.upload_guard import UploadGuard
from studio.allocator import MemoryKeeper, settle_allocator
from studio.gradio_state import PageStateBlocks
from studio.queue_caps import TOO_MANY_WEBCAMS, cap_waiting
from studio.upload_progress import tidy_upload_progress

HERE = Path(__file__).resolve().parent
SETTINGS = json.loads((HERE / "space.json").read_text(encoding="utf-8"))
CLASSIFIER = savs.SAVClassifier.load(HERE / SETTINGS["classifier"], require_model=True)
LAYERS = CLASSIFIER.deepest_layer + 1
START = time.perf_counter()
# the image resolution the classifier was fitted with: its heads read those image tokens
MODEL = savs.load_model(
    CLASSIFIER.config.model,
    layers=LAYERS,
    local_folders=False,
    max_image_tokens=recorded_image_tokens(CLASSIFIER),
)
LOAD_S = time.perf_counter() - START
# one visitor's input at a time is decoded and run: the model is shared by every visitor, and
# a picture at the pixel limit decodes to ~120 MB (sixteen webcams at once had reached +3 GB)
LOCK = threading.Lock()
LIVE_EVERY_S = 0.25
# webcam frames and other images sent as data URLs, written here undecoded and deleted after
# their call (gradio's cache sweep knows only the files it stored itself)
FRAMES = Path(tempfile.mkdtemp(prefix="savs-frames-"))
atexit.register(shutil.rmtree, FRAMES, True)


def visitor_image(**kwargs: Any) -> gr.Image:
    """An image input whose callback gets the file unopened (savs.images.unopened_image), so
    savs.images checks format and pixels from the header before anything decodes it."""
    box = gr.Image(**kwargs, type="filepath", image_mode=None)
    box.preprocess = lambda payload: unopened_image(payload, FRAMES)
    return box


@contextlib.contextmanager
def one_input(image: str | None) -> Any:
    """The model's turn for one visitor's input; a file made from a data URL is deleted after
    it (an upload stays: gradio stores uploads by content, shared by visitors, and sweeps
    them)."""
    try:
        with LOCK:
            yield
    finally:
        if image and Path(image).parent == FRAMES:
            with contextlib.suppress(OSError):
                os.unlink(image)


def visitor_example(image: Any, text: str | None) -> Example:
    """The visitor's input as an Example, within the hosted limits (text length; image format,
    pixels and size are checked from the header by savs.images), or a gr.Error saying why."""
    try:
        text = clean_text(text, "the text", HOSTED_TEXT_CHARS)
        if image is None and not text:
            raise SavsError("nothing to classify: give an image and/or a text.")
        if image is not None and not MODEL.is_vlm:
            raise SavsError(f"{CLASSIFIER.config.model} reads text only.")
        images = (open_image(image, "the image"),) if image is not None else ()
    except SavsError as exc:
        raise gr.Error(hide_paths(str(exc))) from None
    return Example(text=text, images=images, source="input")


def shares(prediction: savs.Prediction) -> dict[str, float]:
    return {label: prediction.probabilities[label] for label in CLASSIFIER.labels}


def classify(image: str | None, text: str | None) -> tuple:
    """/classify: the label (each class's vote share) and the vote bars."""
    with one_input(image):
        [prediction] = savs.predict(MODEL, CLASSIFIER, [visitor_example(image, text)])
    return shares(prediction), plots.probability_bars(prediction, CLASSIFIER.labels)


def classify_page(image: str | None, text: str | None) -> tuple:
    """The page's Classify: the same label and bars, and from the same forward pass where
    the best-ranked head that voted for the winner looked (a heat overlay on the picture, the
    text tokens it weighed)."""
    with one_input(image):
        example = visitor_example(image, text)
        try:
            prediction, why = savs.explain_prediction(MODEL, CLASSIFIER, example)
        except savs.ModelError:  # attention not readable here: classify all the same
            [prediction], why = savs.predict(MODEL, CLASSIFIER, [example]), []
    bars = plots.probability_bars(prediction, CLASSIFIER.labels)
    if not why:
        return shares(prediction), bars, None, None
    head = next((e for e in why if e.vote == prediction.label), why[0])
    overlay = None
    if example.images:
        try:
            overlay = plots.attention_overlay(example.images[0], head)
        except Exception:  # noqa: BLE001 - no patch grid for this architecture: tokens only
            overlay = None
    return shares(prediction), bars, overlay, plots.attention_highlights(head)


def classify_frame(frame: str | None, text: str | None) -> tuple:
    """One webcam frame (a file of its bytes, deleted after the call): label and vote bars
    only (cheap enough for several a second)."""
    if frame is None:
        return gr.skip(), gr.skip()
    with one_input(frame):
        [prediction] = savs.predict(MODEL, CLASSIFIER, [visitor_example(frame, text)])
    return shares(prediction), plots.probability_bars(prediction, CLASSIFIER.labels)


def header() -> str:
    model = CLASSIFIER.config.model
    labels = ", ".join(md(label, 60) for label in CLASSIFIER.labels[:50])
    return (
        f"# {md(SETTINGS['title'])}\n\n"
        f"Classifies into **{len(CLASSIFIER.labels)} classes** ({labels}) by the vote of "
        f"{CLASSIFIER.k} attention heads of `{md(model)}` "
        "([SAVs](https://arxiv.org/abs/2412.00142)). The model runs with its first "
        f"{MODEL.num_layers} of {MODEL.full_layers} decoder layers: the classifier reads none "
        f"deeper. API: `/classify` (image or None, text) → label, vote bars."
    )


def build() -> gr.Blocks:
    # sessions keep no copy of the page's config, where gradio stored every input first
    with PageStateBlocks(title=SETTINGS["title"], delete_cache=(600, 600)) as demo:
        gr.Markdown(header())
        with gr.Row():
            with gr.Column():
                image = visitor_image(
                    sources=["upload", "clipboard"],
                    label="Image",
                    visible=MODEL.is_vlm,
                )
                text = gr.Textbox(
                    SETTINGS.get("text", ""), label="Text", max_length=HOSTED_TEXT_CHARS
                )
                button = gr.Button("Classify", variant="primary")
            with gr.Column():
                label = gr.Label(label="Label", num_top_classes=5)
                bars = gr.Plot(label="Vote share per class")
        with gr.Accordion("Why: where the top head looked", open=False):
            with gr.Row():
                overlay = gr.Image(label="Attention on the picture", visible=MODEL.is_vlm)
                tokens = gr.HighlightedText(label="Attention on the text", combine_adjacent=False)
        button.click(
            classify_page,
            [image, text],
            [label, bars, overlay, tokens],
            api_visibility="private",
            concurrency_limit=1,
        )
        # the API: label and bars only (no explanation to compute or send); a hidden button
        # carries it, so the page's own call can add the why view from one forward pass
        api = gr.Button(visible=False)
        api.click(classify, [image, text], [label, bars], api_name="classify", concurrency_limit=1)
        if MODEL.is_vlm:
            with gr.Accordion("Live webcam", open=False):
                with gr.Row():
                    cam = visitor_image(sources=["webcam"], streaming=True, label="Webcam")
                    with gr.Column():
                        live_label = gr.Label(label="Live label", num_top_classes=3)
                        live_bars = gr.Plot(label="Vote share")
            cam.stream(
                classify_frame,
                [cam, text],
                [live_label, live_bars],
                stream_every=LIVE_EVERY_S,
                time_limit=LIVE_TIME_LIMIT_S,
                concurrency_id="live",
                concurrency_limit=LIVE_STREAMS,
                api_visibility="private",
            )
    demo.queue(default_concurrency_limit=1, max_size=64)
    # webcam streams (free to open, no frame needed) never take every place in the queue
    cap_waiting(demo, "live", LIVE_STREAMS_WAITING, TOO_MANY_WEBCAMS)
    return demo


if __name__ == "__main__":
    print(
        f"loaded {MODEL.name} ({MODEL.num_layers} of {MODEL.full_layers} layers) in {LOAD_S:.1f} s"
    )
    # a waiting thread gets the interpreter after 1 ms, not 5: each event hands work between
    # gradio's threads many times (the app's studio/switching.py, measured there)
    sys.setswitchinterval(0.001)
    tidy_upload_progress()  # gradio's records of upload ids: none kept for ever
    settle_allocator()  # large blocks get their own pages, returned when freed
    MemoryKeeper().start()  # what a request's big strings used goes back after it
    build().launch(
        max_file_size=HOSTED_FILE_SIZE,
        run_history=False,  # gradio features this page does not have (savs.closed_routes)
        enable_monitoring=False,
        # unused routes answer 404; one upload request's size and files are capped
        app_kwargs={"middleware": [Middleware(ClosedRoutes), Middleware(UploadGuard)]},
    )
