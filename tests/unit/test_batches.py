"""The one batch loop (savs.distributed.map_batches): results in order, progress after each
batch counted from what was already had. Pure: no model."""

from __future__ import annotations

import pytest

from savs.activations import batches
from savs.distributed import map_batches

pytestmark = pytest.mark.unit


def test_map_batches_keeps_order_and_reports_progress_per_batch():
    seen = []
    plan = batches(range(7), 3)  # [0,1,2] [3,4,5] [6]
    out = map_batches(lambda idx: [i * 10 for i in idx], plan, lambda d, t: seen.append((d, t)))
    assert out == [[0, 10, 20], [30, 40, 50], [60]]
    assert seen == [(3, 7), (6, 7), (7, 7)]


def test_progress_counts_examples_already_had():
    seen = []
    map_batches(len, [[5, 6]], lambda d, t: seen.append((d, t)), done=4)  # 4 cache hits
    assert seen == [(6, 6)]
    assert map_batches(len, [[1], [2, 3]]) == [1, 2]  # no progress asked: none reported
