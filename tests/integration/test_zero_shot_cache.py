"""The zero-shot baseline scores labels from the prompt's KV cache: the same log-likelihoods as
one full pass over prompt + label per label (the way it was done before), on tiny random models
with left padding, multi- and single-token labels, means and sums. Models whose forward cannot
continue from a cache (Qwen2-VL's M-RoPE) fall back to full passes with the same result."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from savs import Example, ModelAdapter, baseline

import tiny_models

pytestmark = pytest.mark.integration

torch.set_num_threads(1)

LABELS = ["red", "dark green", "a very long blue sky colour", "x"]  # 1 to 6+ tokens each


def full_pass_reference(adapter: ModelAdapter, examples, labels, prompt, normalise=True):
    """One forward over prompt + label per (example, label), one example at a time (no padding),
    log-probabilities read off the full logits: the old way, written out independently."""
    scores = torch.zeros(len(examples), len(labels))
    with torch.inference_mode():
        for i, example in enumerate(examples):
            inputs = adapter.encode([example], prompt)
            for c, label in enumerate(labels):
                answer = torch.tensor(baseline.label_token_ids(adapter, label))
                extended = baseline._append_answer(inputs, answer)
                logits = adapter.model(**extended, use_cache=False).logits[0].float()  # [T+m, V]
                log_probs = torch.log_softmax(logits[-len(answer) - 1 : -1], dim=-1)  # [m, V]
                token_lp = log_probs[torch.arange(len(answer)), answer]  # [m]
                scores[i, c] = token_lp.mean() if normalise else token_lp.sum()
    return scores


def texts() -> list[Example]:
    return [Example(text=t) for t in ("the cat", "a dog ran over the hill and far away", "x")]


def images() -> list[Example]:
    return [
        Example(text=t, images=(Image.new("RGB", (24 + 4 * i, 24), (40 * i, 120, 60)),))
        for i, t in enumerate(("what is it", "the colour of the thing, please", "a"))
    ]


@pytest.mark.parametrize("normalise", [True, False])
def test_text_lm_scores_equal_full_passes(text_adapter, normalise):
    examples = texts()
    got = baseline.label_log_likelihoods(
        text_adapter, examples, LABELS, "Which?", batch_size=2, normalise=normalise
    )
    want = full_pass_reference(text_adapter, examples, LABELS, "Which?", normalise)
    assert got.shape == (3, 4)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    assert text_adapter.model not in baseline._NO_CONTINUATION  # the cached path was used


def test_vlm_scores_equal_full_passes(llava_adapter):
    examples = images()
    got = baseline.label_log_likelihoods(llava_adapter, examples, LABELS, "Which?", batch_size=3)
    want = full_pass_reference(llava_adapter, examples, LABELS, "Which?")
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    assert llava_adapter.model not in baseline._NO_CONTINUATION


def test_prompt_runs_once_per_batch(text_adapter, monkeypatch):
    """Two multi-token labels: one prompt pass + ONE continuation pass per batch for both, and
    that pass sees only the labels' tokens (right-padded to the longer one), not the prompt."""
    lengths = []
    real_forward = text_adapter.model.forward

    def counting_forward(*args, **kwargs):
        lengths.append(kwargs["input_ids"].shape[1])
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(text_adapter.model, "forward", counting_forward)
    labels = ["dark green", "a very long blue"]
    answer_lengths = [len(baseline.label_token_ids(text_adapter, lab)) for lab in labels]
    baseline.label_log_likelihoods(text_adapter, texts(), labels, "Which?", batch_size=8)
    prompt_length = text_adapter.encode(texts(), "Which?")["input_ids"].shape[1]
    assert min(answer_lengths) > 1 and lengths == [prompt_length, max(answer_lengths) - 1]
    assert len(answer_lengths) == 2 and answer_lengths[0] != answer_lengths[1]  # padding is used


def test_batch_size_zero_means_one(text_adapter):
    one = baseline.label_log_likelihoods(text_adapter, texts(), LABELS, batch_size=1)
    zero = baseline.label_log_likelihoods(text_adapter, texts(), LABELS, batch_size=0)
    torch.testing.assert_close(zero, one)


def test_model_without_cache_continuation_falls_back_to_full_passes():
    model, processor = tiny_models.qwen2_vl()
    adapter = ModelAdapter(model, processor, "test-qwen2-vl")
    examples = images()[:2]
    got = baseline.label_log_likelihoods(adapter, examples, LABELS[:2], "Which?", batch_size=2)
    want = full_pass_reference(adapter, examples, LABELS[:2], "Which?")
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    assert model in baseline._NO_CONTINUATION  # remembered: no cached attempt next time
