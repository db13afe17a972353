"""studio.collector: the app freezes what exists once its page is built (the GC's full passes
no longer walk it) and collects the young generation every 7,000 allocations, once, at start;
main() does it after building the page and before loading the start model."""

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


def test_main_settles_after_building_the_page_and_before_loading_a_model(monkeypatch):
    import studio.app as app

    order = []

    class Page:
        def launch(self, **kwargs):
            order.append("launch")

    monkeypatch.setattr(app, "build_demo", lambda: order.append("build") or Page())
    monkeypatch.setattr(app, "settle_collector", lambda: order.append("settle"))
    monkeypatch.setattr(app, "start", lambda model: order.append(f"start {model}"))
    monkeypatch.setattr(app.torch, "set_num_threads", lambda n: None)
    monkeypatch.setitem(app.START, "model", "before")
    monkeypatch.setitem(app.IMAGE_TOKENS, "cap", app.IMAGE_TOKENS["cap"])
    app.main(["--model", "tiny"])
    assert order == ["build", "settle", "start tiny", "launch"]
    assert app.START["model"] == "tiny"  # the page's model box was built showing it
