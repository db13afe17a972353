"""savs.explain on the bundled `tiny` model (a trained LLaVA-style VLM): every selected head's
attention row equals transformers' eager output_attentions, the votes equal savs.predict, and
the 16 image tokens map to the 4 x 4 patch grid (64x64 pictures, patch 16), which the overlay
paints onto the picture."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import savs
from savs.data import open_image
from savs.plots import attention_highlights, attention_overlay, patch_weights

pytestmark = pytest.mark.slow

torch.set_num_threads(1)
COLOUR = Path(__file__).resolve().parents[2] / "assets" / "examples" / "colour"


@pytest.fixture(scope="module")
def tiny():
    adapter = savs.load_model("tiny", device="cpu")
    train = savs.load_examples(str(COLOUR / "train.jsonl"))
    test = savs.load_examples(str(COLOUR / "test.jsonl"))[:3]
    return adapter, savs.fit(adapter, train, k=20), test


def test_explain_equals_eager_output_attentions_on_tiny(tiny):
    adapter, clf, test = tiny
    for example in test:
        prediction, explanations = savs.explain_prediction(adapter, clf, example)
        [plain] = savs.predict(adapter, clf, [example])
        assert (prediction.label, prediction.head_votes) == (plain.label, plain.head_votes)
        model = adapter.model
        before = model.config.get_text_config()._attn_implementation
        model.set_attn_implementation("eager")
        try:
            with torch.no_grad():
                out = model(**adapter.encode([example]), output_attentions=True, use_cache=False)
        finally:
            model.set_attn_implementation(before)
        assert len(explanations) == 20
        for e in explanations:
            torch.testing.assert_close(
                torch.tensor(e.attention), out.attentions[e.layer][0, e.head, -1], rtol=0, atol=1e-5
            )
        assert len({e.layer for e in explanations}) > 1  # several layers went eager at once


def test_tiny_image_tokens_form_its_patch_grid(tiny):
    adapter, clf, test = tiny
    [e, *_] = savs.explain(adapter, clf, test[0])
    image = [p for p in e.patches if p is not None]
    assert image == [(0, r, c) for r in range(4) for c in range(4)]
    assert patch_weights(e, 0).shape == (4, 4)
    picture = open_image(test[0].images[0], "test")
    overlay = attention_overlay(picture, e)
    assert overlay.size == picture.size and overlay.tobytes() != picture.convert("RGB").tobytes()
    assert max(w for _, w in attention_highlights(e)) == pytest.approx(1.0)
