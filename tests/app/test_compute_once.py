"""Each output computed once per action (issue 20): after a named endpoint succeeds, the redraw
neither draws nor sends the components the endpoint returned (they came from the same state);
after it fails, the whole page is drawn again (a failed event sends nothing)."""

from __future__ import annotations

import gradio as gr
import pytest

import studio.views as views
from studio.actions import Studio
from studio.drawn import forget_session
from studio.wiring import redraw_all

pytestmark = pytest.mark.app


@pytest.fixture(scope="module")
def demo(app_module):
    return app_module.build_demo()


def follow_ups(demo, dep: dict) -> tuple[dict, dict]:
    after = [d for d in demo.config["dependencies"] if d.get("trigger_after") == dep["id"]]
    success = next(d for d in after if d["trigger_only_on_success"])
    failure = next(d for d in after if d["trigger_only_on_failure"])
    return success, failure


def test_after_each_endpoint_the_redraw_skips_what_it_sent_and_a_failure_redraws_all(
    demo, app_module
):
    studio = Studio()
    app_module.on_page_load(studio, None)
    app_module.load_task_cb(studio, "colours")
    endpoints = [
        d
        for d in demo.config["dependencies"]
        if d.get("api_name") and d["api_visibility"] == "public"
    ]
    checked = 0
    page_ids = None
    for dep in endpoints:
        after = [d for d in demo.config["dependencies"] if d.get("trigger_after") == dep["id"]]
        if not after:  # no redraw: the live stream's frames, the downloads
            assert dep["api_name"] in {
                "classify_frame",
                "export_classifier",
                "export_dataset",
                "export_space",
            }
            continue
        success = next(d for d in after if d["trigger_only_on_success"])
        failure = next(d for d in after if d["trigger_only_on_failure"])
        assert demo.fns[failure["id"]].fn is redraw_all
        page_ids = success["outputs"]
        assert len(page_ids) == len(views.PAGE) and failure["outputs"] == page_ids
        sent = frozenset(n for n, i in zip(views.PAGE, page_ids) if i in dep["outputs"])
        assert sent, dep["api_name"]
        forget_session(studio)  # a page that shows nothing yet: only what was sent is skipped
        drawn = demo.fns[success["id"]].fn(studio)
        for name, value in zip(views.PAGE, drawn):
            assert (value == gr.skip()) == (name in sent), (dep["api_name"], name)
        checked += 1
    assert checked >= 13  # the named endpoints that return views of the page


def test_a_fully_sent_view_is_not_drawn(monkeypatch, app_module):
    studio = Studio()
    app_module.on_page_load(studio, None)
    calls = []
    real = views.heatmap_view
    monkeypatch.setattr(
        views,
        "VIEWS",
        tuple(
            (
                names,
                (lambda s, r=real: (calls.append(1), r(s))[1:]) if names == ("heatmap",) else draw,
            )
            for names, draw in views.VIEWS
        ),
    )
    views.page(studio, frozenset({"heatmap"}))
    assert calls == []
    views.page(studio)
    assert calls == [1]
    assert views.page(studio, frozenset({"heatmap"}))[views.PAGE.index("heatmap")] == gr.skip()
