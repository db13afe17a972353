"""Zero-shot baseline: what the frozen model says without SAVs, to compare SAVs against.

The published code's `--eval_zeroshot` lets the model generate an answer and string-matches it
against the labels, so any answer that is not exactly a label counts as wrong. Here each label is
instead scored by how likely the model finds it *as its answer*: the log-probability of the
label's tokens right after the chat template's generation prompt. The predicted label is the
most likely one, so every example gets one of the labels.

Length normalisation: by default a label's score is the MEAN log-probability of its tokens, not
the sum. A sum penalises every extra token, so a label split into more tokens ("harmless" vs
"harm"+"ful") would lose for reasons unrelated to the meaning; the mean removes that bias. Pass
`normalise=False` for the plain sum (the joint probability of the label text).

Labels are tokenised on their own and appended to the rendered prompt (not tokenised together
with it), which is exactly the token sequence the model would generate for that answer.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import torch

from .activations import ProgressFn, batches
from .data import Example
from .distributed import map_batches
from .errors import DataError
from .models.adapter import ModelAdapter
from .types import class_order


def label_token_ids(adapter: ModelAdapter, label: str) -> list[int]:
    """The tokens the model would generate to answer with `label` (no special tokens)."""
    ids = adapter.tokenizer(label, add_special_tokens=False)["input_ids"]
    if not ids:
        raise DataError(f"label {label!r} has no tokens; use a non-empty class name.")
    return list(ids)


def _append_answer(inputs: dict, answer: torch.Tensor) -> dict:
    """Append the same answer tokens [m] to every row of a left-padded batch [B, T] -> [B, T+m].

    Other per-token inputs ([B, T], e.g. attention_mask, token_type_ids, mm_token_type_ids)
    grow with it: the mask with ones, the rest with zeros (answer tokens are plain text).
    """
    input_ids = inputs["input_ids"]  # [B, T]
    batch, length = input_ids.shape
    extended = dict(inputs)
    tail = answer.to(input_ids.device).unsqueeze(0).expand(batch, -1)  # [B, m]
    for key, value in inputs.items():
        if (
            not isinstance(value, torch.Tensor)
            or value.shape[:2] != (batch, length)
            or value.dim() != 2
        ):
            continue
        if key == "input_ids":
            extra = tail.to(value.dtype)
        elif key == "attention_mask":
            extra = torch.ones_like(tail, dtype=value.dtype)
        else:
            extra = torch.zeros_like(tail, dtype=value.dtype)
        extended[key] = torch.cat([value, extra], dim=1)
    return extended


def _answer_logits(adapter: ModelAdapter, inputs: dict, answer_length: int) -> torch.Tensor:
    """Logits that predict the answer tokens, from one pass over prompt + answer: [B, m, vocab]
    (fp32). The fallback for models that return no KV cache."""
    kwargs = adapter.forward_kwargs()
    if "logits_to_keep" in kwargs:
        kwargs["logits_to_keep"] = answer_length + 1  # the answer's positions, plus the last one
    logits = adapter.model(**inputs, **kwargs).logits  # [B, T', vocab]
    # position t predicts token t+1: the m answer tokens are predicted by the m positions before
    # the last one
    return logits[:, -answer_length - 1 : -1].float()


# models whose forward cannot continue from a KV cache without generate(): scored the plain way
_NO_CONTINUATION: weakref.WeakSet[torch.nn.Module] = weakref.WeakSet()
CONTINUATION_ERRORS = (RuntimeError, ValueError, TypeError, IndexError, AttributeError)


def _full_pass_scores(adapter: ModelAdapter, inputs: dict, answer: torch.Tensor) -> torch.Tensor:
    """Per-token log-probabilities [B, m] of `answer` after the prompt, one full pass."""
    logits = _answer_logits(adapter, _append_answer(inputs, answer), len(answer))
    log_probs = torch.log_softmax(logits, dim=-1)  # [B, m, vocab]
    target = answer.to(log_probs.device).unsqueeze(0).expand(log_probs.shape[0], -1)  # [B, m]
    return log_probs.gather(-1, target.unsqueeze(-1)).squeeze(-1)  # [B, m]


def _prompt_pass(adapter: ModelAdapter, inputs: dict) -> tuple[torch.Tensor, object]:
    """Run the prompt once: next-token log-probabilities at its last position [B, vocab] (fp32)
    and its KV cache (None when the model keeps none)."""
    out = adapter.model(**inputs, **adapter.forward_kwargs(use_cache=True))
    cache = out.get("cache")
    if cache is None:  # transformers before the `cache` rename
        cache = out.get("past_key_values")
    return torch.log_softmax(out.logits[:, -1].float(), dim=-1), cache


def _batch_scores(
    adapter: ModelAdapter, inputs: dict, answers: Sequence[torch.Tensor], normalise: bool
) -> torch.Tensor:
    """Scores [B, C] of every answer for one encoded batch: the prompt runs once, and one more
    pass scores the rest of every multi-token answer from its KV cache. Holds the model's lock
    (its forward passes must not run beside another thread's hooked ones)."""
    with adapter.lock:
        return _locked_batch_scores(adapter, inputs, answers, normalise)


def _locked_batch_scores(
    adapter: ModelAdapter, inputs: dict, answers: Sequence[torch.Tensor], normalise: bool
) -> torch.Tensor:
    if adapter.model not in _NO_CONTINUATION:
        first, cache = _prompt_pass(adapter, inputs)
        if cache is not None:
            try:
                return _reduce(_continuations(adapter, inputs, first, cache, answers), normalise)
            except CONTINUATION_ERRORS:
                # e.g. Qwen2-VL: its M-RoPE positions for tokens after a cache need generate()'s
                # bookkeeping. Score this model the plain way from now on.
                _NO_CONTINUATION.add(adapter.model)
    return _reduce([_full_pass_scores(adapter, inputs, answer) for answer in answers], normalise)


def _continuations(
    adapter: ModelAdapter, inputs: dict, first: torch.Tensor, cache, answers: Sequence[torch.Tensor]
) -> list[torch.Tensor]:
    """Per-token log-probabilities [B, m_c] of each answer: its first token from the prompt's
    last position (`first`, [B, vocab]); the rest of every multi-token answer from ONE pass over
    all of them at once on the prompt's KV cache, repeated per answer (the cache is consumed).

    Rows are example-major (b * n + j for answer j of n): `batch_repeat_interleave`'s order.
    Shorter answers are right-padded; padding comes after their tokens, so it changes nothing
    that they see (causal attention)."""
    batch, device = first.shape[0], first.device
    firsts = [first[:, a[0]].unsqueeze(1) for a in answers]  # [B, 1] each
    longer = [c for c, a in enumerate(answers) if len(a) > 1]
    if not longer:
        return firsts
    n, width = len(longer), max(len(answers[c]) for c in longer) - 1
    ids = torch.zeros(n, width, dtype=torch.long, device=device)
    for j, c in enumerate(longer):
        ids[j, : len(answers[c]) - 1] = answers[c][:-1]
    ids = ids.repeat(batch, 1)  # [B * n, width]
    step: dict = {"input_ids": ids, adapter.cache_argument: cache}
    if "attention_mask" in inputs:
        prompt_mask = inputs["attention_mask"].repeat_interleave(n, dim=0)  # [B * n, T]
        step["attention_mask"] = torch.cat([prompt_mask, torch.ones_like(ids)], dim=1)
    if n > 1:
        cache.batch_repeat_interleave(n)
    kwargs = adapter.forward_kwargs(use_cache=True)
    kwargs.pop("logits_to_keep", None)  # every position predicts an answer token
    logits = adapter.model(**step, **kwargs).logits.float()  # [B * n, width, vocab]
    log_probs = torch.log_softmax(logits, dim=-1).view(batch, n, width, -1)
    out = list(firsts)
    for j, c in enumerate(longer):
        rest = answers[c][1:].to(device)  # [m-1]
        target = rest.expand(batch, -1).unsqueeze(-1)  # [B, m-1, 1]
        lp = log_probs[:, j, : len(rest)].gather(-1, target).squeeze(-1)  # [B, m-1]
        out[c] = torch.cat([firsts[c], lp], dim=1)  # [B, m]
    return out


def _reduce(token_lps: Sequence[torch.Tensor], normalise: bool) -> torch.Tensor:
    """[B, m_c] per answer -> [B, C] scores: the mean per token when `normalise`, else the sum."""
    return torch.stack([lp.mean(-1) if normalise else lp.sum(-1) for lp in token_lps], 1).cpu()


@torch.inference_mode()
def label_log_likelihoods(
    adapter: ModelAdapter,
    examples: Sequence[Example],
    labels: Sequence[str],
    prompt: str | None = None,
    batch_size: int = 8,
    normalise: bool = True,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """Score every label as the model's answer to every example: [N, C] log-likelihoods
    (mean per token when `normalise`, else the sum). Works for text LMs and VLMs. Each batch's
    prompts run once; the labels are scored from their KV cache."""
    if not labels:
        raise DataError("zero-shot scoring needs at least one label.")
    answers = [torch.tensor(label_token_ids(adapter, label)) for label in labels]
    scores = torch.zeros(len(examples), len(labels))
    plan = batches(range(len(examples)), batch_size)

    def run(idx: Sequence[int]) -> torch.Tensor:
        inputs = adapter.encode([examples[i] for i in idx], prompt)  # left-padded [B, T]
        return _batch_scores(adapter, inputs, answers, normalise)  # [B, C]

    for idx, batch_scores in zip(plan, map_batches(run, plan, progress)):
        scores[idx] = batch_scores
    return scores


def _labels_of(examples: Sequence[Example]) -> list[str]:
    labels = class_order(ex.label for ex in examples if ex.label is not None)
    if len(labels) < 2:
        raise DataError("zero-shot accuracy needs labeled examples of at least two classes.")
    return labels


def zero_shot_predict(
    adapter: ModelAdapter,
    examples: Sequence[Example],
    labels: Sequence[str],
    prompt: str | None = None,
    batch_size: int = 8,
    normalise: bool = True,
    progress: ProgressFn | None = None,
) -> list[str]:
    """The label the model finds most likely as its answer, per example."""
    scores = label_log_likelihoods(
        adapter, examples, labels, prompt, batch_size, normalise, progress
    )  # [N, C]
    return [labels[i] for i in scores.argmax(dim=1).tolist()]


def zero_shot_accuracy(
    adapter: ModelAdapter,
    examples: Sequence[Example],
    labels: Sequence[str] | None = None,
    prompt: str | None = None,
    batch_size: int = 8,
    normalise: bool = True,
    progress: ProgressFn | None = None,
) -> float:
    """Share of labeled examples whose zero-shot answer is their label. `labels` defaults to the
    examples' own classes."""
    unlabeled = [ex.describe() for ex in examples if ex.label is None]
    if unlabeled:
        raise DataError(f"{unlabeled[0]}: zero-shot accuracy needs labeled examples.")
    labels = list(labels) if labels is not None else _labels_of(examples)
    predicted = zero_shot_predict(
        adapter, examples, labels, prompt, batch_size, normalise, progress
    )
    return sum(p == ex.label for p, ex in zip(predicted, examples)) / len(examples)


__all__ = ["label_log_likelihoods", "label_token_ids", "zero_shot_accuracy", "zero_shot_predict"]
