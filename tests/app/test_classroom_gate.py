"""The per-session gate on model calls (studio/fairness.py): a session's extra call is refused at
once, other sessions are not affected, and the turn is given back even when the call fails."""

from __future__ import annotations

import threading

import gradio as gr
import pytest

from studio.fairness import SessionGate

pytestmark = pytest.mark.app


def test_a_sessions_extra_call_is_refused_and_others_pass():
    gate = SessionGate(1)
    with gate.turn("a"):
        with pytest.raises(gr.Error), gate.turn("a"):
            pass
        with gate.turn("b"):
            assert gate.in_flight("a") == gate.in_flight("b") == 1
    assert gate.in_flight("a") == 0


def test_the_turn_is_given_back_when_the_call_fails():
    gate = SessionGate(1)
    with pytest.raises(ValueError), gate.turn("a"):
        raise ValueError("boom")
    with gate.turn("a"):
        assert gate.in_flight("a") == 1


def test_threads_never_get_more_turns_than_the_limit():
    gate, peak, lock = SessionGate(2), [0], threading.Lock()
    barrier = threading.Barrier(8)

    def call() -> None:
        barrier.wait(timeout=10)
        try:
            with gate.turn("a"):
                with lock:
                    peak[0] = max(peak[0], gate.in_flight("a"))
                threading.Event().wait(0.05)
        except gr.Error:
            pass

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert peak[0] == 2 and gate.in_flight("a") == 0
