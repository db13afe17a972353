"""The app's resolution policy (no server): app.py --max-image-tokens (default
$SAVS_MAX_IMAGE_TOKENS) sets the operator's bound before any model loads, the loader passes it
to every model as its cap, and a visitor's image detail choice is one of those within it."""

from __future__ import annotations

import gradio as gr
import pytest

from savs.limits import VISITOR_IMAGE_TOKENS
from studio import server
from studio.actions import Studio
from studio.steps import train

pytestmark = pytest.mark.app


@pytest.fixture
def cap(monkeypatch):
    monkeypatch.setitem(server.IMAGE_TOKENS, "cap", 300)
    return 300


def test_the_menu_offers_only_choices_within_the_bound(cap):
    values = [value for _, value in train.image_token_choices()]
    assert values == ["default"] + [str(n) for n in VISITOR_IMAGE_TOKENS if n <= cap]
    assert train.image_token_choices()[0][0] == "default (at most 300)"


def test_a_visitors_choice_is_checked_against_the_bound(cap):
    studio, _ = train.set_image_tokens_cb(Studio(), "64")
    assert studio.image_tokens == 64
    studio, _ = train.set_image_tokens_cb(studio, "default")
    assert studio.image_tokens is None
    with pytest.raises(gr.Error, match="image tokens must be one of: 64, 256"):
        train.set_image_tokens_cb(studio, "1024")  # a client sends what the menu does not offer
    assert studio.image_tokens is None


def test_the_loader_gives_every_model_the_cap(cap, monkeypatch):
    seen = {}
    monkeypatch.setattr(server, "check_visitor_model", lambda name, start: None)
    monkeypatch.setattr(server, "load_model", lambda name, **kw: seen.update(kw))
    server.hosted_loader("some-model")
    assert seen["image_token_cap"] == cap


def test_app_flag_sets_the_bound_before_the_start_model_loads(monkeypatch):
    import studio.app as app  # where main looks its start and build_demo up

    seen = []

    class NoLaunch:
        def launch(self, **kwargs):
            seen.append("launched")

        def block_thread(self):
            seen.append("blocked")

    monkeypatch.setitem(server.IMAGE_TOKENS, "cap", None)
    monkeypatch.setattr(app, "settle_collector", lambda: None)  # this process's GC stays as is
    monkeypatch.setattr(app, "shorten_switch_interval", lambda: None)  # and its threads' turns
    monkeypatch.setattr(app, "start", lambda model: seen.append(server.IMAGE_TOKENS["cap"]))
    monkeypatch.setattr(app, "build_demo", NoLaunch)
    app.main(["--max-image-tokens", "128"])
    assert seen == [128, "launched", "blocked"]
    with pytest.raises(SystemExit):
        app.main(["--max-image-tokens", "-5"])
