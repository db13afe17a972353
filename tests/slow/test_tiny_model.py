"""The shipped tiny VLM (assets/tiny): loads offline, has the promised shape and answers
held-out generated questions well."""

import os

import pytest
import torch

MODEL_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "assets", "tiny")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny():
    from savs.tiny.evaluate import load

    torch.set_num_threads(2)
    return load(MODEL_DIR)


def test_files_and_size():
    size = os.path.getsize(os.path.join(MODEL_DIR, "model.safetensors"))
    assert size < 25 * 1024 * 1024
    from safetensors import safe_open

    with safe_open(os.path.join(MODEL_DIR, "model.safetensors"), "pt") as f:
        key = next(iter(f.keys()))
        assert f.get_tensor(key).dtype == torch.float16


def test_architecture(tiny):
    model, processor = tiny
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    text = model.config.get_text_config()
    assert text.num_hidden_layers >= 8 and text.num_attention_heads >= 8
    assert type(model.config.vision_config).__name__ == "SiglipVisionConfig"
    layers = model.model.language_model.layers
    assert len(layers) == text.num_hidden_layers
    assert layers[0].self_attn.o_proj.in_features % text.num_attention_heads == 0


def test_chat_template_variants(tiny):
    _, processor = tiny
    one = [
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "text", "text": "What colour is the shape?"}],
        }
    ]
    s = processor.apply_chat_template(one, add_generation_prompt=True, tokenize=False)
    assert s.count("<image>") == 1 and s.endswith("<|assistant|>\n")
    two = [
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "Same?"}],
        }
    ]
    assert (
        processor.apply_chat_template(two, add_generation_prompt=True, tokenize=False).count(
            "<image>"
        )
        == 2
    )
    text_only = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Ünïcode ✓ any text"}]},
    ]
    s = processor.apply_chat_template(text_only, add_generation_prompt=True, tokenize=False)
    ids = processor.tokenizer(s)["input_ids"]
    assert processor.tokenizer.decode(ids) == s
    assert processor.tokenizer.pad_token is not None and processor.tokenizer.padding_side == "left"


def test_left_padding_batch_matches_single(tiny):
    from savs.tiny.evaluate import answer
    from savs.tiny.scenes import make_scene

    model, processor = tiny
    scenes = [make_scene(9_500_000 + i) for i in range(3)]
    qs = [
        "How many shapes?",
        "Describe the image.",
        f"What colour is the {scenes[2].objects[0].shape}?",
    ]
    batched = answer(model, processor, [s.image for s in scenes], qs, max_new_tokens=24)
    single = [
        answer(model, processor, [s.image], [q], max_new_tokens=24)[0] for s, q in zip(scenes, qs)
    ]
    assert batched == single


# Issue 3's target for the shipped weights' greedy answers on held-out scenes: >= 0.90 exact
# match on every question type (captions too, though the issue sets no figure for them).
# measured (n=50): colour 1.00, shape 0.98, count 1.00, position 1.00, exists 1.00, caption 1.00
EXACT_MATCH_FLOORS = {
    "colour": 0.90,
    "shape": 0.90,
    "count": 0.90,
    "position": 0.90,
    "exists": 0.90,
    "caption": 0.90,
}


def test_held_out_exact_match(tiny):
    from savs.tiny.evaluate import QA_TYPES, evaluate

    model, processor = tiny
    res = evaluate(model, processor, n=50, types=(*QA_TYPES, "caption"))
    assert set(res) == set(EXACT_MATCH_FLOORS)
    for qtype, r in res.items():
        assert r["exact_match"] >= EXACT_MATCH_FLOORS[qtype], (qtype, r)
