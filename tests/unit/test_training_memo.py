"""studio.inspecting.training_memo: what the inspector computes from the training activations
alone is computed once per activations tensor and key, again for another tensor, and goes
with its tensor."""

from __future__ import annotations

import gc
from itertools import count

import pytest
import torch

from studio import inspecting
from studio.inspecting import MEMO_PER_ACTIVATIONS, training_memo

pytestmark = pytest.mark.unit


def counter():
    calls = count(1)
    return lambda: next(calls)


def test_computed_once_per_tensor_and_key():
    acts, compute = torch.randn(4, 2, 2, 3), counter()
    assert training_memo(acts, ("plane", (0, 1)), compute) == 1
    assert training_memo(acts, ("plane", (0, 1)), compute) == 1  # memoized
    assert training_memo(acts, ("plane", (1, 1)), compute) == 2  # another key
    # an equal tensor is another extract: never mistaken for this one
    assert training_memo(acts.clone(), ("plane", (0, 1)), compute) == 3


def test_results_go_with_their_tensor():
    acts = torch.randn(4, 2, 2, 3)
    key = id(acts)
    training_memo(acts, ("plane", (0, 0)), lambda: "kept")
    assert key in inspecting._MEMOS
    del acts
    gc.collect()
    assert key not in inspecting._MEMOS


def test_only_the_last_keys_are_kept():
    acts, compute = torch.randn(4, 2, 2, 3), counter()
    for head in range(MEMO_PER_ACTIVATIONS + 1):
        training_memo(acts, ("plane", head), compute)
    n = MEMO_PER_ACTIVATIONS + 1
    assert training_memo(acts, ("plane", n - 1), compute) == n  # the newest: kept
    assert training_memo(acts, ("plane", 0), compute) == n + 1  # the oldest: computed again
    assert len(inspecting._MEMOS[id(acts)]) == MEMO_PER_ACTIVATIONS
