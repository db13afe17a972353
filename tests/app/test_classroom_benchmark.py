"""benchmarks/classroom.py, tiny: three students on the real app (its own process), one of them
live for 3 s, each pausing 1 s before its second classify. The live student's stream is
answered (the HTTP streaming payload is right), every classify is answered with no refusal,
and the figures are measured, not made up."""

from __future__ import annotations

import json
import math
import threading

import pytest

from benchmarks import classroom

pytestmark = pytest.mark.app


def test_a_tiny_classroom_is_measured_and_the_live_student_answered(capsys):
    assert classroom.main(["--students", "3", "--live", "1", "--live-seconds", "3",
                           "--classifies", "2", "--alone-classifies", "4", "--think-seconds", "1",
                           "--think-jitter", "0.5", "--json"]) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert out["errors"] == 0, out["first_errors"]
    assert out["classifies_answered"] == 3 * 2 and out["alone_classifies"] == 2 * 4
    assert 0 < min(out["alone_before_p95_ms"], out["alone_after_p95_ms"]) <= out["alone_p95_ms"]
    # a frame every 0.1 s for 3 s: about 30 sent; the tiny model answers most of them
    (sent,), (answered,) = out["live_frames_sent"], out["live_frames_answered"]
    assert 20 <= sent <= 40 and 3 <= answered <= sent, out
    assert out["live_labels"] == ["red"]  # the held-out scene is red, via the session's classifier
    assert 0 < out["alone_p50_ms"] <= out["alone_p95_ms"]
    assert 0 < out["classroom_p50_ms"] <= out["classroom_p95_ms"]
    ratio = out["classroom_p95_ms"] / out["alone_p95_ms"]
    # the benchmark divides the unrounded latencies, this the shown ones (to 0.1 ms): to 1%
    assert out["p95_over_alone_p95"] == pytest.approx(ratio, rel=0.01)
    assert out["goal_met"] is (out["classroom_p95_ms"] <= 3 * out["alone_p95_ms"])
    assert out["rss_samples"] >= 4  # sampled every 0.5 s over a run of several seconds
    assert 100 < out["server_rss_mb_final"] <= out["server_rss_mb_max"]
    assert out["sessions_budget_mb"] > 0 and math.isfinite(out["live_answers_per_s_median"])
    # the pause before the second classify; the CPU both sides spent, measured
    assert out["think_seconds"] == 1 and out["think_jitter"] == 0.5 and out["seed"] == 0
    assert out["classroom_wall_s"] >= 3 + 0.5  # the pause: 0.5 to 1.5 s
    assert out["server_cpu_s"] > 0 and out["client_cpu_s"] > 0
    share = out["client_cpu_s"] / (out["client_cpu_s"] + out["server_cpu_s"])
    assert out["client_cpu_share"] == pytest.approx(share, abs=0.02)


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 11)]
    assert classroom.percentile(values, 0.5) == 5.0
    assert classroom.percentile(values, 0.95) == 10.0
    assert classroom.percentile([3.0], 0.95) == 3.0


def test_pauses_are_drawn_within_the_jitter_and_a_jitter_over_1_is_refused(monkeypatch, capsys):
    from benchmarks import page_client

    slept: list[float] = []
    me, sleep = threading.get_ident(), classroom.time.sleep

    def pause(seconds: float) -> None:  # this test's pauses noted, other threads' kept
        if threading.get_ident() == me:
            slept.append(seconds)
        else:
            sleep(seconds)

    monkeypatch.setattr(classroom.time, "sleep", pause)

    class Tab:  # a student whose calls answer at once
        def __init__(self, config):
            pass

        def call(self, name, *data):
            return [], 0.01

        def upload(self, path):
            return {}

    monkeypatch.setattr(classroom, "PageSession", Tab)
    out: dict = {}
    classroom.student(None, None, 41, None, out, 2.0, classroom.random.Random(1), 0.5)
    assert out["errors"] == [] and len(slept) == 40
    assert all(1.0 <= s <= 3.0 for s in slept) and len(set(slept)) == 40
    assert page_client.PageSession is not Tab  # only the benchmark's name was swapped
    with pytest.raises(SystemExit):
        classroom.main(["--think-jitter", "1.5"])
    assert "--think-jitter" in capsys.readouterr().err


def test_the_default_is_a_class_pace_and_0_the_saturation_test(monkeypatch, capsys):
    """Without flags the students pause 2 s between clicks (a class reading its answers), the
    pace the goal is stated for; `--think-seconds 0` still gives the non-stop test."""
    asked: list[dict] = []

    def run(*args, **kwargs):
        asked.append(kwargs)
        return {"think_seconds": kwargs["think"]}

    monkeypatch.setattr(classroom, "run", run)
    assert classroom.main(["--json"]) == 0 and classroom.main(["--think-seconds", "0"]) == 0
    assert [a["think"] for a in asked] == [2.0, 0.0] and asked[0]["jitter"] == 0.0
    assert asked[0]["alone_classifies"] == 40
    capsys.readouterr()
