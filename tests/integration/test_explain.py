"""savs.explain on every supported architecture (tiny random models): each selected head's
attention row equals what transformers returns with eager attention and output_attentions, the
votes equal a plain savs.predict, only the selected layers run eager, the config always comes
back, and image positions map to the right image and patch where the architecture allows it."""

from __future__ import annotations

import copy
import threading
from functools import cache

import pytest
import torch
from test_architectures import ARCHS, BLUE, RED, VLMS, adapter_for, training_sets

import savs
from savs import Example, HeadExplanation, ModelError, explanation
from savs.explanation import IMPLEMENTATION, attention_modules, eager_attention, explain_prediction

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
}
UNMAPPED = {"llava_onevision", "idefics3", "smolvlm"}  # tiles / newline tokens / pixel shuffle


@cache
def fitted(name: str) -> tuple[savs.SAVClassifier, Example]:
    """A classifier on image examples (text for text LMs) with every head kept: all layers."""
    kind = "image" if name in VLMS else "text"
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


@pytest.mark.parametrize("name", ARCHS)
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


@pytest.mark.parametrize("name", sorted(UNMAPPED))
def test_tiled_or_shuffled_images_have_no_patches(name):
    adapter = adapter_for(name)
    clf, query = fitted(name)
    [e, *_] = savs.explain(adapter, clf, query)
    assert e.tokens.count("<image>") > 0
    assert all(p is None for p in e.patches)


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
