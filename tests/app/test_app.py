"""The Gradio app: callbacks called directly, then the launched app driven through gradio_client.

The model is the tiny random LLaVA saved to a folder (as `python app.py --model FOLDER` would
load it) and the example task is generated; neither needs the bundled assets.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gradio as gr
import pytest
import torch
from gradio_client import Client, handle_file

import studio_fixtures as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # app.py, also under bare `pytest`
from studio.actions import Studio

pytestmark = pytest.mark.app
# studio.server's grace for this module's app (conftest app_module): uploads go as soon as their
# call ends (one caller, nobody shares its files)
UPLOAD_GRACE_S = 0.0

torch.set_num_threads(1)


@pytest.fixture
def task_image(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("query") / "query.png"
    sf.colour_image(sf.TASK_COLOURS["green"], 2).save(path)
    return path


# --- callbacks -------------------------------------------------------------------------------


def test_class_card_callbacks(app_module, tmp_path):
    app = app_module
    studio = Studio()
    studio, summary = app.add_class_cb(studio)
    assert list(studio.classes) == ["Class 1"] and summary.startswith("1 class, 0 examples")
    image = tmp_path / "a.png"
    sf.colour_image((10, 10, 200), 0).save(image)
    copy = tmp_path / "b.png"
    copy.write_bytes(image.read_bytes())
    studio = app.add_files_cb(studio, "Class 1", [str(image), str(copy)], "blue-ish")
    assert len(studio.classes["Class 1"]) == 2
    assert not image.exists() and not copy.exists()  # uploads are read once, then deleted
    app.rename_class_cb(studio, "Class 1", "blue")
    studio, cleared = app.add_example_cb(studio, "blue", None, "just text")
    assert cleared is None
    assert [ex.text for ex in studio.classes["blue"]] == ["blue-ish", "blue-ish", "just text"]
    app.delete_example_cb(studio, "blue", 0)
    assert [ex.text for ex in studio.classes["blue"]] == ["blue-ish", "just text"]
    studio, summary = app.undo_cb(studio)
    assert len(studio.classes["blue"]) == 3 and "3 examples" in summary
    app.delete_class_cb(studio, "blue")
    assert studio.classes == {}
    # the page drawn from the session: the undo button offers the deleted class back
    page = app.redraw(studio)
    assert page[4]["visible"] is True and "class 'blue'" in page[4]["value"]


def test_bad_input_gives_a_clear_error_and_keeps_the_data(app_module, tmp_path):
    app = app_module
    studio = Studio()
    app.on_page_load(studio, None)
    app.add_class_cb(studio)
    app.add_example_cb(studio, "Class 1", None, "hello")
    not_an_image = tmp_path / "notes.txt"
    not_an_image.write_text("plain text")
    with pytest.raises(gr.Error, match="notes.txt"):
        app.add_files_cb(studio, "Class 1", [str(not_an_image)], "")
    with pytest.raises(gr.Error, match="at least two classes"):
        app.extract_cb(studio, "", 4, "reference", sf.no_progress)
    app.add_class_cb(studio)
    with pytest.raises(gr.Error, match="'Class 2' has no examples"):
        app.extract_cb(studio, "", 4, "reference", sf.no_progress)
    with pytest.raises(gr.Error, match="no classifier yet"):
        app.classify_cb(studio, None, "hello")
    with pytest.raises(gr.Error, match="already a class named 'Class 1'"):
        app.rename_class_cb(studio, "Class 2", "Class 1")
    assert list(studio.classes) == ["Class 1", "Class 2"]
    assert [ex.text for ex in studio.classes["Class 1"]] == ["hello"]


def test_unknown_model_keeps_the_sessions_own(app_module, tmp_path):
    app = app_module
    studio = Studio()
    app.on_page_load(studio, None)
    current = studio.model
    # a server folder the operator did not list: refused like any unknown name, no path shown
    with pytest.raises(gr.Error) as refused:
        app.load_model_cb(studio, str(tmp_path), sf.no_progress)
    assert "not a bundled name" in str(refused.value) and str(tmp_path) not in str(refused.value)
    assert studio.model == current and studio.model_info.num_heads == 4


def test_task_extract_refit_classify_callbacks(app_module, task_image):
    app = app_module
    studio = Studio()
    app.on_page_load(studio, None)
    out = app.load_task_cb(studio, "colours")
    assert out[1] == sf.TASK_QUESTION and len(studio.classes) == 3 and len(out) == 6
    studio, heatmap, rows, line, summary = app.extract_cb(
        studio, sf.TASK_QUESTION, 20, "loo", sf.no_progress
    )
    assert len(rows) == 12 and "fit accuracy" in line and heatmap.layout.height > 0
    studio, heatmap, rows, line, _ = app.refit_cb(studio, 3, "reference")
    assert [r[0] for r in rows] == [1, 2, 3] and "reference" in line
    studio, label, bars, votes_map, timing = app.classify_cb(studio, sf.upload(task_image), "")
    assert set(label) == set(sf.TASK_COLOURS) and abs(sum(label.values()) - 1) < 1e-6
    assert max(label, key=label.get) == "green"  # solid colours separate even in random heads
    assert timing.endswith("ms") and len(votes_map.data) >= 2  # heatmap + vote marks
    studio, line, per_class, confusion, mistakes = app.evaluate_task_cb(
        studio, progress=sf.no_progress
    )
    assert "Accuracy **100.0%** on 6 examples" in line and len(per_class) == 3
    assert "zero-shot" not in line
    assert mistakes == [] and [list(r) for r in confusion.data[0].z] == [
        [2, 0, 0],
        [0, 2, 0],
        [0, 0, 2],
    ]


# --- the launched app --------------------------------------------------------------------------


def test_app_end_to_end_through_the_client(served, task_image, tmp_path):
    client = Client(served, verbose=False)
    out = client.predict("colours", api_name="/load_example_task")
    assert out[0] == sf.TASK_QUESTION
    heatmap, rows, line, summary = client.predict(sf.TASK_QUESTION, 4, "loo", api_name="/extract")
    assert "fit accuracy" in line and "3 classes, 12 examples" in summary
    assert len(rows["data"]) == 4
    plot = json.loads(heatmap["plot"])
    assert plot["layout"]["height"] > 0
    label, bars, votes_map, timing = client.predict(
        handle_file(task_image), "", api_name="/classify"
    )
    assert label["label"] == "green"
    assert "ms" in timing
    exported = client.predict(api_name="/export_classifier")
    assert Path(exported).suffix == ".zip"

    # another browser session: its own (empty) data, then importing the classifier works there
    other = Client(served, verbose=False)
    with pytest.raises(Exception, match="no classifier yet"):
        other.predict(handle_file(task_image), "", api_name="/classify")
    other.predict(handle_file(exported), api_name="/import_classifier")
    label2, *_ = other.predict(handle_file(task_image), "", api_name="/classify")
    assert label2 == label
    with pytest.raises(Exception, match="at least two classes"):
        other.predict("", 4, "loo", api_name="/extract")
    # the labeled dataset travels the same way
    dataset = client.predict(api_name="/export_dataset")
    out = other.predict(handle_file(dataset), api_name="/import_dataset")
    assert out[0] == sf.TASK_QUESTION and out[-1].startswith("3 classes, 12 examples")
    assert out[1] == 4  # k came with the dataset
    # new classes make the imported classifier out of date: classify refuses until Extract
    with pytest.raises(Exception, match="imported since the last Extract"):
        other.predict(handle_file(task_image), "", api_name="/classify")
    other.predict(sf.TASK_QUESTION, 4, "loo", api_name="/extract")
    # any labeled .zip is a test set: here the exported training set, evaluated in session 2
    line, per_class, confusion, mistakes = other.predict(
        handle_file(dataset), True, api_name="/evaluate"
    )
    assert "zero-shot baseline **" in line
    assert "Accuracy **100.0%** on 12 examples" in line and len(per_class["data"]) == 3


def _webcam_frame(path: Path, folder: Path) -> str:
    """What the live webcam sends (a data URL) as the app's image input hands it over."""
    import base64

    from gradio.data_classes import ImageData

    from studio.inputs import raw_image

    url = "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode()
    return raw_image(str(folder), ImageData(url=url))


def test_webcam_frames_reach_our_loader_and_are_deleted(app_module, tmp_path):
    """The streams (/classify_frame, recording) cannot be called through gradio_client: their
    callbacks are called here with frames as the app's image input makes them (issue 21)."""
    import os

    app = app_module
    studio = Studio()
    app.on_page_load(studio, None)
    app.load_task_cb(studio, "colours")
    app.extract_cb(studio, sf.TASK_QUESTION, 4, "loo", sf.no_progress)
    png, gif = sf.bomb_png(tmp_path), sf.many_frames_gif(tmp_path)  # making them costs memory
    before = sf.rss_mb(os.getpid())
    bomb = _webcam_frame(png, tmp_path / "cache")
    label, bars, timing = app.classify_frame_cb(studio, bomb, "")
    assert "too large" in timing and str(tmp_path) not in timing and "/tmp" not in timing
    assert not Path(bomb).exists()
    frames = _webcam_frame(gif, tmp_path / "cache")
    label, bars, timing = app.classify_frame_cb(studio, frames, "")
    assert set(label) == set(sf.TASK_COLOURS) and not Path(frames).exists()
    # recording: a refused frame stops the recording, nothing is added, the frame is deleted
    n = studio.num_examples()
    app.record_cb(studio, "red", 3)
    bomb = _webcam_frame(png, tmp_path / "cache")
    app.record_frame_cb(studio, bomb)
    assert studio.recording == "" and studio.num_examples() == n and not Path(bomb).exists()
    bomb = _webcam_frame(png, tmp_path / "cache")
    with pytest.raises(gr.Error) as refused:
        app.snap_cb(studio, "red", bomb)
    assert "too large" in str(refused.value) and "/tmp" not in str(refused.value)
    assert not Path(bomb).exists()
    grown = sf.rss_mb(os.getpid()) - before
    assert grown < 100, f"RSS grew {grown:.0f} MB"


def test_too_many_files_in_one_upload_are_refused_and_deleted(app_module, tmp_path):
    from savs.limits import HOSTED_UPLOAD_FILES

    studio = Studio()
    app_module.on_page_load(studio, None)
    studio.add_class("a")
    paths = []
    for i in range(HOSTED_UPLOAD_FILES + 1):
        path = tmp_path / f"{i}.png"
        path.write_bytes(b"never opened")
        paths.append(str(path))
    with pytest.raises(gr.Error, match=f"at most {HOSTED_UPLOAD_FILES} at a time"):
        app_module.add_files_cb(studio, "a", paths, "")
    assert studio.num_examples() == 0 and not any(Path(p).exists() for p in paths)


def test_hold_to_record_fills_the_held_cards_class(app_module, tmp_path):
    """A card's "Hold to record" (the page sets "card index:press number", then ""): frames
    streamed meanwhile go into that card's class and the line under the camera counts them;
    the other classes are left alone. A card that is gone is refused; Snap adds one frame to
    the class of its card."""
    from studio.steps.capture import hold_cb

    studio = Studio()
    app_module.on_page_load(studio, None)
    app_module.load_task_cb(studio, "colours")
    first, second = list(studio.classes)[:2]
    before = {name: len(examples) for name, examples in studio.classes.items()}
    frame = tmp_path / "frame.png"  # the camera's frame, as the app's image input hands it over
    _, line = hold_cb(studio, "1:1")
    assert studio.recording == second and "0 frames" in line
    for i in range(3):
        sf.colour_image((1, 200, 3), i).save(frame)
        line, _ = app_module.record_frame_cb(studio, str(frame))
        assert f"{i + 1} frame" in line and second in line
        assert not frame.exists()  # each frame's file is deleted once read
    _, line = hold_cb(studio, "")
    assert studio.recording == "" and "Recording" not in line
    assert len(studio.classes[second]) == before[second] + 3
    assert len(studio.classes[first]) == before[first]
    sf.colour_image((1, 200, 3), 5).save(frame)
    app_module.record_frame_cb(studio, str(frame))  # streamed after the release: not kept
    assert len(studio.classes[second]) == before[second] + 3
    for odd in ("7:2", "-1:3", "1", "x:1", "1:2:3"):  # no such card, or not what the page sends
        with pytest.raises(gr.Error, match="gone"):
            hold_cb(studio, odd)
    assert studio.recording == ""
    with pytest.raises(gr.Error, match="Click to Access Webcam"):
        app_module.snap_cb(studio, second, None)
    sf.colour_image((1, 200, 3), 6).save(frame)
    app_module.snap_cb(studio, second, str(frame))
    assert len(studio.classes[second]) == before[second] + 4
