"""Fixtures of the browser tier."""

from __future__ import annotations

import pytest

import studio_fixtures as sf


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """The app on the tiny random LLaVA, served on 127.0.0.1."""
    with sf.app_on_tiny_model(tmp_path_factory.mktemp("browser")) as app, sf.launched(app) as url:
        yield url
