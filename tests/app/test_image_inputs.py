"""The app's image inputs (issue 21): a visitor's image reaches our own loader as the file it
was (never opened by gradio), and one upload event carries at most HOSTED_UPLOAD_FILES files.
App tier: these build gradio components (unit tests import no gradio)."""

from __future__ import annotations

import base64

import pytest
from gradio.data_classes import ImageData
from PIL import Image

from savs.errors import DataError
from savs.limits import HOSTED_UPLOAD_FILES
from studio.inputs import check_upload_count, visitor_image

pytestmark = pytest.mark.app


def test_the_apps_image_input_hands_over_the_file_unopened(tmp_path, monkeypatch):
    """visitor_image: an upload's path as it is; a webcam data URL becomes a file of its bytes.
    Image.open is never called (gr.Image opens and converts every upload)."""
    opened = []
    monkeypatch.setattr(Image, "open", lambda *a, **k: opened.append(a))
    box = visitor_image(sources=["webcam"], streaming=True)
    assert box.type == "filepath" and box.image_mode is None
    upload = tmp_path / "x.gif"
    upload.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n")
    assert box.preprocess(ImageData(path=str(upload), orig_name="x.gif")) == str(upload)
    frame = b"\xff\xd8 not really a jpeg"
    url = "data:image/jpeg;base64," + base64.b64encode(frame).decode()
    written = box.preprocess(ImageData(url=url))
    assert open(written, "rb").read() == frame
    assert box.preprocess(None) is None and opened == []


def test_too_many_files_in_one_upload_are_refused_before_reading():
    check_upload_count(["a.png"] * HOSTED_UPLOAD_FILES)
    with pytest.raises(DataError, match=f"at most {HOSTED_UPLOAD_FILES} at a time"):
        check_upload_count(["never-opened.png"] * (HOSTED_UPLOAD_FILES + 1))
