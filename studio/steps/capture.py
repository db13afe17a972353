"""Capture from the webcam, Teachable Machine style: one camera above the class cards, and on
each image card "Hold to record" (the frames streamed while it is held go into that card's
class) and "Snap" (one frame). Gradio buttons have no press / release events: a page script
(HOLD_JS) writes the pressed card into a hidden box, whose change starts and stops the
recording that the camera's stream callback fills. Why its own module: the cards (classes.py)
only place the two buttons; the recording's state lives in the session."""

from __future__ import annotations

import re

import gradio as gr

from savs.markup import hide_paths, plain

from ..actions import Studio
from ..inputs import visitor_image
from ..server import discard_upload, start_session, tracked, user_errors
from ..session import MAX_RECORD
from ..views import capture_line, cards_key, recorded, session_summary
from ..wiring import LIVE, PRIVATE, Page
from . import START_CAMERA

CAPTURE_EVERY_S = 0.1  # the capture webcam's frame interval: >= 5 frames a second recorded
CARDS_EVERY = 10  # recorded frames between two drawings of the cards while a button is held


# the camera widget's own controls as they read ("Click to Access Webcam" cannot be relabeled)
START_WEBCAM = (
    f"Start the webcam first: click 'Click to Access Webcam', then '{START_CAMERA}' "
    "(nothing is stored until you hold a card's 'Hold to record' or click its 'Snap')."
)
NO_FRAMES = (
    "No frames came while you held the button: keep it pressed while the webcam streams. "
    + START_WEBCAM
)


@user_errors
def snap_cb(studio: Studio, name: str, frame: str | None) -> Studio:
    """The webcam's current frame (a file, deleted after the call) becomes one example."""
    try:
        if frame is None:
            raise gr.Error(START_WEBCAM)
        studio.add_examples(name, [frame])
    finally:
        discard_upload(frame)
    return studio


@user_errors
def record_cb(studio: Studio, name: str, frames: int) -> tuple:
    """Recording: the next `frames` frames of the streaming webcam go into the class."""
    studio.start_recording(name, int(frames))
    return studio, session_summary(studio)


@user_errors
def hold_cb(studio: Studio, held: str) -> tuple:
    """A card's "Hold to record", pressed ("card index:press number", set by HOLD_JS) or
    released (""): while it is held, every streamed frame goes into that card's class (at most
    MAX_RECORD a hold); on release the cards are drawn again with the new frames."""
    if held:
        names, pressed = list(studio.classes), re.fullmatch(r"(\d{1,4}):\d{1,12}", held)
        if pressed is None or int(pressed[1]) >= len(names):
            raise gr.Error("That class is gone: the cards are drawn again.")
        index = int(pressed[1])
        record_cb(studio, names[index], MAX_RECORD)
    elif studio.recording:
        got = recorded(studio)
        studio.stop_recording()
        if not got:
            gr.Warning(NO_FRAMES)
    return studio, capture_line(studio)


@tracked
def record_frame_cb(studio: Studio, frame: str | None) -> tuple:
    """Every streamed webcam frame (a file, deleted after the call): added while a card's
    "Hold to record" is held. The count under the camera is drawn at every frame, the cards
    every CARDS_EVERY frames (the thumbnails appear as they come) and when it is released."""
    try:
        if frame is None or not studio.recording:
            return gr.skip(), gr.skip()
        start_session(studio)
        try:
            studio.record_frame(frame)
        except Exception as exc:  # a full session or a bad frame: stop recording, say why
            studio.stop_recording()
            gr.Warning(plain(hide_paths(str(exc))))
    finally:
        discard_upload(frame)
    got = recorded(studio)
    return capture_line(studio), (cards_key(studio) if got % CARDS_EVERY == 0 else gr.skip())


# --- layout and events -----------------------------------------------------------------------

# While a card's "Hold to record" is pressed (pointer, or Space / Enter on the focused button),
# the hidden box #hold-record holds "card index:press number", and "" once it is released
# (anywhere on the page: the card may be drawn again meanwhile); its change event starts and
# stops the recording. Bound once per page, on the document (the cards are redrawn).
HOLD_JS = """
() => {
  if (window.savsHold) return;
  window.savsHold = true;
  let held = false;
  const set = (value) => {
    const box = document.querySelector("#hold-record textarea, #hold-record input");
    if (!box) return;
    box.value = value;
    box.dispatchEvent(new Event("input", { bubbles: true }));
  };
  const press = (event) => {
    const button = event.target.closest && event.target.closest(".hold-record");
    const card = button && button.closest("[id^=class-card-]");
    if (!card || held) return;
    event.preventDefault();  // no text selection or touch scrolling while held
    held = true;
    window.savsHolds = (window.savsHolds || 0) + 1;
    set(`${card.id.slice("class-card-".length)}:${window.savsHolds}`);
  };
  const release = () => {
    if (!held) return;
    held = false;
    set("");
  };
  document.addEventListener("pointerdown", press);
  document.addEventListener("keydown", (e) => {
    if ((e.key === " " || e.key === "Enter") && !e.repeat) press(e);
  });
  for (const name of ["pointerup", "pointercancel", "keyup"]) {
    document.addEventListener(name, release);
  }
  window.addEventListener("blur", release);
}
"""


def build(page: Page) -> gr.Image:
    """The one capture camera, above the cards (whose buttons record or snap its frames), and
    the count of the frames arriving while a card's button is held."""
    state = page.state
    with gr.Accordion("Webcam for the cards' Hold to record and Snap", open=False) as cam_box:
        cam = visitor_image(
            sources=["webcam"], streaming=True, height=200, show_label=False, elem_id="capture-cam"
        )
        capture = gr.Markdown(elem_id="capture-status")
    held = gr.Textbox(visible="hidden", elem_id="hold-record", show_label=False)
    page.add(cam_box=cam_box, capture=capture)
    page.private(held.change, hold_cb, [state, held], [state, capture])
    page.on(
        cam.stream,
        record_frame_cb,
        [state, cam],
        [capture, "key"],
        stream_every=CAPTURE_EVERY_S,
        **LIVE,
        **PRIVATE,
    )
    return cam
