"""Issue 21, a classroom on one Space: a session's budgets (stored pixels, examples, activation
bytes) are checked before the work, whatever the images come from; the server's registry
clears sessions idle past their time to live, and past the memory budget the least recently
used idle one first, never one whose call is running. Pure: no model, a fake clock."""

from __future__ import annotations

import dataclasses
import json
import os
import types
import zipfile

import pytest
import torch
from PIL import Image

from savs import DataError
from savs.limits import HOSTED_SESSION, SessionBudget
from studio.actions import Studio
from studio.budget import activation_bytes, incoming_pixels, shrunk
from studio.datasets import _import_limits
from studio.lifetime import EXPIRED, IDLE, SessionRegistry

import studio_fixtures as sf

pytestmark = pytest.mark.unit


def budgeted(pixels: int | None = None, examples: int | None = None, acts=None) -> Studio:
    studio = Studio(budget=SessionBudget(pixels, examples, acts))
    studio.add_class("a")
    return studio


def frame(side: int = 100) -> Image.Image:
    return Image.new("RGB", (side, side), (200, 30, 30))


def test_webcam_frames_count_against_the_sessions_pixel_budget():
    studio = budgeted(pixels=25_000)
    studio.add_examples("a", [frame(), frame()])  # 20,000 pixels
    with pytest.raises(DataError, match=r"25,000 pixels.*Delete examples"):
        studio.add_examples("a", [frame()])
    studio.start_recording("a", 5)
    with pytest.raises(DataError, match="pixels"):
        studio.record_frame(frame())
    assert studio.stored_pixels() == 20_000 and studio.num_examples() == 2


def test_a_full_session_cannot_start_recording():
    studio = budgeted(pixels=10_000)
    studio.add_examples("a", [frame()])
    with pytest.raises(DataError, match="pixels"):
        studio.start_recording("a", 5)
    assert not studio.recording


def test_the_pixel_budget_is_read_from_headers_before_decoding(tmp_path, monkeypatch):
    big = tmp_path / "big.png"
    Image.new("RGB", (4000, 2000)).save(big)
    assert incoming_pixels([big], 1024) == shrunk(4000, 2000, 1024) == 1024 * 512
    import studio.session

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded before the budget was checked")

    monkeypatch.setattr(studio.session, "open_image", no_decoding)
    with pytest.raises(DataError, match="pixels"):
        budgeted(pixels=500_000).add_examples("a", [big])


def test_the_example_budget_names_itself():
    studio = budgeted(examples=2)
    studio.add_examples("a", text="one")
    studio.add_examples("a", text="two")
    with pytest.raises(DataError, match="at most 2 examples .*Delete examples"):
        studio.add_examples("a", text="three")


def one_image_zip(folder, n: int, side: int = 100):
    """A small archive whose n lines name one image: each is stored apart (n x side^2)."""
    sf.colour_image((200, 30, 30), 0, size=side).save(folder / "one.png")
    archive = folder / "one.zip"
    rows = [{"image": "one.png", "question": "q", "label": "ab"[i % 2]} for i in range(n)]
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("data.jsonl", "\n".join(json.dumps(r) for r in rows))
        zf.write(folder / "one.png", "one.png")
    return archive


def test_an_import_may_fill_the_session_up_to_its_pixel_budget_not_past_it(tmp_path):
    studio = Studio(budget=dataclasses.replace(HOSTED_SESSION, max_pixels=250_000))
    assert studio.import_dataset(one_image_zip(tmp_path, 20), confine=True) == 20  # 200,000
    assert _import_limits(studio, replace=False).max_pixels == 50_000  # what is left
    with pytest.raises(DataError, match="pixels"):  # appending 100,000 more
        studio.import_dataset(one_image_zip(tmp_path, 10), replace=False, confine=True)
    with pytest.raises(DataError, match="pixels"):  # replacing with 300,000
        studio.import_dataset(one_image_zip(tmp_path, 30), confine=True)
    assert studio.num_examples() == 20 and studio.stored_pixels() == 200_000  # unchanged


def test_extract_is_refused_before_the_model_when_its_activations_pass_the_budget():
    per = activation_bytes(1, 28, 28, 128)
    studio = budgeted(acts=10 * per)
    studio.add_class("b")
    for i in range(12):
        studio.add_examples("ab"[i % 2], text=f"example {i}")

    class NoModel(types.SimpleNamespace):
        def __getattr__(self, name):
            raise AssertionError(f"the model was used ({name})")

    adapter = NoModel(num_layers=28, num_heads=28, head_dim=128)
    with pytest.raises(DataError, match=r"activations for 12 examples.*at most 10 examples"):
        studio.extract_and_fit(adapter)


def test_memory_counts_images_an_undoable_delete_and_activations():
    studio = budgeted()
    studio.add_examples("a", [frame(), frame()])
    assert studio.memory_bytes() == 2 * 100 * 100 * 4  # Pillow keeps RGB in 4 bytes
    studio.remove_example("a", 0)  # kept for undo: still held
    assert studio.memory_bytes() == 2 * 100 * 100 * 4
    studio.activations = torch.zeros(1, 2, 2, 4)
    assert studio.memory_bytes() == 2 * 40_000 + 64


# --- the registry ---------------------------------------------------------------------------


class Held:
    """A session stand-in: its memory, and what the registry cleared it with."""

    def __init__(self, size: int) -> None:
        self.size, self.why = size, None

    def memory_bytes(self) -> int:
        return self.size

    def close(self, why: str = "") -> None:
        self.size, self.why = 0, why


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def call(reg: SessionRegistry, key: str, session: Held, clock: Clock, dt: float = 1.0) -> None:
    clock.now += dt
    with reg.call(key, session):
        pass


def test_past_the_memory_budget_the_least_recently_used_idle_session_is_cleared():
    clock = Clock()
    reg = SessionRegistry(max_bytes=250, ttl_s=1e9, clock=clock)
    a, b, c = Held(100), Held(100), Held(100)
    for key, s in (("a", a), ("b", b)):
        call(reg, key, s, clock)
    call(reg, "a", a, clock)  # a used again: b is now the least recently used
    call(reg, "c", c, clock)
    assert b.why == IDLE and a.why is None and c.why is None
    assert "b" not in reg and reg.total_bytes() == 200


def test_a_session_whose_call_is_running_is_never_cleared():
    clock = Clock()
    reg = SessionRegistry(max_bytes=150, ttl_s=5, clock=clock)
    a, b = Held(100), Held(100)
    call(reg, "a", a, clock)
    with reg.call("a", a):  # a's long call runs
        call(reg, "b", b, clock)  # over budget: a is busy, b is the caller
        clock.now += 100
        assert reg.sweep() == 1  # b expired; a, busy, stays
    assert a.why is None and b.why.startswith("this session was idle for more than")
    assert len(reg) == 1


def test_sessions_idle_past_their_time_to_live_are_cleared_and_fresh_ones_kept():
    clock = Clock()
    reg = SessionRegistry(max_bytes=1 << 40, ttl_s=60, clock=clock)
    old, fresh = Held(10), Held(10)
    call(reg, "old", old, clock)
    call(reg, "fresh", fresh, clock, dt=30)
    clock.now += 40  # old: 70 s idle, fresh: 40 s
    assert reg.sweep() == 1
    assert old.why == EXPIRED.format(duration="60 seconds") and fresh.why is None
    assert reg.values() == [fresh]


def test_a_closed_page_forgets_its_session_and_clears_it_without_a_message():
    clock = Clock()
    reg = SessionRegistry(max_bytes=1 << 40, ttl_s=60, clock=clock)
    s = Held(10)
    call(reg, "k", s, clock)
    assert reg.close("k") is s and s.why == "" and len(reg) == 0


def test_a_cleared_studio_is_empty_and_says_why():
    studio = budgeted()
    studio.add_examples("a", [frame()])
    studio.new_export_path("x.zip")
    folder = studio.export_dir
    studio.close(IDLE)
    assert studio.classes == {} and studio.memory_bytes() == 0 and studio.cleared == IDLE
    assert folder and not os.path.exists(folder) and studio.export_dir == ""
