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


def test_another_picture_replaces_the_classify_image_in_one_step_and_is_checked_first(tmp_path):
    """'Another picture': a good picture's path goes to the image box as it is; a
    decompression bomb or a non-image is refused in words (no path), its upload deleted."""
    import gradio as gr

    import studio.server
    from studio.steps.classify import replace_image_cb

    import studio_fixtures as sf

    good = tmp_path / "good.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(good)
    assert replace_image_cb(str(good)) == str(good)
    fake = tmp_path / "x.gif"
    fake.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n")
    saved, studio.server.UPLOAD_GRACE_S = studio.server.UPLOAD_GRACE_S, 0
    try:
        for refused, words in ((sf.bomb_png(tmp_path), "too large"), (fake, "not a readable")):
            with pytest.raises(gr.Error) as error:
                replace_image_cb(str(refused))
            assert words in str(error.value) and str(tmp_path) not in str(error.value)
            assert not refused.exists()  # the refused upload is gone
    finally:
        studio.server.UPLOAD_GRACE_S = saved
