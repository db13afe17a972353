"""The pipeline on real-width VLMs (scripts/real_size.py): SmolVLM-256M's published widths,
tiles and processor settings with 2 text and 2 vision layers, random weights, built offline
into the test cache. Every step runs on a 640x480 photo-sized input (fit, predict, explain),
the image tokens are the processor's real counts (one tile: 64; 2 x 2 tiles + global: 320;
the processor's own splitting: 13 tiles, 832), and predict replays the fit's policy. The other
four layouts (LLaVA-OV-0.5B, Qwen2-VL-2B, PaliGemma-3B, Gemma3-4B) run fit, predict and
explain the same way, their image tokens all mapped to patches."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from PIL import Image
from test_image_policy_models import counting_encodes

import savs
from savs import Example
from savs.patches import image_token_id

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def real_size():
    spec = importlib.util.spec_from_file_location("real_size", ROOT / "scripts" / "real_size.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def folder() -> str:
    torch.set_num_threads(2)
    return str(real_size().build("smolvlm-256m", layers=2, vision_layers=2))


def photo(rgb: tuple[int, int, int], i: int) -> Image.Image:
    img = Image.new("RGB", (640, 480), rgb)
    img.paste(tuple(c // 2 for c in rgb), (40 * i, 30, 40 * i + 200, 230))
    return img


EXAMPLES = [
    Example("What colour is it?", label=name, images=(photo(rgb, i),))
    for name, rgb in (("red", (220, 30, 30)), ("blue", (30, 40, 220)))
    for i in range(2)
]


def image_tokens(adapter, image: Image.Image) -> int:
    inputs = adapter.encode([Example("What colour?", images=(image,))])
    # the model's own placeholder (Gemma3's processor names its begin-of-image token instead)
    return int((inputs["input_ids"] == image_token_id(adapter)).sum())


def test_the_real_processor_counts(folder):
    model = savs.load_model(folder, device="cpu")
    assert (model.num_heads, model.head_dim, model.full_layers) == (9, 64, 2)
    image = EXAMPLES[0].images[0]
    assert image_tokens(model, image) == 64  # the classification default: one tile
    assert image_tokens(model.with_image_tokens(320), image) == 320  # 2 x 2 tiles + global
    assert image_tokens(model.with_image_tokens(0), image) == 832  # 4 x 3 tiles + global


def test_fit_predict_explain_at_real_width(folder, monkeypatch):
    model = savs.load_model(folder, device="cpu", max_image_tokens=64)
    clf = savs.fit(model, EXAMPLES, k=4)
    assert clf.config.max_image_tokens == 64 and clf.k == 4
    seen = counting_encodes(monkeypatch)
    wider = savs.load_model(folder, device="cpu", max_image_tokens=320)
    [prediction] = savs.predict(wider, clf, EXAMPLES[:1])  # replays the fit's one tile
    assert seen == [64] and prediction.label in ("red", "blue")
    explanations = savs.explain(model, clf, EXAMPLES[0])
    assert [(e.layer, e.head) for e in explanations] == [tuple(h) for h in clf.heads]
    for e in explanations:
        assert len(e.attention) == len(e.tokens) and abs(sum(e.attention) - 1) < 1e-3


# The other real-size layouts: published widths and processor settings, 2 text and 2 vision
# layers, a vocabulary cut to the small test tokenizer's (the embedding is most of a full
# build's size: 2.7 GB for Gemma3-4B): fit, predict (what a live frame runs) and explain, with
# every image token but LLaVA-OneVision's row ends mapped to a patch.
OTHER_LAYOUTS = {  # name: image tokens of a 640 x 480 photo at the classification default
    "llava-ov-0.5b": 1317,
    "qwen2-vl-2b": 234,
    "paligemma-3b": 256,
    "gemma3-4b": 256,
}


@pytest.mark.parametrize("name", sorted(OTHER_LAYOUTS))
def test_every_real_size_layout_fits_predicts_and_explains(name):
    torch.set_num_threads(2)
    folder = str(real_size().build(name, layers=2, vision_layers=2, vocab=1024))
    model = savs.load_model(folder, device="cpu")
    tokens = image_tokens(model, EXAMPLES[0].images[0])
    assert model.full_layers == 2 and tokens == OTHER_LAYOUTS[name]
    clf = savs.fit(model, EXAMPLES, k=3)
    expected = clf.predict_activations(savs.extract(model, EXAMPLES))
    assert [p.label for p in savs.predict(model, clf, EXAMPLES)] == [p.label for p in expected]
    [e, *_] = savs.explain(model, clf, EXAMPLES[0])
    newlines = sum(t.endswith("newline>") for t in e.tokens)
    assert "<image>" not in e.tokens  # every image token's place is known
    assert sum(p is not None for p in e.patches) == tokens - newlines > 0
