"""Nothing a person made is lost to one click (issue 22): loading an example task or importing
a dataset over their classes can be undone exactly (classes, prompt, k, scoring, task), and the
classifier is current again only when it was fitted on what came back. Text examples come one
per line."""

from __future__ import annotations

import pytest
import torch

from savs import DataError
from savs.limits import MAX_TEXT_LINES_PER_ADD
from studio.actions import Studio
from studio.budget import image_bytes

import studio_fixtures as sf

pytestmark = pytest.mark.unit


def fake_fit(s: Studio) -> None:
    """'Extract' without a model: random activations for the current training set."""
    n = s.num_examples()
    s.activations = torch.randn(n, 2, 2, 8, generator=torch.Generator().manual_seed(n))
    s.fit_config = {"model": "m", "prompt": s.prompt}
    s._fit(s.training_examples())


def users_studio() -> Studio:
    """Two classes of the person's own, a prompt, k and scoring of their choosing, fitted."""
    s = Studio()
    for name in ("cats", "dogs"):
        s.add_class(name)
        s.add_examples(name, [sf.colour_image((200, 10, 10), 0)], "a pet")
        s.add_examples(name, text=f"{name} two")
    s.set_prompt("Which pet?")
    s.k, s.scoring = 3, "reference"
    fake_fit(s)
    return s


def snapshot(s: Studio) -> tuple:
    return (
        {k: [(ex.label, ex.text, ex.images) for ex in v] for k, v in s.classes.items()},
        s.prompt,
        s.k,
        s.scoring,
        s.task,
    )


def test_undo_brings_back_the_classes_an_example_task_replaced(tmp_path):
    s = users_studio()
    before, clf = snapshot(s), s.classifier
    sf.make_colour_task(tmp_path)
    assert s.load_example_task("colours", tmp_path) == 12
    assert list(s.classes) == list(sf.TASK_COLOURS) and s.task == "colours" and s.stale
    assert s.replaced_notice() == "It replaced your 2 classes — Undo brings them back."
    assert s.undo() == "your 2 classes"
    assert snapshot(s) == before
    # nothing else happened in between: the classifier fitted on exactly this is current again
    assert s.classifier is clf and not s.stale and s.can_refit and s.last_removal is None
    s.refit(k=2)  # its activations are the ones it was fitted on


def test_undo_after_extracting_the_task_restores_but_the_classifier_stays_out_of_date(tmp_path):
    s = users_studio()
    before = snapshot(s)
    sf.make_colour_task(tmp_path)
    s.load_example_task("colours", tmp_path)
    fake_fit(s)  # 'Try an example': load, then extract
    assert not s.stale and s.classifier.labels == list(sf.TASK_COLOURS)
    s.undo()
    assert snapshot(s) == before and s.stale
    # later edits never hand out the undone revision again: the task's classifier stays stale
    for _ in range(3):
        s.add_class()
        assert s.stale
    assert "came back" not in s.stale_message()


def test_undo_brings_back_k_and_scoring_an_import_replaced(tmp_path):
    source = Studio()
    for name in ("a", "b"):
        source.add_class(name)
        source.add_examples(name, text=f"{name} text")
    source.k, source.scoring = 7, "loo"
    archive = source.export_dataset(tmp_path / "data.zip")
    s = users_studio()
    before = snapshot(s)
    s.import_dataset(archive)
    assert (list(s.classes), s.k, s.scoring) == (["a", "b"], 7, "loo")
    assert "your 2 classes" in s.replaced_notice()
    s.undo()
    assert snapshot(s) == before and not s.stale


def test_replacing_an_empty_session_offers_no_undo(tmp_path):
    s = Studio()
    sf.make_colour_task(tmp_path)
    s.load_example_task("colours", tmp_path)
    assert s.last_removal is None and s.replaced_notice() == ""
    with pytest.raises(DataError, match="nothing to undo"):
        s.undo()
    s.load_example_task("colours", tmp_path)  # a task over a task: the first one can come back
    assert s.replaced_notice() == "It replaced your 3 classes — Undo brings them back."
    s.undo()
    assert s.task == "colours" and s.num_examples() == 12


def test_an_edit_after_the_replace_ends_its_undo(tmp_path):
    s = users_studio()
    sf.make_colour_task(tmp_path)
    s.load_example_task("colours", tmp_path)
    s.rename_class("red", "crimson")  # only the last action can be undone
    with pytest.raises(DataError, match="nothing to undo"):
        s.undo()


def test_the_replaced_pictures_count_in_the_sessions_memory(tmp_path):
    s = users_studio()
    own = image_bytes(im for ex in s.training_examples() for im in ex.images)
    assert own > 0
    sf.make_colour_task(tmp_path)
    s.load_example_task("colours", tmp_path)
    held = s.memory_bytes()
    s.last_removal = None
    assert held - s.memory_bytes() == own  # the two pictures an undo would restore


def test_a_delete_undone_after_a_refit_never_looks_current_later():
    """The same revision number is never given twice (an undone delete used to hand its number
    out again on the next edit, making a classifier of other examples look current)."""
    s = users_studio()
    s.remove_example("cats", 0)
    fake_fit(s)  # fitted without that example
    s.undo()
    assert s.stale  # the example is back: the classifier does not describe it
    s.add_class()
    assert s.stale


def test_each_line_becomes_one_text_example():
    s = Studio()
    s.add_class("spam")
    assert s.add_text_examples("spam", "win money now\n\n  cheap pills  \r\nclick here\n") == 3
    assert [ex.text for ex in s.classes["spam"]] == ["win money now", "cheap pills", "click here"]
    assert "3 examples added to 'spam'" in s.change
    with pytest.raises(DataError, match="nothing to add"):
        s.add_text_examples("spam", " \n \n")


def test_too_many_lines_or_one_bad_line_adds_nothing():
    s = Studio()
    s.add_class("spam")
    many = "\n".join(f"line {i}" for i in range(MAX_TEXT_LINES_PER_ADD + 1))
    with pytest.raises(DataError, match=f"at most {MAX_TEXT_LINES_PER_ADD} examples"):
        s.add_text_examples("spam", many)
    s.max_text_chars = 10
    with pytest.raises(DataError, match="line 2 is 11 characters"):
        s.add_text_examples("spam", "short\n" + "x" * 11)
    assert s.classes["spam"] == [] and s.revision == 1
    s.add_text_examples("spam", "\n".join(["ok"] * MAX_TEXT_LINES_PER_ADD))
    assert s.num_examples() == MAX_TEXT_LINES_PER_ADD


def test_the_task_test_inputs_take_each_class_in_turn(tmp_path, monkeypatch):
    monkeypatch.setenv("SAVS_EXAMPLES", str(tmp_path))
    sf.make_colour_task(tmp_path, n_test=3)
    s = Studio()
    assert s.task_test_inputs() == []
    s.load_example_task("colours")
    shown = s.task_test_inputs(limit=5)
    assert [ex.label for ex in shown] == ["red", "green", "blue", "red", "green"]
    assert all(ex.text == "" and len(ex.images) == 1 for ex in shown)  # the prompt is shared
