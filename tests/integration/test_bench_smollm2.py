"""benchmarks/smollm2.py compares against the code path before: its full-pass scorer agrees with
the KV-cache scorer (so the timed ratio compares equal work), its zero-shot figures are measured
and consistent on a tiny text LM, and its GGUF-every-time switch is undone afterwards."""

from __future__ import annotations

import math

import pytest
import torch

from benchmarks import smollm2 as bench
from savs import baseline
from savs.models import registry

pytestmark = pytest.mark.integration


def test_zeroshot_figures_on_a_tiny_text_lm(text_adapter):
    out = bench.bench_zeroshot(text_adapter, n=5, repeats=1, batch_size=2)
    assert out["examples"] == 5 and out["same_answers"] is True
    assert out["max_abs_diff"] < 1e-4
    for key in ("full_passes", "kv_cache", "ratio", "ratio_cpu"):
        assert math.isfinite(out[key]) and out[key] > 0, key
    assert out["label_tokens"] == {
        lab: len(baseline.label_token_ids(text_adapter, lab)) for lab in ("harmful", "harmless")
    }


def test_full_pass_scorer_matches_the_library(text_adapter):
    examples = bench.savs.load_examples(bench.SAFETY / "test.jsonl")[:3]
    labels = ["harmful", "harmless"]
    old = bench.full_pass_log_likelihoods(text_adapter, examples, labels, "Which?", batch_size=2)
    new = baseline.label_log_likelihoods(text_adapter, examples, labels, "Which?", batch_size=2)
    torch.testing.assert_close(old, new, atol=1e-4, rtol=1e-4)


def test_gguf_switch_is_restored():
    before = registry.BUNDLED["smollm2"]
    with pytest.raises(KeyError):
        with bench.gguf_every_time():
            assert registry.BUNDLED["smollm2"].locate is bench._gguf_locate
            raise KeyError("inside")
    assert registry.BUNDLED["smollm2"] is before
