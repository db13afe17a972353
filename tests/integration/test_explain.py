"""savs.explain on every supported architecture (tiny random models): each selected head's
attention row equals what transformers returns with eager attention and output_attentions, the
votes equal a plain savs.predict, only the selected layers run eager, the config always comes
back, and image positions map to the right image and patch on every image layout (grids, tiles
with a global view, anyres tiles with newline tokens), as the processor and model lay them out."""

from __future__ import annotations

import copy
import threading
from functools import cache
from math import isqrt

import pytest
import torch
from PIL import Image
from test_architectures import ARCHS, BLUE, RED, TEXT_LMS, adapter_for, picture, training_sets

import savs
from savs import Example, HeadExplanation, ModelError, explanation
from savs.explanation import IMPLEMENTATION, attention_modules, eager_attention, explain_prediction
from savs.models import ModelAdapter
from savs.patches import GLOBAL, SQUARE
from savs.plots import attention_highlights, attention_overlay, patch_weights

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]

torch.set_num_threads(1)

# image tokens per image -> (rows, columns), for the architectures whose patches can be mapped
GRIDS = {
    "llava": (4, 4),
    "paligemma": (4, 4),
    "gemma3": (2, 2),
    "qwen2_vl": (2, 2),
    "qwen2_5_vl": (2, 2),
    "idefics3": (2, 2),  # not split: one <global-img> run of 2 x 2 pixel-shuffled tokens
    "smolvlm": (2, 2),
}
# with the processor splitting images into tiles (tests/tiny_models.py VARIANTS)
TILED = ["idefics3_tiled", "smolvlm_tiled"]


@cache
def fitted(name: str) -> tuple[savs.SAVClassifier, Example]:
    """A classifier on image examples (text for text LMs) with every head kept: all layers."""
    kind = "text" if name in TEXT_LMS else "image"
    train, query = training_sets(name)[kind]
    adapter = adapter_for(name)
    return savs.fit(adapter, train, k=adapter.num_layers * adapter.num_heads, batch_size=6), query


def eager_reference(name: str, example: Example) -> tuple[torch.Tensor, ...]:
    """transformers' own eager attentions for the example: a copy of the model set to eager."""
    adapter = adapter_for(name)
    model = copy.deepcopy(adapter.model)
    model.set_attn_implementation("eager")
    with torch.no_grad():
        out = model(**adapter.encode([example]), output_attentions=True, use_cache=False)
    return out.attentions  # L x [1, H, T, T]


@pytest.mark.parametrize("name", ARCHS + TILED)
def test_attention_equals_eager_output_attentions_and_votes_equal_predict(name):
    adapter = adapter_for(name)
    clf, query = fitted(name)
    implementation = adapter.model.config.get_text_config()._attn_implementation
    prediction, explanations = explain_prediction(adapter, clf, query)
    reference = eager_reference(name, query)
    length = reference[0].shape[-1]
    assert [(e.layer, e.head) for e in explanations] == [tuple(h) for h in clf.heads]
    for e in explanations:
        expected = reference[e.layer][0, e.head, -1]  # [T]
        assert len(e.attention) == len(e.tokens) == len(e.patches) == length
        torch.testing.assert_close(torch.tensor(e.attention), expected, rtol=0, atol=1e-5)
        assert abs(sum(e.attention) - 1) < 1e-5
        # the vote is the head's nearest class mean
        assert e.vote == max(e.cosines, key=e.cosines.get)
        assert set(e.cosines) == set(clf.labels)
    # heads differ: the comparison is not of one row with itself
    assert len({tuple(e.attention) for e in explanations}) > 1
    [plain] = savs.predict(adapter, clf, [query])
    assert (prediction.label, prediction.votes) == (plain.label, plain.votes)
    assert prediction.head_votes == plain.head_votes
    assert [e.vote for e in explanations] == [v for _, v in plain.head_votes]
    assert savs.explain(adapter, clf, query) == explanations
    # the model is as it was
    assert adapter.model.config.get_text_config()._attn_implementation == implementation


@pytest.mark.parametrize("name", ["llava", "qwen2_vl", "llama_lm", "gemma3"])
def test_only_selected_layers_run_eager_and_deeper_layers_do_not_run(name, monkeypatch):
    adapter = adapter_for(name)
    modules = attention_modules(adapter)
    eager_calls: list[int] = []
    real = explanation.model_eager_function

    def counting(attn):
        fn = real(attn)
        if fn is None:
            return None

        def wrapped(m, *args, **kwargs):
            eager_calls.append(modules.index(m))
            return fn(m, *args, **kwargs)

        return wrapped

    monkeypatch.setattr(explanation, "model_eager_function", counting)
    ran: list[int] = []
    handles = [
        m.register_forward_pre_hook(lambda mod, a, i=i: ran.append(i))
        for i, m in enumerate(modules)
    ]
    try:
        inputs = adapter.encode([training_sets(name)["text"][1]])
        with eager_attention(adapter, [1]) as weights:
            adapter.read_heads(inputs, [1])
    finally:
        for h in handles:
            h.remove()
    assert eager_calls == [1]  # layer 0 ran, through SDPA
    assert ran == [0, 1]  # layer 2's attention never started (early exit in layer 1)
    assert list(weights) == [1] and weights[1].shape[:2] == (1, adapter.num_heads)


def test_attention_modules_are_found_once_per_model(monkeypatch):
    """The walk over every module to find each o_proj's attention runs once per model: every
    explained click repeated it. A view of the model (another resolution policy) shares it."""
    built = adapter_for("llama_lm")  # cached: other tests may have found its modules already
    adapter, other = (ModelAdapter(copy.deepcopy(built.model), built.processor, n) for n in "ab")
    walks: list[int] = []
    real = adapter.model.modules
    monkeypatch.setattr(adapter.model, "modules", lambda: walks.append(1) or real())
    first = attention_modules(adapter)
    first.clear()  # a caller's list is its own
    found = attention_modules(adapter)
    assert attention_modules(copy.copy(adapter)) == found
    assert walks == [1]
    assert [module.o_proj for module in found] == adapter.o_projs
    theirs = attention_modules(other)  # another model: its own modules
    assert [module.o_proj for module in theirs] == other.o_projs
    assert not any(a is b for a, b in zip(theirs, found))


def test_config_is_restored_when_the_forward_raises():
    adapter = adapter_for("llava")
    config = adapter.model.config.get_text_config()
    before = config._attn_implementation
    with pytest.raises(RuntimeError, match="boom"):
        with eager_attention(adapter, [0]):
            assert config._attn_implementation == IMPLEMENTATION
            raise RuntimeError("boom")
    assert config._attn_implementation == before


def test_a_plain_forward_in_another_thread_captures_nothing_and_is_unchanged():
    adapter = adapter_for("llama_lm")
    inputs = adapter.encode([Example("red green blue which?")])
    plain = adapter.read_heads(inputs)
    seen: dict = {}
    started, release = threading.Event(), threading.Event()

    def other_thread():
        with eager_attention(adapter, [0, 1, 2]) as weights:
            started.set()
            release.wait(30)
            seen["weights"] = weights

    thread = threading.Thread(target=other_thread)
    thread.start()
    started.wait(30)
    try:
        during = adapter.read_heads(inputs)  # config switched by the other thread
    finally:
        release.set()
        thread.join()
    torch.testing.assert_close(during, plain, rtol=0, atol=1e-5)
    assert seen["weights"] == {}  # this thread's forward went to SDPA, captured by no one


@pytest.mark.parametrize("name", sorted(GRIDS))
def test_image_positions_name_their_image_and_patch(name):
    adapter = adapter_for(name)
    clf, _ = fitted(name)
    example = Example("Left <image> right <image> same?", images=(RED, BLUE))
    [e, *_] = savs.explain(adapter, clf, example)
    rows, cols = GRIDS[name]
    image_id = explanation.image_token_id(adapter)
    ids = adapter.encode([example])["input_ids"][0].tolist()
    image_positions = [p for p, t in enumerate(ids) if t == image_id]
    assert [e.patches[p] for p in image_positions] == [
        (i, r, c) for i in range(2) for r in range(rows) for c in range(cols)
    ]
    assert e.tokens[image_positions[cols + 1]] == "<image 0 patch 1,1>"
    assert all(e.patches[p] is None for p in range(len(ids)) if p not in image_positions)
    between = e.tokens[image_positions[rows * cols - 1] : image_positions[rows * cols]]
    assert "right" in "".join(between)  # the text between the two images


def image_positions_of(adapter, example: Example) -> tuple[list[int], list[int], dict]:
    """The example's token ids, the positions of its image tokens, and its encoded inputs."""
    inputs = adapter.encode([example])
    ids = inputs["input_ids"][0].tolist()
    image_id = explanation.image_token_id(adapter)
    return ids, [p for p, t in enumerate(ids) if t == image_id], inputs


def assert_overlay_draws(picture: Image.Image, e: HeadExplanation, **kwargs) -> None:
    out = attention_overlay(picture, e, **kwargs)
    assert out.size == picture.size
    assert out.tobytes() != picture.convert("RGB").tobytes()


@pytest.mark.parametrize("name", TILED)
@pytest.mark.parametrize("size", [(90, 30), (40, 70)])  # (width, height): 1 x 3 and 3 x 2 tiles
def test_tiles_and_the_global_view_follow_the_processor_s_tile_geometry(name, size):
    adapter = adapter_for(name)
    clf, _ = fitted(name)
    image = picture((200, 90, 20), size)
    example = Example("What colour?", images=(image,))
    [e, *_] = savs.explain(adapter, clf, example)
    ids, image_positions, _ = image_positions_of(adapter, example)
    _, rows, cols = adapter.processor.image_processor.get_number_of_image_patches(*size[::-1])
    q = isqrt(adapter.processor.image_seq_len)  # one tile's tokens per side (after pixel shuffle)
    assert rows * cols > 1 and len(image_positions) == (rows * cols + 1) * q * q
    assert all(e.patches[p] is not None for p in image_positions)
    run = [(r, c) for r in range(q) for c in range(q)]  # a run's tokens: row by row
    for i in range(rows):
        for j in range(cols):  # the run after <row_i_col_j> is that tile's block of the grid
            start = ids.index(adapter.tokenizer.convert_tokens_to_ids(f"<row_{i + 1}_col_{j + 1}>"))
            got = [e.patches[p] for p in range(start + 1, start + 1 + q * q)]
            assert got == [(0, i * q + r, j * q + c) for r, c in run]
    start = ids.index(adapter.tokenizer.convert_tokens_to_ids("<global-img>"))
    assert [e.patches[p] for p in range(start + 1, start + 1 + q * q)] == [
        (0, r, c, GLOBAL) for r, c in run
    ]
    assert e.tokens[start + 1 + q + 1] == "<image 0 global 1,1>"
    assert patch_weights(e).shape == (rows * q, cols * q)  # the overlay draws the tiles
    assert patch_weights(e, view=GLOBAL).shape == (q, q)
    assert_overlay_draws(image, e)
    assert_overlay_draws(image, e, view=GLOBAL)


def test_pixel_shuffle_keeps_a_tile_s_tokens_row_by_row():
    """Idefics3's own connector: token t of a run holds the s x s block of vision patches at
    block row t // q, column t % q (what the tile mapping assumes)."""
    connector = adapter_for("idefics3_tiled").model.model.connector
    s, side = connector.scale_factor, 8  # 8 x 8 vision patches -> 4 x 4 tokens
    where = torch.tensor([[r, c] for r in range(side) for c in range(side)], dtype=torch.float)
    shuffled = connector.pixel_shuffle(where[None], s)[0]  # [q*q, 2*s*s]
    q = side // s
    expected = [[s * (t // q), s * (t % q)] for t in range(q * q)]  # each block's top left
    assert shuffled[:, :2].tolist() == expected


def packed_codes(adapter, inputs: dict, tiles: tuple[int, int]) -> list[list[float]]:
    """LLaVA-OneVision's own packing of features that name their place: (row, col, 0) on the
    base image, (row, col, 1) on the padded tile grid, (-1, -1, -1) for the newline."""
    g = (
        adapter.model.config.vision_config.image_size
        // adapter.model.config.vision_config.patch_size
    )
    th, tw = tiles
    features = torch.zeros(1 + th * tw, g * g, 3)
    for k in range(g * g):
        features[0, k] = torch.tensor([k // g, k % g, 0])
        for t in range(th * tw):
            features[1 + t, k] = torch.tensor([t // tw * g + k // g, t % tw * g + k % g, 1])
    packed, _ = adapter.model.model.pack_image_features(
        [features],
        inputs["image_sizes"],
        image_newline=torch.full((3,), -1.0),
        vision_aspect_ratio=adapter.model.config.vision_aspect_ratio,
    )
    return packed[0].tolist()  # [tokens, 3]


@pytest.mark.parametrize("size", [(60, 30), (30, 60), (50, 30), (32, 32)])  # (width, height)
def test_anyres_base_view_unpadded_tiles_and_newlines_as_the_model_packs_them(size):
    from transformers.image_processing_utils import select_best_resolution

    adapter = adapter_for("llava_onevision")
    clf, _ = fitted("llava_onevision")
    image = picture((200, 90, 20), size)
    example = Example("What colour?", images=(image,))
    [e, *_] = savs.explain(adapter, clf, example)
    ids, image_positions, inputs = image_positions_of(adapter, example)
    g, tile = 4, 32  # base grid side, tile size (tests/tiny_models.py)
    pinpoints = adapter.processor.image_processor.image_grid_pinpoints
    th, tw = (x // tile for x in select_best_resolution(size[::-1], pinpoints))
    cells = [e.patches[p] for p in image_positions]
    assert cells[: g * g] == [(0, r, c, GLOBAL) for r in range(g) for c in range(g)]
    rest = image_positions[g * g :]
    rows = sum(e.patches[p] is None for p in rest)  # one newline per row
    cols = (len(rest) - rows) // rows
    assert [e.patches[p] for p in rest if e.patches[p] is not None] == [
        (0, r, c) for r in range(rows) for c in range(cols)
    ]
    assert [e.tokens[p] for p in rest[cols :: cols + 1]] == ["<image 0 newline>"] * rows
    # the tile grid (th x tw tiles of g x g) with the padding of one side taken off
    assert (rows == th * g and cols <= tw * g) or (cols == tw * g and rows <= th * g)
    codes = packed_codes(adapter, inputs, (th, tw))
    assert len(codes) == len(image_positions)
    offsets = set()
    for code, p in zip(codes, image_positions):
        patch = e.patches[p]
        if patch is None:
            assert code == [-1, -1, -1]
        elif len(patch) == 4:
            assert code == [patch[1], patch[2], 0]
        else:
            assert code[2] == 1
            offsets.add((code[0] - patch[1], code[1] - patch[2]))
    assert len(offsets) == 1  # the same padding off every row and every column
    assert patch_weights(e).shape == (rows, cols)
    assert_overlay_draws(image, e)
    merged = [t for t, _ in attention_highlights(e)]
    assert merged.count("<image 0>") == 1  # the newlines belong to the image


def test_several_llava_onevision_images_are_padded_squares_with_a_newline_each():
    adapter = adapter_for("llava_onevision")
    clf, _ = fitted("llava_onevision")
    wide = picture((200, 90, 20), (60, 30))
    example = Example("Left <image> right <image> same?", images=(wide, RED))
    [e, *_] = savs.explain(adapter, clf, example)
    _, image_positions, _ = image_positions_of(adapter, example)
    g = 4
    assert [e.patches[p] for p in image_positions] == [
        *[(0, r, c, SQUARE) for r in range(g) for c in range(g)],
        None,
        *[(1, r, c, SQUARE) for r in range(g) for c in range(g)],
        None,
    ]
    assert [e.tokens[p] for p in image_positions[g * g :: g * g + 1]] == [
        "<image 0 newline>",
        "<image 1 newline>",
    ]
    assert patch_weights(e, 1).shape == (g, g)
    assert_overlay_draws(wide, e)
    assert_overlay_draws(RED, e, image_index=1)


def test_text_positions_are_the_decoded_tokens():
    adapter = adapter_for("qwen2_lm")
    clf, query = fitted("qwen2_lm")
    [e, *_] = savs.explain(adapter, clf, query)
    ids = adapter.encode([query])["input_ids"][0].tolist()
    assert "".join(e.tokens) == adapter.tokenizer.decode(ids)
    assert all(p is None for p in e.patches)


def test_to_json_has_the_documented_keys():
    adapter = adapter_for("llava")
    clf, query = fitted("llava")
    [e, *_] = savs.explain(adapter, clf, query)
    assert isinstance(e, HeadExplanation)
    data = e.to_json()
    assert set(data) == {"layer", "head", "vote", "cosines", "attention", "tokens", "patches"}
    image_patches = [p for p in data["patches"] if p is not None]
    assert len(image_patches) == 16 and all(
        isinstance(p, list) and len(p) == 3 for p in image_patches
    )


def test_a_classifier_of_another_model_is_refused():
    clf, query = fitted("llava")
    with pytest.raises(savs.ClassifierError):
        savs.explain(adapter_for("qwen2_vl"), clf, query)


def test_an_attention_without_an_eager_function_is_refused(monkeypatch):
    monkeypatch.setattr(explanation, "model_eager_function", lambda attn: None)
    clf, query = fitted("llava")
    with pytest.raises(ModelError, match="eager"):
        savs.explain(adapter_for("llava"), clf, query)
    assert adapter_for("llava").model.config.get_text_config()._attn_implementation == "sdpa"


def test_a_boolean_sdpa_mask_is_turned_into_eager_s_additive_mask():
    """A selected layer handed SDPA's boolean mask (True = may attend) gives the same output
    and weights as with eager's float mask (0 / -inf): eager adds the mask to its scores."""
    from savs.explanation import _CAPTURE, _Capture, _dispatch

    adapter = adapter_for("llama_lm")
    attn = attention_modules(adapter)[0]
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(1, 4, 5, 16, generator=gen)
    k, v = torch.randn(2, 1, 2, 5, 16, generator=gen)
    allowed = torch.tril(torch.ones(5, 5, dtype=torch.bool))[None, None]  # [1, 1, T, T]
    additive = torch.where(allowed, 0.0, torch.finfo(torch.float32).min)
    outputs = []
    for mask in (allowed, additive):
        capture = _Capture({id(attn): 0}, {})
        token = _CAPTURE.set(capture)
        try:
            out, _ = _dispatch(attn, q, k, v, mask, scaling=0.25)
        finally:
            _CAPTURE.reset(token)
        outputs.append((out, capture.weights[0]))
    torch.testing.assert_close(outputs[0][0], outputs[1][0])
    torch.testing.assert_close(outputs[0][1], outputs[1][1])
    assert outputs[0][1][0].sum(-1).allclose(torch.ones(4))  # [B, H, T] last rows
