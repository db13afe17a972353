"""benchmarks/redraw.py on the bundled tiny model: for Classify and a k change, the click's
server work and bytes measured before and after in one run; after sends less (the endpoint's
components are not sent twice), and the page's memory less again (unchanged views are not sent)."""

from __future__ import annotations

import math

import pytest

from benchmarks import redraw

pytestmark = pytest.mark.app


def test_redraw_benchmark_measures_both_clicks_before_and_after():
    result = redraw.measure("tiny", "colour", rounds=2)
    assert set(result["clicks"]) == {"classify", "k_change"}
    for r in result["clicks"].values():
        assert all(math.isfinite(r[k]) and r[k] > 0 for k in ("before_ms", "after_ms"))
        assert r["speedup"] == pytest.approx(r["before_ms"] / r["after_ms"])
        assert 0 < r["after_bytes"] < r["before_bytes"]
        # the page's memory (issue 21): views whose inputs did not change are not sent again
        assert math.isfinite(r["memory_ms"]) and r["memory_ms"] > 0
        assert r["memory_speedup"] == pytest.approx(r["after_ms"] / r["memory_ms"])
        assert 0 < r["memory_bytes"] < r["after_bytes"]
