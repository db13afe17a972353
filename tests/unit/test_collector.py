"""studio.collector: the app freezes what exists once its server is up (the GC's full passes no
longer walk it) and collects the young generation every 7,000 allocations, once, before any
visitor; unloading a model unfreezes, so a frozen start model can still be collected."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_settling_freezes_what_exists_and_collects_young_objects_less_often():
    """In a fresh interpreter (the test process's own collector stays as it is)."""
    code = (
        "import gc, studio.app; from studio.collector import YOUNG_ALLOCATIONS, settle_collector; "
        "before = gc.get_threshold(); settle_collector(); after = gc.get_threshold(); "
        "print(gc.get_freeze_count(), before[1:] == after[1:], after[0] == YOUNG_ALLOCATIONS)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    frozen, others_kept, young = int(out[0]), out[1] == "True", out[2] == "True"
    assert frozen > 100_000  # the app's imports: gradio, torch, transformers, plotly
    assert others_kept and young


def test_main_settles_once_the_server_is_up_before_any_visitor(monkeypatch):
    """The start model is loaded, the page built and served (not yet blocking), then the
    collector settles, then the main thread waits on the server."""
    import studio.app as app

    order = []

    class Page:
        def launch(self, **kwargs):
            order.append(f"launch, blocking: {not kwargs.get('prevent_thread_lock')}")

        def block_thread(self):
            order.append("block")

    monkeypatch.setattr(app, "build_demo", lambda: order.append("build") or Page())
    monkeypatch.setattr(app, "settle_collector", lambda: order.append("settle"))
    monkeypatch.setattr(app, "start", lambda model: order.append(f"start {model}"))
    monkeypatch.setattr(app, "shorten_switch_interval", lambda: order.append("switch"))
    monkeypatch.setattr(app.torch, "set_num_threads", lambda n: None)
    monkeypatch.setitem(app.IMAGE_TOKENS, "cap", app.IMAGE_TOKENS["cap"])
    app.main(["--model", "tiny"])
    assert order == ["switch", "start tiny", "build", "launch, blocking: False", "settle", "block"]


def test_unloading_a_model_unfreezes_so_a_frozen_model_can_be_collected():
    """A model frozen at start (the start model) in a reference cycle: once the pool unloads
    it, the collector frees it."""
    import gc
    import weakref

    from studio.pool import ModelPool

    class Adapter:
        name, num_layers, num_heads, head_dim, is_vlm, device = "m", 2, 3, 4, False, "cpu"

        def __init__(self):
            self.me = self  # a cycle: only the collector frees it

    made = []

    def load(name: str) -> Adapter:
        adapter = Adapter()
        made.append(weakref.ref(adapter))
        return adapter

    pool = ModelPool(load, max_models=1)
    pool.load("a")
    gone = made[0]
    gc.freeze()
    try:
        pool.load("b")  # the only slot: "a" is unloaded
        assert gone() is None and gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()


def test_the_switch_interval_is_shortened():
    """studio.switching: a waiting thread gets the interpreter after 1 ms, not Python's 5."""
    from studio.switching import SWITCH_INTERVAL_S, shorten_switch_interval

    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)  # Python's default (whatever another test left)
        shorten_switch_interval()
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)
        assert SWITCH_INTERVAL_S < 0.005
    finally:
        sys.setswitchinterval(before)
