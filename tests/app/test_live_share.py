"""The live webcam's frames take turns over all streams (studio.fairness.LIVE_FRAMES): a frame
the server is too busy for is dropped without running the model, and says nothing new."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest
from test_app import _webcam_frame

from studio.actions import Studio
from studio.fairness import LIVE_FRAMES

import studio_fixtures as sf

pytestmark = pytest.mark.app
UPLOAD_GRACE_S = 0.0  # uploads go as soon as their call ends (conftest app_module)


def test_a_frame_the_server_is_too_busy_for_is_dropped(app_module, tmp_path):
    app = app_module
    studio = Studio()
    app.on_page_load(studio, None)
    app.load_task_cb(studio, "colours")
    app.extract_cb(studio, sf.TASK_QUESTION, 4, "loo", sf.no_progress)
    picture = tmp_path / "red.png"
    sf.colour_image(sf.TASK_COLOURS["red"], 3).save(picture)
    dropped = LIVE_FRAMES.dropped
    with LIVE_FRAMES.turn() as held:  # another stream's frame is being classified
        assert held
        frame = _webcam_frame(picture, tmp_path / "cache")
        answer = app.classify_frame_cb(studio, frame, "")
    assert answer == (gr.skip(),) * 3  # label, bars and timing unchanged on the page
    assert LIVE_FRAMES.dropped == dropped + 1 and studio.live_frames == 0
    assert not Path(frame).exists()  # a dropped frame's file goes too
    frame = _webcam_frame(picture, tmp_path / "cache")
    label, _, timing = app.classify_frame_cb(studio, frame, "")  # the share is free again
    assert set(label) == set(sf.TASK_COLOURS) and timing.endswith("frame 1"), (label, timing)


def test_a_steady_webcam_gets_its_label_and_bars_once_and_a_new_vote_draws_them(
    app_module, tmp_path
):
    app = app_module
    studio = Studio()
    app.on_page_load(studio, None)
    app.load_task_cb(studio, "colours")
    app.extract_cb(studio, sf.TASK_QUESTION, 4, "loo", sf.no_progress)
    red, blue = tmp_path / "red.png", tmp_path / "blue.png"
    sf.colour_image(sf.TASK_COLOURS["red"], 3).save(red)
    sf.colour_image(sf.TASK_COLOURS["blue"], 3).save(blue)

    def frame(picture: Path) -> tuple:
        return app.classify_frame_cb(studio, _webcam_frame(picture, tmp_path / "cache"), "")

    label, bars, timing = frame(red)
    assert max(label, key=label.get) == "red" and bars != gr.skip()
    label, bars, timing = frame(red)  # the same votes: the Live tab's label and bars stand
    assert (label, bars) == (gr.skip(), gr.skip()) and timing.endswith("frame 2")
    label, bars, timing = frame(blue)
    assert max(label, key=label.get) == "blue" and bars != gr.skip()
    assert timing.endswith("frame 3")
