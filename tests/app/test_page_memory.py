"""The page's memory (studio.drawn, issue 21): a redraw skips the views whose inputs did not
change, and yet the page a browser keeps (each redraw's values applied, a skipped component
keeping its last value) is, after every action of a lesson, what a new page would show from
the session's state. Through the app's own callbacks on the tiny model."""

from __future__ import annotations

import json
from typing import Any

import gradio as gr
import plotly.graph_objects as go
import pytest
import torch
from PIL import Image

from savs.plots.style import QuickFigure
from studio import views
from studio.drawn import memory_of
from studio.steps.compare import keep_classifier_cb, remove_kept_cb
from studio.steps.evaluate import evaluate_task_cb
from studio.steps.inspect import any_head_cb, retally_cb
from studio.wiring import redraw_all

import studio_fixtures as sf

pytestmark = pytest.mark.app

torch.set_num_threads(1)
SKIP = gr.skip()


def comparable(value: Any) -> Any:
    """A value as the browser gets it, comparable with ==: figures as JSON, pictures as
    pixels."""
    if isinstance(value, (go.Figure, QuickFigure)):
        return json.loads(value.to_json())
    if isinstance(value, Image.Image):
        return (value.size, value.mode, value.tobytes())
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [comparable(v) for v in value]
    return value


def redraw_into(shown: dict, studio) -> list[str]:
    """Apply one redraw as the browser does; the names it skipped."""
    skipped = []
    for name, value in zip(views.PAGE, views.page(studio), strict=True):
        if value == SKIP:
            skipped.append(name)
        else:
            shown[name] = value
    return skipped


def test_the_page_a_browser_keeps_is_the_sessions_state_after_every_action(app_module, task_image):
    app = app_module
    studio = sf.app_fitted_studio(app)
    shown: dict = {}
    assert redraw_into(shown, studio) == []  # a new page: everything is drawn
    heads = [f"{h.layer},{h.head}" for h in studio.classifier.heads]
    unkept = next(
        f"{layer},{head}"
        for layer in range(studio.activations.shape[1])
        for head in range(studio.activations.shape[2])
        if f"{layer},{head}" not in heads
    )
    actions = [
        ("classify", lambda: app.classify_cb(studio, sf.upload(task_image), "")),
        ("classify again", lambda: app.classify_cb(studio, sf.upload(task_image), "")),
        ("k 2", lambda: app.refit_cb(studio, 2, "loo")),
        ("an unselected head", lambda: any_head_cb(studio, unkept)),
        ("untick a head", lambda: retally_cb(studio, heads[:1])),
        ("k 4", lambda: app.refit_cb(studio, 4, "loo")),
        ("keep the classifier", lambda: keep_classifier_cb(studio, "colours")),
        ("evaluate", lambda: evaluate_task_cb(studio, False, sf.no_progress)),
        ("delete an example", lambda: app.delete_example_cb(studio, "red", 0)),
        ("undo", lambda: app.undo_cb(studio)),
        ("remove the kept one", lambda: remove_kept_cb(studio, "colours")),
        ("classify", lambda: app.classify_cb(studio, sf.upload(task_image), "")),
        ("the page was cleared", lambda: studio.close("idle")),
    ]
    skips: dict[str, list[str]] = {}
    for name, act in actions:
        act()
        skips[name] = redraw_into(shown, studio)
        fresh = dict(zip(views.PAGE, views.whole_page(studio), strict=True))
        for component in views.PAGE:
            assert comparable(shown[component]) == comparable(fresh[component]), (name, component)
    # what the memory is for: a classify redraws neither the k curve, the head map nor the
    # fit's figures; a k change redraws the k curve (its mark moved)
    assert {"k_curve", "top_heads", "compare_line"} <= set(skips["classify again"])
    assert "k_curve" not in skips["k 2"] and "heatmap" not in skips["k 2"]
    assert "predicted" not in skips["the page was cleared"]


def test_a_cleared_session_drops_what_its_page_memory_held(app_module):
    studio = sf.app_fitted_studio(app_module)
    views.page(studio)
    activations = studio.activations
    memory = memory_of(studio)
    assert any(t.obj is activations for seen in memory._seen.values() for _, t in seen
               if hasattr(t, "obj"))  # fmt: skip
    studio.close("idle")
    assert memory._seen == {}


def test_after_a_failed_action_the_whole_page_is_drawn_again(app_module):
    """A refused input (a k typed as 0, a head that is not one) changed nothing in the session,
    yet the box shows it: the failure's redraw puts every component back as the session has it."""
    studio = sf.app_fitted_studio(app_module)
    views.page(studio)
    assert all(v == SKIP for v in views.page(studio))  # nothing changed: nothing sent
    assert not any(v == SKIP for v in redraw_all(studio))
