"""studio.upload_progress: gradio's records of upload ids are dropped once no one can read them
(gradio 6.31 kept an Event for every id any visitor asked about, for ever)."""

from __future__ import annotations

import asyncio
import threading
import uuid

import gradio as gr
import pytest
from fastapi.testclient import TestClient
from gradio.route_utils import FileUploadProgress
from gradio.routes import App

import studio.upload_progress as up

pytestmark = pytest.mark.app


def _ask(records: FileUploadProgress, upload_id: str) -> None:
    """What gradio's route does for an id: wait up to its timeout for the upload to start."""

    async def ask() -> None:
        try:
            await asyncio.wait_for(records.is_tracked(upload_id), timeout=0.05)
        except TimeoutError:
            pass

    asyncio.run(ask())


@pytest.mark.parametrize("tidy", [True, False], ids=["tidy", "gradio"])
def test_an_id_asked_about_and_never_uploaded_is_dropped(tidy):
    records = up.TidyUploadProgress() if tidy else FileUploadProgress()
    for _ in range(5):
        _ask(records, uuid.uuid4().hex * 100)
    assert len(records._signals) == (0 if tidy else 5)  # gradio's own keeps them all


def test_a_finished_stream_drops_its_id_and_at_most_max_tracked_are_kept(monkeypatch):
    monkeypatch.setattr(up, "MAX_TRACKED", 3)
    records = up.TidyUploadProgress()
    for name in "abcde":  # uploads sent with an id whose progress no one reads
        records.append(name, f"{name}.png", b"x")
    assert list(records._statuses) == ["c", "d", "e"] and set(records._signals) == {"c", "d", "e"}
    records.set_done("e")
    records.stop_tracking("e")  # the end of its progress stream
    assert "e" not in records._signals and "e" not in records._statuses
    _ask(records, "d")  # an id being uploaded: kept while tracked
    assert "d" in records._signals


def test_the_route_uses_the_tidy_records():
    records = up.tidy_upload_progress()
    assert type(records) is up.TidyUploadProgress and up.tidy_upload_progress() is records
    with gr.Blocks() as demo:
        gr.Textbox()
    client = TestClient(App.create_app(demo))
    before = len(records._signals)
    answers = []

    def ask() -> None:  # gradio waits 3 s for an upload that never comes, then 404
        answers.append(client.get(f"/gradio_api/upload_progress?upload_id={uuid.uuid4().hex}"))

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [a.status_code for a in answers] == [404] * 3
    assert len(records._signals) == before
