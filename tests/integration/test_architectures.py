"""ModelAdapter on every supported architecture: tiny random models built offline
(tests/tiny_models.py), each checked for what SAVs relies on: the hook reads exactly the o_proj
input, leaves the model untouched, batching and early exit change nothing, and fit/predict work
on image+text, text-only and interleaved multi-image inputs."""

from __future__ import annotations

from functools import cache

import pytest
import torch
from PIL import Image

import savs
from savs import Example, ModelAdapter, ModelError, Prediction
from savs.heads import capture_heads

import tiny_models

# PaliGemma's processor builds training labels with a numpy idiom numpy 2 warns about
pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]

torch.set_num_threads(1)  # the machine is shared; tiny models gain nothing from more

ARCHS = list(tiny_models.BUILDERS)
VLMS = [name for name in ARCHS if name in tiny_models.VLMS]
TEXT_LMS = [name for name in ARCHS if name in tiny_models.TEXT_LMS]
# PaliGemma's processor refuses text-only examples in a batch that has images (see adapter)
MIXES_TEXT_ONLY = [name for name in VLMS if name != "paligemma"]


# Models whose tests read their processor's own tiling (tiles, anyres grids): they run with
# max_image_tokens=0, as the resolution policy's classification default would give one tile /
# a 1x1 grid (the policy has its own tests: test_image_policy_models.py).
OWN_TILING = {"idefics3_tiled", "smolvlm_tiled", "llava_onevision"}


@cache
def adapter_for(name: str) -> ModelAdapter:
    model, processor = {**tiny_models.BUILDERS, **tiny_models.VARIANTS}[name]()
    tokens = 0 if name in OWN_TILING else None
    return ModelAdapter(model, processor, f"tiny-{name}", max_image_tokens=tokens)


def picture(rgb: tuple[int, int, int], size: tuple[int, int] = (32, 32)) -> Image.Image:
    """A solid colour with a darker square, so that no two images are the same."""
    img = Image.new("RGB", size, rgb)
    img.paste(tuple(c // 2 for c in rgb), (4, 4, 12, 12))
    return img


RED, GREEN, BLUE = picture((220, 30, 30)), picture((30, 200, 40), (40, 28)), picture((30, 40, 220))


def mixed_batch(name: str) -> list[Example]:
    """Examples of different text lengths and image counts (left padding will differ)."""
    if name in TEXT_LMS:
        return [
            Example("hi"),
            Example("Is this a cat or a dog? Classify the request."),
            Example("red green blue"),
        ]
    batch = [
        Example("What colour is it?", images=(RED,)),
        Example("First <image> then <image>: which one is blue?", images=(GREEN, BLUE)),
        Example("<image><image><image> count", images=(BLUE, RED, GREEN)),
    ]
    if name in MIXES_TEXT_ONLY:
        batch.insert(1, Example("Just some text, and rather longer than the other prompts."))
    return batch


def count_pre_hooks(model: torch.nn.Module) -> int:
    return sum(len(m._forward_pre_hooks) for m in model.modules())


# --- 6. structure ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ARCHS)
def test_structure_comes_from_the_text_config_and_o_proj(name):
    adapter = adapter_for(name)
    model = adapter.model
    text = model.config.get_text_config()
    decoder_layers = model.get_decoder().layers
    assert adapter.num_layers == text.num_hidden_layers == len(decoder_layers) == 3
    # query heads, not the (fewer) key/value heads of grouped-query attention
    attn = decoder_layers[0].self_attn
    assert text.num_key_value_heads < text.num_attention_heads
    assert attn.k_proj.out_features < attn.q_proj.out_features
    assert adapter.num_heads == text.num_attention_heads == 4
    assert adapter.head_dim == attn.o_proj.in_features // 4
    assert adapter.o_projs == [layer.self_attn.o_proj for layer in decoder_layers]
    if name == "gemma3":  # head_dim set apart from the hidden size: only in_features tells
        assert adapter.head_dim == 24 and text.hidden_size // text.num_attention_heads == 16


@pytest.mark.parametrize("name", VLMS)
def test_vision_tower_is_ignored(name):
    adapter = adapter_for(name)
    vision_attention = [
        n
        for n, m in adapter.model.named_modules()
        if isinstance(m, torch.nn.Linear) and ("vision" in n or "visual" in n) and ("attn" in n)
    ]
    # the tower has as many layers as the decoder, so the layer count alone cannot tell them apart
    vision_lists = [
        n
        for n, m in adapter.model.named_modules()
        if isinstance(m, torch.nn.ModuleList)
        and len(m) == adapter.num_layers
        and ("vision" in n or "visual" in n)
    ]
    assert vision_attention and vision_lists
    chosen = {id(p) for p in adapter.o_projs}
    assert not any(id(adapter.model.get_submodule(n)) in chosen for n in vision_attention)
    assert adapter.is_vlm


@pytest.mark.parametrize("name", TEXT_LMS)
def test_text_lm_is_not_a_vlm(name):
    assert not adapter_for(name).is_vlm


# --- 1. the hook reads exactly the o_proj input ----------------------------------------------


@pytest.mark.parametrize("name", ARCHS)
def test_read_heads_is_the_o_proj_input_at_the_last_token(name):
    adapter = adapter_for(name)
    inputs = adapter.encode(mixed_batch(name))
    assert (inputs["attention_mask"][:, -1] == 1).all()  # left padding: last token is real
    full_inputs: dict[int, torch.Tensor] = {}
    handles = [
        p.register_forward_pre_hook(
            lambda module, args, i=i: full_inputs.__setitem__(i, args[0].detach().clone())
        )
        for i, p in enumerate(
            adapter.model.get_decoder().layers[j].self_attn.o_proj
            for j in range(adapter.num_layers)
        )
    ]
    try:
        with torch.no_grad():
            adapter.model(**inputs, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    heads = adapter.read_heads(inputs, early_exit=False)  # [B, L, H, d]
    batch = inputs["input_ids"].shape[0]
    assert heads.shape == (batch, adapter.num_layers, adapter.num_heads, adapter.head_dim)
    for layer in range(adapter.num_layers):
        seq = full_inputs[layer]  # [B, T, H * d]
        assert seq.shape[:2] == inputs["input_ids"].shape
        expected = seq[:, -1].reshape(batch, adapter.num_heads, adapter.head_dim)
        torch.testing.assert_close(heads[:, layer], expected, rtol=0, atol=1e-6)
        # and not some other token's: the last token differs from the one before it
        assert not torch.allclose(seq[:, -1], seq[:, -2])


@pytest.mark.parametrize("name", TEXT_LMS)
def test_read_heads_matches_attention_recomputed_from_q_k_v(name):
    """Independent of any hook on o_proj: recompute each head's attention output at the last
    token from q/k/v (RoPE, grouped-query attention, causal + padding mask) and compare."""
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    adapter = adapter_for(name)
    inputs = adapter.encode(mixed_batch(name))  # left-padded
    seen: dict[int, tuple] = {}

    def keep(layer):
        def hook(module, args, kwargs):
            seen[layer] = (
                kwargs["hidden_states"] if "hidden_states" in kwargs else args[0],
                kwargs["position_embeddings"],
            )

        return hook

    layers = adapter.model.get_decoder().layers
    handles = [
        layer.self_attn.register_forward_pre_hook(keep(i), with_kwargs=True)
        for i, layer in enumerate(layers)
    ]
    try:
        heads = adapter.read_heads(inputs, early_exit=False)  # [B, L, H, d]
    finally:
        for h in handles:
            h.remove()
    batch, length = inputs["input_ids"].shape
    num_heads, head_dim = adapter.num_heads, adapter.head_dim
    visible = (
        torch.tril(torch.ones(length, length, dtype=torch.bool))
        & inputs["attention_mask"].bool()[:, None, :]
    )  # [B, T, T]
    for i, layer in enumerate(layers):
        attn = layer.self_attn
        hidden, (cos, sin) = seen[i]  # [B, T, D]
        with torch.no_grad():
            q = attn.q_proj(hidden).view(batch, length, num_heads, head_dim).transpose(1, 2)
            k = attn.k_proj(hidden).view(batch, length, -1, head_dim).transpose(1, 2)
            v = attn.v_proj(hidden).view(batch, length, -1, head_dim).transpose(1, 2)
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        groups = num_heads // k.shape[1]
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
        scores = q @ k.transpose(-1, -2) / head_dim**0.5  # [B, H, T, T]
        scores = scores.masked_fill(~visible[:, None], float("-inf"))
        out = torch.softmax(scores, dim=-1) @ v  # [B, H, T, d]
        torch.testing.assert_close(heads[:, i], out[:, :, -1], rtol=0, atol=1e-5)


# --- 2. hooks change nothing and always go away -----------------------------------------------


@pytest.mark.parametrize("name", ARCHS)
def test_hooks_leave_logits_unchanged_and_are_removed(name):
    adapter = adapter_for(name)
    model = adapter.model
    inputs = adapter.encode(mixed_batch(name)[:2])
    before = count_pre_hooks(model)
    with torch.no_grad():
        plain = model(**inputs, use_cache=False).logits
        with capture_heads(adapter.o_projs) as captured:
            assert count_pre_hooks(model) == before + adapter.num_layers
            hooked = model(**inputs, use_cache=False).logits
    assert len(captured) == adapter.num_layers
    assert torch.equal(plain, hooked)
    adapter.read_heads(inputs, layers=[0], early_exit=True)  # stops with an exception inside
    adapter.read_heads(inputs, early_exit=False)
    assert count_pre_hooks(model) == before
    with torch.no_grad():
        assert torch.equal(plain, model(**inputs, use_cache=False).logits)


@pytest.mark.parametrize("name", ARCHS)
def test_hooks_are_removed_when_the_forward_raises(name):
    adapter = adapter_for(name)
    inputs = adapter.encode(mixed_batch(name)[:1])
    broken = dict(inputs, input_ids=inputs["input_ids"].clone())
    broken["input_ids"][0, -1] = adapter.model.get_input_embeddings().num_embeddings + 7
    before = count_pre_hooks(adapter.model)
    with pytest.raises((IndexError, RuntimeError, ValueError)):
        adapter.read_heads(broken)
    assert count_pre_hooks(adapter.model) == before


# --- 4. batching and left padding change nothing ----------------------------------------------


@pytest.mark.parametrize("name", ARCHS)
def test_batched_equals_unbatched(name):
    adapter = adapter_for(name)
    examples = mixed_batch(name)
    inputs = adapter.encode(examples)
    assert (inputs["attention_mask"] == 0).any()  # some rows really are padded
    batched = adapter.read_heads(inputs)
    for row, example in enumerate(examples):
        alone = adapter.read_heads(adapter.encode([example]))
        torch.testing.assert_close(batched[row : row + 1], alone, rtol=0, atol=1e-4)
    # rows differ from each other: the comparison above is not trivially satisfied
    assert not torch.allclose(batched[0], batched[1], atol=1e-3)


# --- 5. early exit ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ARCHS)
def test_early_exit_equals_full_pass_and_skips_deeper_layers(name):
    adapter = adapter_for(name)
    inputs = adapter.encode(mixed_batch(name)[:2])
    full = adapter.read_heads(inputs, early_exit=False)  # [B, L, H, d]
    calls = {"first": 0, "last": 0, "lm_head": 0}

    def counter(key):
        return lambda *args: calls.__setitem__(key, calls[key] + 1)

    layers = adapter.model.get_decoder().layers
    handles = [
        layers[0].register_forward_hook(counter("first")),
        layers[-1].register_forward_hook(counter("last")),
        adapter.model.get_output_embeddings().register_forward_hook(counter("lm_head")),
    ]
    try:
        first = adapter.read_heads(inputs, layers=[0], early_exit=True)
        # stopped inside layer 0 (at its o_proj): no decoder layer finished, no logits
        assert calls == {"first": 0, "last": 0, "lm_head": 0}
        middle = adapter.read_heads(inputs, layers=[1], early_exit=True)
        assert calls == {"first": 1, "last": 0, "lm_head": 0}
        adapter.read_heads(inputs, layers=[0], early_exit=False)
        assert calls == {"first": 2, "last": 1, "lm_head": 1}  # the counters do count
    finally:
        for h in handles:
            h.remove()
    assert first.shape == (full.shape[0], 1, adapter.num_heads, adapter.head_dim)
    torch.testing.assert_close(first, full[:, :1], rtol=0, atol=1e-6)
    torch.testing.assert_close(middle[:, 1], full[:, 1], rtol=0, atol=1e-6)
    assert not middle[:, 0].any()  # not requested: zeros


@pytest.mark.parametrize("name", ARCHS)
def test_half_precision_model_gives_fp32_heads_close_to_fp32(name):
    """GPUs run bf16: pixel values must follow the model's dtype, integer inputs
    (image_grid_thw, token types) must not, and the heads come back as fp32 on the CPU."""
    import copy

    adapter = adapter_for(name)
    half = ModelAdapter(
        copy.deepcopy(adapter.model).to(torch.bfloat16), adapter.processor, adapter.name
    )
    examples = mixed_batch(name)[-1:]
    inputs = half.encode(examples)
    assert all(
        v.dtype in (torch.bfloat16, torch.long, torch.int32, torch.bool)
        for v in inputs.values()
        if isinstance(v, torch.Tensor)
    )
    if "pixel_values" in inputs:
        assert inputs["pixel_values"].dtype == torch.bfloat16
    heads = half.read_heads(inputs)
    assert heads.dtype == torch.float32 and heads.device.type == "cpu"
    torch.testing.assert_close(
        heads, adapter.read_heads(adapter.encode(examples)), rtol=0.1, atol=2e-2
    )


# --- inputs: templates, interleaving, model-specific inputs ----------------------------------


@pytest.mark.parametrize("name", VLMS)
def test_interleaved_images_go_where_the_markers_are(name):
    adapter = adapter_for(name)
    text = adapter.render(Example("First <image> then <image> which?", images=(RED, BLUE)))
    image_token = adapter.processor.image_token
    if name == "gemma3":  # Gemma3 marks each image with its begin-of-image token
        image_token = adapter.processor.boi_token
    first, then, which = text.index("First"), text.index("then"), text.index("which?")
    positions = [i for i in range(len(text)) if text.startswith(image_token, i)]
    assert len(positions) == 2
    assert first < positions[0] < then < positions[1] < which
    # without markers, the images come first
    text = adapter.render(Example("which?", images=(RED,)))
    assert text.index(image_token) < text.index("which?")


@pytest.mark.parametrize("name", VLMS)
def test_image_tokens_match_image_features(name):
    """Every image's placeholder tokens are filled by its features: one forward per image
    count, which raises in transformers on any mismatch."""
    adapter = adapter_for(name)
    for images in [(RED,), (GREEN, BLUE), (BLUE, RED, GREEN)]:
        example = Example(" ".join("<image>" for _ in images) + " which?", images=images)
        heads = adapter.read_heads(adapter.encode([example]))
        assert torch.isfinite(heads).all()


def test_qwen2_vl_gets_mm_token_type_ids():
    adapter = adapter_for("qwen2_vl")
    inputs = adapter.encode([Example("what?", images=(RED,))])
    image_id = adapter.model.config.image_token_id
    assert torch.equal(inputs["mm_token_type_ids"] == 1, inputs["input_ids"] == image_id)
    assert (inputs["input_ids"] == image_id).sum() == 4  # 32x32 -> 4x4 patches -> 2x2 merged


def test_paligemma_has_no_chat_template_and_no_training_labels():
    adapter = adapter_for("paligemma")
    assert not adapter.processor.chat_template and not adapter.tokenizer.chat_template
    inputs = adapter.encode([Example("what colour?", images=(RED,))])
    assert "labels" not in inputs  # the processor adds them; the model would compute a loss
    assert "token_type_ids" in inputs
    assert (inputs["input_ids"] == adapter.processor.image_token_id).sum() == 16


def test_paligemma_refuses_a_batch_mixing_text_only_and_images():
    adapter = adapter_for("paligemma")
    with pytest.raises(ModelError, match="batch size 1"):
        adapter.encode([Example("what?", images=(RED,)), Example("only text")])


# --- 3. end to end --------------------------------------------------------------------------


def training_sets(name: str) -> dict[str, tuple[list[Example], Example]]:
    """Per input kind: (2 classes x 3 training examples, one query)."""

    def two_classes(make):
        train = [make(label, i) for label in ("warm", "cold") for i in range(3)]
        return train, make("warm", 3)

    shades = {"warm": (220, 40, 30), "cold": (30, 60, 220)}

    def shade(label, i):
        return picture(tuple(min(255, c + 9 * i) for c in shades[label]))

    words = {"warm": "sun fire red hot", "cold": "ice snow blue cold"}
    sets = {
        "text": two_classes(lambda label, i: Example(f"{words[label]} {'!' * i} which?", label))
    }
    if name in VLMS or name in tiny_models.VARIANTS:  # the variants are VLMs
        sets["image"] = two_classes(
            lambda label, i: Example("What colour?", label, (shade(label, i),))
        )
        sets["interleaved"] = two_classes(
            lambda label, i: Example(
                "Left <image> right <image> same?", label, (shade(label, i), shade(label, i + 1))
            )
        )
    return sets


@pytest.mark.parametrize("name", ARCHS)
def test_fit_and_predict_end_to_end(name):
    adapter = adapter_for(name)
    sets = training_sets(name)
    assert set(sets) == ({"text", "image", "interleaved"} if name in VLMS else {"text"})
    for kind, (train, query) in sets.items():
        classifier = savs.fit(adapter, train, k=4, batch_size=4)
        assert len(classifier.heads) == 4
        [prediction] = savs.predict(adapter, classifier, [query])
        assert isinstance(prediction, Prediction), kind
        assert prediction.label in {"warm", "cold"}
        assert sum(prediction.votes.values()) == 4


@pytest.mark.parametrize("name", TEXT_LMS)
def test_text_lm_given_an_image_raises_model_error(name):
    adapter = adapter_for(name)
    with pytest.raises(ModelError, match="text-only"):
        adapter.encode([Example("what colour?", images=(RED,))])


# --- save_pretrained -> load_model ------------------------------------------------------------


# Qwen2-VL, Qwen2.5-VL, SmolVLM and LLaVA-OneVision folders load image-only without torchvision
# (savs.models.processors; tests/integration/test_processors.py checks that part on its own)
@pytest.mark.parametrize(
    "name,auto_class",
    [(name, "AutoModelForImageTextToText") for name in VLMS]
    + [(name, "AutoModelForCausalLM") for name in TEXT_LMS],
)
def test_save_pretrained_then_load_model(name, auto_class, tmp_path):
    import transformers

    original = adapter_for(name)
    original.model.save_pretrained(tmp_path)
    original.processor.save_pretrained(tmp_path)
    loaded = savs.load_model(str(tmp_path), device="cpu")
    assert type(loaded.model) is type(original.model)
    mapping = getattr(transformers, auto_class)._model_mapping
    assert type(loaded.model) is mapping[type(original.model.config)]
    assert (loaded.num_layers, loaded.num_heads, loaded.head_dim, loaded.is_vlm) == (
        original.num_layers,
        original.num_heads,
        original.head_dim,
        original.is_vlm,
    )
    examples = mixed_batch(name)[:2]
    assert torch.equal(loaded.encode(examples)["input_ids"], original.encode(examples)["input_ids"])
    torch.testing.assert_close(
        loaded.read_heads(loaded.encode(examples)),
        original.read_heads(original.encode(examples)),
        rtol=0,
        atol=1e-6,
    )
