"""The app's "why these heads" views: attention overlay and tokens after Classify, the head
inspector (picker and top-heads table), the k curve with "auto", and the baselines table; the
callbacks called directly, then the new endpoints through gradio_client."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gradio as gr
import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image

import studio_fixtures as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # app.py, also under bare `pytest`
from savs.classifier import auto_k
from savs.compare import DISPLAY_NAMES
from studio import views
from studio.actions import Studio

pytestmark = pytest.mark.app

torch.set_num_threads(1)


def page_of(app, studio: Studio) -> dict:
    """The redrawn page as {component name: value}, by views.PAGE's names (not positions: steps
    add components to the page)."""
    shown = dict(zip(views.PAGE, views.whole_page(studio), strict=True))
    return {**shown, "head_classes": shown["per_class_head"]}


def test_classify_shows_attention_and_the_inspector_opens_on_a_head(app_module, task_image):
    app = app_module
    studio = sf.app_fitted_studio(app)
    before = page_of(app, studio)
    assert before["overlay"] is None and before["tokens"] == []
    assert "Classify an input" in before["inspector"]
    app.classify_cb(studio, sf.upload(task_image), "")
    shown = page_of(app, studio)
    heads = studio.classifier.heads
    expl = studio.last_classification.explanations
    assert [v for _, v in shown["picker"]["choices"]] == [f"{h.layer},{h.head}" for h in heads]
    assert (
        shown["picker"]["choices"][0][0] == f"L{heads[0].layer} H{heads[0].head} "
        f"(votes {expl[0].vote})"
    )
    assert isinstance(shown["overlay"], Image.Image)
    # the overlay keeps the picture's shape, scaled up by a whole factor when it is small
    width, height = Image.open(task_image).size
    assert shown["overlay"].width % width == 0 and shown["overlay"].width >= 256
    assert shown["overlay"].size == (
        shown["overlay"].width // width * width,
        shown["overlay"].width // width * height,
    )
    assert any(t.startswith("<image") for t, _ in shown["tokens"])
    assert max(w for _, w in shown["tokens"]) == 1.0
    # the picker opens another head: its rows are its own accuracy, cosines and vote
    h = heads[2]
    out = app.inspect_head_cb(studio, f"{h.layer},{h.head}")
    studio, picker, overlay, tokens, line, rows = out
    assert picker["value"] == f"{h.layer},{h.head}" and studio.inspected == (h.layer, h.head)
    assert f"Layer {h.layer}, head {h.head}" in line and "rank 3 of 4" in line
    report = studio.head_report(h.layer, h.head)
    assert [r[0] for r in rows] == list(sf.TASK_COLOURS)
    assert [r[1] for r in rows] == [round(report["class_accuracy"][c], 3) for c in sf.TASK_COLOURS]
    assert [r[2] for r in rows] == [round(expl[2].cosines[c], 3) for c in sf.TASK_COLOURS]
    assert [r[0] for r in rows if r[3]] == [expl[2].vote]
    with pytest.raises(gr.Error, match="not one of the selected heads"):
        app.inspect_head_cb(studio, "0,99")
    # a row of the top-heads table opens its head too
    evt = gr.SelectData(
        None,
        {
            "index": [3, 1],
            "value": heads[3].layer,
            "row_value": [4, heads[3].layer, heads[3].head, 0.5],
        },
    )
    app.select_head_cb(studio, evt)
    assert studio.inspected == (heads[3].layer, heads[3].head)
    assert page_of(app, studio)["picker"]["value"] == f"{heads[3].layer},{heads[3].head}"


def test_class_names_are_escaped_in_the_inspector(app_module, task_image):
    studio = sf.app_fitted_studio(app_module)
    studio.rename_class("green", "[x](http://evil) *b*")
    app_module.extract_cb(studio, sf.TASK_QUESTION, 4, "loo", sf.no_progress)
    app_module.classify_cb(studio, sf.upload(task_image), "")
    shown = page_of(app_module, studio)
    assert "](http" not in shown["inspector"] and "*b*" not in shown["inspector"]


def test_k_curve_and_auto(app_module):
    app = app_module
    studio = sf.app_fitted_studio(app, k=6)
    curve = studio.k_curve()
    shown = page_of(app, studio)
    assert shown["auto"] is False
    assert list(shown["k_curve"].data[0].x) == list(range(1, 13))
    assert list(shown["k_curve"].data[1].x) == [6]  # the chosen k marked
    studio, k, figure, heatmap, rows, line = app.auto_k_cb(studio, True)
    assert studio.k == "auto" and k["value"] == auto_k(curve) == studio.classifier.k
    assert list(figure.data[1].x) == [auto_k(curve)] and "auto" in line
    # a scoring change keeps auto (the slider shows auto's k); moving the slider ends it
    app.refit_cb(studio, k["value"], "reference")
    assert studio.k == "auto" and studio.scoring == "reference"
    app.refit_cb(studio, 2, "loo")
    assert studio.k == 2 and page_of(app, studio)["auto"] is False


def test_baselines_table_after_evaluate(app_module):
    app = app_module
    studio = sf.app_fitted_studio(app)
    app.evaluate_task_cb(studio, False, progress=sf.no_progress)
    assert page_of(app, studio)["baselines"] == []
    app.evaluate_task_cb(studio, True, progress=sf.no_progress)
    rows = page_of(app, studio)["baselines"]
    ev = studio.last_evaluation
    assert [r[0] for r in rows] == [
        "SAVs (top 4 heads vote)",
        DISPLAY_NAMES["zero_shot"],
        *(DISPLAY_NAMES[n] for n in ev.baselines),
    ]
    assert rows[0][1] == round(ev.report.accuracy, 3)
    assert rows[1][1] == round(ev.zero_shot_accuracy, 3)
    assert all(0 <= r[1] <= 1 for r in rows)


def test_inspect_head_and_auto_k_through_the_client(served, task_image):
    client = Client(served, verbose=False)
    client.predict("colours", api_name="/load_example_task")
    client.predict(sf.TASK_QUESTION, 4, "loo", api_name="/extract")
    k, curve, heatmap, rows, line = client.predict(True, api_name="/auto_k")
    plot = json.loads(curve["plot"])
    assert len(plot["data"]) == 2 and "auto" in line and len(rows["data"]) == k["value"]
    client.predict(handle_file(task_image), "", api_name="/classify")
    layer, head = rows["data"][0][1], rows["data"][0][2]
    picker, overlay, tokens, inspector, per_class = client.predict(
        f"{layer},{head}", api_name="/inspect_head"
    )
    assert Image.open(overlay).width >= 256
    assert f"Layer {layer}, head {head}" in inspector and "votes" in inspector
    assert [r[0] for r in per_class["data"]] == list(sf.TASK_COLOURS)
    assert tokens and any("image" in str(t) for t in json.dumps(tokens).split(","))
