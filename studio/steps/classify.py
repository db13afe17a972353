"""Step 3: classify one input, or a live webcam stream (label and vote bars move as you move
the object). Classification always runs on the model the classifier was made with."""

from __future__ import annotations

from typing import Any

import gradio as gr

from savs import plots
from savs.errors import SavsError
from savs.images import image_size
from savs.markup import hide_paths, plain
from savs.models.turns import CLICK, FRAME, turn_kind

from ..actions import Studio
from ..drawn import memory_of
from ..fairness import LIVE_FRAMES, current_session
from ..inputs import upload_paths, visitor_image
from ..server import POOL, discard_upload, gpu, start_session, tracked, user_errors
from ..views import heatmap_view, prediction_views
from ..wiring import CLICK_BOUND, LIVE, PRIVATE, Page
from . import first_visit, help_line


@gpu
def _classify_on_device(studio: Studio, image: Any, text: str, explain: bool = False) -> Studio:
    with POOL.use(studio.classifier_model or studio.model, work=False) as adapter:
        studio.classify(adapter, image, text, explain=explain)
    return studio


@user_errors
def classify_cb(studio: Studio, image: str | None, text: str) -> tuple:
    try:
        studio.check_input(image, text)  # before any model is lent or loaded
        with turn_kind(CLICK):  # a person waits for it: before other sessions' batches
            studio = _classify_on_device(studio, image, text, explain=True)  # + where heads looked
    finally:
        discard_upload(image)
    label, bars, timing = prediction_views(studio)
    return studio, label, bars, heatmap_view(studio), timing


@tracked
def classify_frame_cb(studio: Studio, frame: str | None, text: str) -> tuple:
    """One frame of the live webcam (a file, deleted after the call): label and vote bars only
    (cheap enough for 5+ per second). A frame that cannot be classified yet says why in the
    label box instead of raising, so the stream keeps running while the person trains. Frames
    take turns over all streams (`LIVE_FRAMES`); one the server is too busy for is dropped."""
    try:
        return _classify_frame(studio, frame, text)
    finally:
        discard_upload(frame)


def _classify_frame(studio: Studio, frame: str | None, text: str) -> tuple:
    start_session(studio)
    if frame is None:
        return gr.skip(), gr.skip(), gr.skip()
    if studio.classifier is None or studio.stale:
        why = "Extract first" if studio.classifier is None else "Classes changed: Extract again"
        memory_of(studio).live_votes = None
        return {why: 1.0}, plots.empty_figure(why, height=200), why
    with LIVE_FRAMES.turn(current_session()) as mine:
        if not mine:  # the server is behind: a newer frame waits, this one is dropped
            return gr.skip(), gr.skip(), gr.skip()
        try:
            with turn_kind(FRAME):
                studio = _classify_on_device(studio, frame, text)
        except Exception as exc:  # noqa: BLE001 - shown on the page, the stream goes on
            return gr.skip(), gr.skip(), plain(hide_paths(str(exc)))[:200]
        studio.live_frames += 1
        return _live_views(studio)  # in the frame's turn: drawing it is part of its share


def _live_views(studio: Studio) -> tuple:
    """A frame's label, vote bars and timing. A steady webcam gets the same votes frame after
    frame: then the label and bars the Live tab shows stand (no figure built or sent)."""
    votes = (
        tuple(studio.classifier.labels),
        tuple(studio.last_classification.prediction.votes.items()),
    )
    memory = memory_of(studio)
    if memory.live_votes == votes:
        label = bars = gr.skip()
        _, _, timing = prediction_views(studio, bars=False)
    else:
        memory.live_votes = votes
        label, bars, timing = prediction_views(studio)
    return label, bars, f"{timing} · frame {studio.live_frames}"


@user_errors
def replace_image_cb(file: Any) -> str:
    """Another picture in the image box in one step (no clear-then-upload): checked from its
    header like every visitor image (format, pixels), so a refused file never reaches the box."""
    [path] = upload_paths([file])
    try:
        image_size(path, "the picture")
    except SavsError:
        discard_upload(path)
        raise
    return path


# --- layout and events -----------------------------------------------------------------------

LIVE_EVERY_S = 0.1  # the webcam's frame interval; the loop answers as fast as the model allows
# the bars are vote counts, not the model's confidence: say so where they are read (the hint
# under the label is lesson.HELP["vote_bars"])
VOTES_LABEL = "Prediction: share of head votes"


# The model's status line changed: when it named another model before (not the page's first
# drawing of it), what was typed or put in for that model is cleared. In the browser, so a
# person typing while the page loads loses nothing.
CLEAR_ON_MODEL_SWITCH_JS = """
(status, text, image) => {
  const before = window.savsModelStatus;
  window.savsModelStatus = status;
  return before && before !== status ? ["", null] : [text, image];
}
"""


def build(page: Page) -> None:
    """The Classify tab: one picture and / or text, its label, vote bars and timing."""
    state = page.state
    image = visitor_image(
        sources=["upload", "webcam", "clipboard"], label="Image", height=180, elem_id="query-image"
    )
    text = gr.Textbox(label="Text (optional)")
    with gr.Row():
        classify = gr.Button("Classify", variant="primary", scale=2)
        replace = gr.UploadButton(
            "Another picture", file_types=["image"], scale=1, elem_id="replace-image"
        )
    predicted = gr.Label(label=VOTES_LABEL, num_top_classes=3, elem_id="predicted-label")
    help_line("vote_bars")
    timing = gr.Markdown(elem_id="timing")
    bars = gr.Plot(show_label=False, elem_id="vote-bars")
    page.add(image=image, text=text, predicted=predicted, timing=timing, bars=bars)
    page.add(replace_image=replace)
    page.on(replace.upload, replace_image_cb, replace, image, **PRIVATE)
    page.on(
        page["status"].change,
        None,
        ["status", text, image],
        [text, image],
        js=CLEAR_ON_MODEL_SWITCH_JS,
        **PRIVATE,
    )
    page.public(
        classify.click,
        classify_cb,
        [state, image, text],
        [state, predicted, bars, "heatmap", timing],
        "classify",
        **CLICK_BOUND,
    )
    first_visit.test_gallery(page)


def build_live(page: Page) -> None:
    """The Live tab: every frame classified (with the Classify tab's text)."""
    live_cam = visitor_image(
        sources=["webcam"], streaming=True, height=200, show_label=False, elem_id="live-cam"
    )
    live_label = gr.Label(label=VOTES_LABEL, num_top_classes=3, elem_id="live-label")
    live_timing = gr.Markdown(elem_id="live-timing")
    live_bars = gr.Plot(show_label=False, elem_id="live-bars")
    page.on(
        live_cam.stream,
        classify_frame_cb,
        [page.state, live_cam, "text"],
        [live_label, live_bars, live_timing],
        api_name="classify_frame",
        stream_every=LIVE_EVERY_S,
        **LIVE,
    )  # no trigger_mode="always_last": in gradio 6.31 it stopped a stream after one frame
    # (measured in Chromium)
