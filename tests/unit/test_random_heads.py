"""savs.ablation.random_heads, the control of an ablation: distinct heads outside the excluded
ones, as many as asked (fewer when fewer are left), the same for the same seed."""

from __future__ import annotations

import pytest

from savs.ablation import random_heads
from savs.heads import HeadIndex

pytestmark = pytest.mark.unit


def test_random_heads_avoid_the_excluded_and_follow_the_seed():
    kept = [HeadIndex(0, 1), HeadIndex(2, 3)]
    draws = [random_heads(4, 5, 6, kept, seed) for seed in range(5)]
    for heads in draws:
        assert len(heads) == len(set(heads)) == 6 and not set(heads) & set(kept)
        assert heads == sorted(heads) and all(0 <= a < 4 and 0 <= b < 5 for a, b in heads)
    assert random_heads(4, 5, 6, kept, 2) == draws[2]
    assert len({tuple(h) for h in draws}) > 1  # other seeds, other heads
    # fewer left than asked: every other head, once
    rest = random_heads(2, 2, 9, kept[:1], 0)
    assert sorted(rest) == [(0, 0), (1, 0), (1, 1)]
    assert random_heads(2, 2, 0, (), 0) == []
