"""savs.images (issue 21): the loader decodes the first frame only, scales 16-bit images to
8-bit,
refuses formats outside IMAGE_FORMATS before their plugin parses them, and leaves Pillow's own
bomb check set to our limit for every other Image.open in the process."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import EpsImagePlugin, GifImagePlugin, Image

import savs.images  # noqa: F401 - sets Image.MAX_IMAGE_PIXELS
from savs.errors import DataError
from savs.images import open_image
from savs.limits import MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE

pytestmark = pytest.mark.unit


def test_an_animation_decodes_its_first_frame_only(tmp_path, monkeypatch):
    frames = [Image.new("RGB", (64, 64), (10 * i, 0, 255 - 10 * i)) for i in range(20)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=40)
    seeks = []
    real = GifImagePlugin.GifImageFile._seek
    monkeypatch.setattr(
        GifImagePlugin.GifImageFile,
        "_seek",
        lambda self, frame, *a, **k: (seeks.append(frame), real(self, frame, *a, **k))[1],
    )
    img = open_image(path)
    assert img.getpixel((0, 0)) == (0, 0, 255) and img.size == (64, 64)
    assert seeks == [0]  # frame 1 is never parsed (`is_animated` would parse it)


def test_a_big_16_bit_png_is_shrunk_and_scaled_not_clipped(tmp_path):
    arr = np.zeros((2 * MAX_IMAGE_SIDE, 2 * MAX_IMAGE_SIDE), dtype=np.uint16)
    arr[:, arr.shape[1] // 2 :] = 40_000
    arr[:, : arr.shape[1] // 2] = 2_000
    Image.fromarray(arr).save(tmp_path / "scan16.png")
    assert Image.open(tmp_path / "scan16.png").mode.startswith("I")
    img = open_image(tmp_path / "scan16.png")
    assert img.mode == "RGB" and max(img.size) == MAX_IMAGE_SIDE
    # dark and light halves (clipping to 8 bits made both white); resampling rings a little
    assert img.getpixel((0, 0))[0] < 10 and img.getpixel((img.width - 1, 0))[0] > 245


def test_eps_named_gif_is_refused_before_its_plugin_parses_it(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", lambda self: ran.append("open"))
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: ran.append("gs"))
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "EPS")
    path = tmp_path / "x.gif"
    path.write_bytes(buf.getvalue())
    with pytest.raises(DataError, match="x.gif: not a readable image"):
        open_image(path)
    assert ran == []


def test_pillow_bomb_check_is_our_limit(tmp_path):
    assert Image.MAX_IMAGE_PIXELS == MAX_IMAGE_PIXELS
    side = int((2 * MAX_IMAGE_PIXELS) ** 0.5) + 1  # past twice the limit: Pillow refuses itself
    Image.new("1", (side, side)).save(tmp_path / "bomb.png")
    with pytest.raises(Image.DecompressionBombError):
        Image.open(tmp_path / "bomb.png")  # any Image.open in the process, not only ours
    with pytest.raises(DataError, match="too large to decode safely"):
        open_image(tmp_path / "bomb.png")
