"""Uploads are deleted soon after the call that read them, never under another call: gradio
stores uploads by content, so two visitors sending the same picture share one file."""

from __future__ import annotations

import os
import time

import pytest

import studio.server as server

pytestmark = pytest.mark.app


def test_a_shared_upload_outlives_its_call_by_the_grace_then_goes(tmp_path, monkeypatch):
    monkeypatch.setattr(server, "UPLOAD_GRACE_S", 0.3)
    monkeypatch.setattr(server, "_SPENT", {})
    shared = tmp_path / "sha" / "cat.png"
    shared.parent.mkdir()
    shared.write_bytes(b"png")
    server.discard_upload(str(shared))  # A's call ended; B uploaded the same picture
    assert shared.exists()  # B's call can still read it
    time.sleep(0.4)
    server.discard_upload(None)  # any later call sweeps what is due
    assert not shared.exists()


def test_a_file_uploaded_again_after_its_last_call_is_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(server, "UPLOAD_GRACE_S", 0.2)
    monkeypatch.setattr(server, "_SPENT", {})
    path = tmp_path / "dog.png"
    path.write_bytes(b"png")
    server.discard_upload(str(path))
    time.sleep(0.05)
    os.utime(path)  # within the grace, gradio wrote it again (a new upload of the same content)
    time.sleep(0.3)  # the grace has passed: the sweeper found it written after its last call
    server.discard_upload(None)
    assert path.exists()
    assert str(path) not in server._SPENT  # forgotten: the new upload's own call discards it


def test_with_no_grace_an_upload_goes_when_its_call_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(server, "UPLOAD_GRACE_S", 0.0)
    monkeypatch.setattr(server, "_SPENT", {})
    path = tmp_path / "owl.png"
    path.write_bytes(b"png")
    time.sleep(0.01)
    server.discard_upload(str(path))
    assert not path.exists()


def test_the_last_upload_goes_without_a_later_call(tmp_path, monkeypatch):
    monkeypatch.setattr(server, "UPLOAD_GRACE_S", 0.2)
    monkeypatch.setattr(server, "_SPENT", {})
    path = tmp_path / "fox.png"
    path.write_bytes(b"png")
    server.discard_upload(str(path))
    deadline = time.monotonic() + 5
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not path.exists()  # the sweeper took it
