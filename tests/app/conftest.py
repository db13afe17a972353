"""Fixtures of the app tier: app.py in this process on the tiny random LLaVA, and served."""

from __future__ import annotations

from pathlib import Path

import pytest

import studio_fixtures as sf


@pytest.fixture(scope="module")
def app_module(request, tmp_path_factory):
    """app.py with the tiny model loaded and a generated example task as the examples root.
    A test module may set `UPLOAD_GRACE_S` (test_app.py: 0, uploads go as soon as their call
    ends: one caller, nobody shares its files) for studio.server while its tests run."""
    import studio.server

    grace = getattr(request.module, "UPLOAD_GRACE_S", studio.server.UPLOAD_GRACE_S)
    saved, studio.server.UPLOAD_GRACE_S = studio.server.UPLOAD_GRACE_S, grace
    try:
        with sf.app_on_tiny_model(tmp_path_factory.mktemp("app")) as app:
            yield app
    finally:
        studio.server.UPLOAD_GRACE_S = saved


@pytest.fixture(scope="module")
def served(app_module):
    """The app's URL on 127.0.0.1 (a module may define its own `served`)."""
    with sf.launched(app_module) as url:
        yield url


@pytest.fixture(scope="module")
def task_image(tmp_path_factory) -> Path:
    """A held-out picture of the colour task's green class (modules that want another picture
    define their own task_image)."""
    path = tmp_path_factory.mktemp("query") / "query.png"
    sf.colour_image(sf.TASK_COLOURS["green"], 2).save(path)
    return path
