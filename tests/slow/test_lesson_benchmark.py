"""benchmarks/lesson.py on the bundled tiny model: every lesson view is timed in the same run
as a plain classify (positive, finite milliseconds), each as a ratio to it."""

from __future__ import annotations

import math

import pytest

from benchmarks import lesson

pytestmark = pytest.mark.slow


def test_lesson_benchmark_times_every_view_against_classify():
    result = lesson.measure("tiny", "colour", rounds=1)
    views = {"classify", "head_map", "head_map_1000x784", "class_attention", "answer"}
    views |= {"answer_ablated"}
    assert set(result["ms"]) == set(result["x_classify"]) == views
    assert all(ms > 0 and math.isfinite(ms) for ms in result["ms"].values())
    assert result["x_classify"]["classify"] == 1.0
    ratio = result["ms"]["head_map"] / result["ms"]["classify"]
    assert result["x_classify"]["head_map"] == pytest.approx(ratio)
    assert result["train_examples"] == 100 and result["labels"] == 10
