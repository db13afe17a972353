"""Issue 22 at the app's callbacks and through gradio_client: "Try an example" loads and
extracts the example task in one call, its test inputs fill the Classify inputs, and loading a
task or importing a dataset over a person's classes says so and is undone by /undo."""

from __future__ import annotations

import sys
from pathlib import Path

import gradio as gr
import pytest
import torch
from gradio_client import Client

import studio_fixtures as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # app.py, also under bare `pytest`
from studio import views
from studio.actions import Studio
from studio.steps import first_visit

pytestmark = pytest.mark.app
torch.set_num_threads(1)


def own_classes(app, studio: Studio) -> None:
    """What a person made: one class 'mine' with three typed examples."""
    app.on_page_load(studio, None)
    app.add_class_cb(studio)
    app.rename_class_cb(studio, "Class 1", "mine")
    app.add_example_cb(studio, "mine", None, "one\ntwo\n\nthree")


def test_try_an_example_loads_and_extracts_then_undo_brings_back_the_users_classes(
    app_module, monkeypatch
):
    app, told = app_module, []
    monkeypatch.setattr(gr, "Info", lambda message, *a, **k: told.append(message))
    studio = Studio()
    own_classes(app, studio)
    assert [ex.text for ex in studio.classes["mine"]] == ["one", "two", "three"]
    # the test's examples root holds 'colours' only: the first task stands in for 'colour'
    assert first_visit.example_task() == "colours"
    studio, prompt, summary, heatmap, rows, line = first_visit.try_example_cb(
        studio, sf.no_progress
    )
    assert prompt == sf.TASK_QUESTION and summary.startswith("3 classes, 12 examples")
    assert "fit accuracy" in line and rows and heatmap.layout.height > 0
    assert "It replaced your 1 class — Undo brings it back." in told[-1]
    # the page: the undo button offers them back, and the Classify tab's key is the task
    page, task_key = app.redraw(studio), views.PAGE.index("task_key")
    assert page[4]["value"] == "Undo: restore your 1 class" and page[task_key] == "colours"
    studio, summary = app.undo_cb(studio)
    assert list(studio.classes) == ["mine"] and summary.startswith("1 class, 3 examples")
    assert studio.stale and studio.task == "" and app.redraw(studio)[task_key] == ""


def test_the_test_inputs_fill_the_classify_inputs(app_module):
    app = app_module
    studio = Studio()
    app.on_page_load(studio, None)
    assert first_visit.test_gallery_view(studio)["visible"] is False  # no task yet
    app.load_task_cb(studio, "colours")
    shown = first_visit.test_gallery_view(studio)
    assert shown["visible"] is True and len(shown["value"]) == 6  # the task's 6 test pictures
    assert [label for _, label in shown["value"]][:3] == ["red", "green", "blue"]
    clicked = gr.SelectData(None, {"index": 1, "value": None})  # the second thumbnail
    image, text = first_visit.pick_test_input_cb(studio, clicked)
    assert text == "" and image.getpixel((0, 0))[1] > 150  # green, its text the shared prompt
    studio, label, *_ = app.extract_cb(studio, sf.TASK_QUESTION, 4, "loo", sf.no_progress)
    saved = Path(gr.utils.get_upload_folder()) / "picked.png"
    saved.parent.mkdir(parents=True, exist_ok=True)
    image.save(saved)  # what the page sends back when Classify is clicked: a file
    studio, label, *_ = app.classify_cb(studio, str(saved), text)
    assert max(label, key=label.get) == "green"


def test_importing_over_the_users_classes_says_so_and_undo_restores(
    app_module, tmp_path, monkeypatch
):
    app, told = app_module, []
    monkeypatch.setattr(gr, "Info", lambda message, *a, **k: told.append(message))
    source = Studio()
    app.load_task_cb(source, "colours")
    archive = source.export_dataset(tmp_path / "colours.zip")
    studio = Studio()
    own_classes(app, studio)
    out = app.import_dataset_cb(studio, sf.upload(archive))
    assert out[-1].startswith("3 classes, 12 examples")
    assert told[-1].endswith("It replaced your 1 class — Undo brings it back.")
    app.undo_cb(studio)
    assert [ex.text for ex in studio.classes["mine"]] == ["one", "two", "three"]


def test_try_example_and_undo_through_the_client(served):
    client = Client(served, verbose=False)
    client.predict(api_name="/add_class")
    prompt, summary, heatmap, rows, line = client.predict(api_name="/try_example")
    assert prompt == sf.TASK_QUESTION and "fit accuracy" in line
    assert summary.startswith("3 classes, 12 examples")
    summary = client.predict(api_name="/undo")
    assert summary.startswith("1 class, 0 examples")
