"""benchmarks/redraw.py on the bundled tiny model: for Classify and a k change, the click's
server work and bytes measured before and after in one run; after sends less (the endpoint's
components are not sent twice)."""

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
