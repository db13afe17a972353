"""A session's state without any model: edits mark the classifier out of date, deletes can be
undone exactly, classify refuses an empty input before any model work."""

from __future__ import annotations

import pytest
import torch

from savs import DataError
from savs.classifier import fit_activations
from savs.errors import ClassifierError
from savs.limits import HOSTED
from studio.actions import Studio

import studio_fixtures as sf

pytestmark = pytest.mark.unit


def fitted_studio() -> Studio:
    """Two classes of two examples, 'fitted' on random activations (no model)."""
    s = Studio()
    for name in ("red", "blue"):
        s.add_class(name)
        s.add_examples(name, text=f"{name} one")
        s.add_examples(name, text=f"{name} two")
    s.activations = torch.randn(4, 2, 2, 8, generator=torch.Generator().manual_seed(0))
    s.fit_config = {"model": "m", "prompt": ""}
    s.k = 2
    s._fit(s.training_examples())
    return s


def test_a_fitted_classifier_is_current_until_an_edit():
    s = fitted_studio()
    assert not s.stale and s.classifier.labels == ["red", "blue"]
    s.add_class("green")
    assert s.stale and "class 'green' was added since the last Extract" in s.stale_message()


@pytest.mark.parametrize(
    "edit, change",
    [
        (lambda s: s.rename_class("red", "crimson"), "renamed"),
        (lambda s: s.delete_class("blue"), "class 'blue' was deleted"),
        (lambda s: s.remove_example("red", 0), "an example of 'red' was deleted"),
        (lambda s: s.add_examples("red", text="more"), "1 example added to 'red'"),
        (lambda s: s.set_prompt("Which colour?"), "the prompt changed"),
    ],
)
def test_every_edit_makes_classify_and_refit_refuse(edit, change):
    s = fitted_studio()
    edit(s)
    with pytest.raises(ClassifierError, match=change):
        s.check_input(None, "some text")
    with pytest.raises(DataError, match="click 'Extract'"):
        s.refit(k=1)
    assert "(out of date)" in s.summary()


def test_undo_restores_a_deleted_class_in_place_and_the_classifier_is_current_again():
    s = fitted_studio()
    before = [(ex.label, ex.text) for ex in s.training_examples()]
    s.delete_class("red")
    assert s.stale and s.last_removal.what == "class 'red'"
    assert s.undo() == "class 'red'"
    assert [(ex.label, ex.text) for ex in s.training_examples()] == before
    assert not s.stale and s.last_removal is None
    with pytest.raises(DataError, match="nothing to undo"):
        s.undo()


def test_undo_after_another_edit_restores_but_stays_out_of_date():
    s = fitted_studio()
    s.remove_example("blue", 1)
    s.set_prompt("new prompt")  # clears the undo: only the last removal can be undone
    with pytest.raises(DataError, match="nothing to undo"):
        s.undo()
    s.remove_example("blue", 0)
    s.undo()
    assert [ex.text for ex in s.classes["blue"]] == ["blue one"] and s.stale


def test_classify_needs_an_input_before_anything_else():
    s = fitted_studio()
    with pytest.raises(DataError, match="nothing to classify"):
        s.check_input(None, "   ")
    assert s.check_input(None, " a text ") == "a text"
    with pytest.raises(ClassifierError, match="no classifier yet"):
        Studio().check_input(sf.colour_image((1, 2, 3), 0), "")


def test_class_names_differing_only_by_case_or_normal_form_are_one_name():
    s = Studio()
    s.add_class("Red")
    with pytest.raises(DataError, match="already a class named 'Red'"):
        s.add_class("red")
    s.add_class("caf\u00e9")  # NFC
    with pytest.raises(DataError, match="already a class named"):
        s.add_class("cafe\u0301")  # NFD of the same name
    assert s.rename_class("Red", "RED") == "RED"  # a class may change its own case


def test_refit_keeps_its_own_activations_and_matches_a_fresh_fit():
    s = fitted_studio()
    refit = s.refit(k=3, scoring="reference")
    fresh = fit_activations(
        s.activations, [ex.label for ex in s.training_examples()], 3, "reference", s.fit_config
    )
    assert refit.heads == fresh.heads and torch.equal(refit.means, fresh.means)


def test_close_frees_what_the_session_holds(tmp_path):
    s = fitted_studio()
    path = s.new_export_path("c.zip")
    s.export_classifier(path)
    folder = path.parent
    assert folder.is_dir()
    second = s.new_export_path("d.zip")
    assert not folder.exists() and second.parent.is_dir()  # one export folder per session
    s.close()
    assert not second.parent.exists()
    assert s.classes == {} and s.activations is None and s.classifier is None


def test_recording_adds_exactly_n_frames_to_its_class_then_stops():
    s = Studio()
    s.add_class("cup")
    assert not s.record_frame(sf.colour_image((1, 2, 3), 0))  # not recording: nothing added
    s.start_recording("cup", 3)
    added = [s.record_frame(sf.colour_image((200, 10, 10), i)) for i in range(5)]
    assert added == [True, True, True, False, False] and len(s.classes["cup"]) == 3
    assert s.recording == "" and s.record_left == 0
    with pytest.raises(DataError, match="between 1 and"):
        s.start_recording("cup", 0)
    s.start_recording("cup", 2)
    s.delete_class("cup")  # the target went away: recording stops instead of failing
    assert not s.record_frame(sf.colour_image((1, 2, 3), 0)) and s.recording == ""


def test_a_card_drawn_before_a_rename_still_finds_its_class():
    s = Studio()
    s.add_class("Class 1")
    s.rename_class("Class 1", "cup")
    s.rename_class("cup", "mug")
    assert s.current_name("Class 1") == "mug" and s.current_name("cup") == "mug"
    s.add_class("Class 1")  # a new class may take an old name: it wins
    assert s.current_name("Class 1") == "Class 1"


def test_a_call_that_would_read_too_much_text_is_refused_before_the_model():
    s = fitted_studio()
    s.max_call_chars = 30
    s.set_prompt("a prompt of 22 letters")  # 4 examples x 22 + their texts > 30
    s.fitted_revision = s.revision  # (as after an Extract with this prompt)

    class NoModel:
        def __getattr__(self, name):
            raise AssertionError("the model was used")

    with pytest.raises(DataError, match="the limit on this server is 30"):
        s.extract_and_fit(NoModel())
    s.classifier.config["prompt"] = "p" * 25
    with pytest.raises(DataError, match="This input would make the model read 35 characters"):
        s.check_input(None, "hello text")
    s.max_call_chars = None
    assert s.check_input(None, "hello text") == "hello text"


def test_a_session_holds_at_most_what_one_hosted_upload_may():
    """The session's caps are savs.limits.HOSTED's numbers (one place), local sessions too."""
    from studio import session

    assert (session.MAX_CLASSES, session.MAX_EXAMPLES) == (HOSTED.max_classes, HOSTED.max_examples)
    s = Studio()
    assert s.max_examples == HOSTED.max_examples
    for i in range(HOSTED.max_classes):
        s.add_class(f"c{i}")
    with pytest.raises(DataError, match=f"at most {HOSTED.max_classes} classes"):
        s.add_class("one more")


@pytest.mark.parametrize("k", [3, "auto"])
def test_a_refit_and_its_curve_read_the_cosines_once(k, monkeypatch):
    """A k change redraws the k curve: the refit's own curve, not a second pass over the
    activations (issue 20: `Studio.k_curve` used to compute `k_curve` again after the fit)."""
    import savs.classifier as classifier

    s = fitted_studio()
    calls = []
    real = classifier.class_cosines
    monkeypatch.setattr(
        classifier, "class_cosines", lambda *a, **kw: calls.append(1) or real(*a, **kw)
    )
    clf = s.refit(k=k, scoring="reference")
    curve = s.k_curve()
    labels = [ex.label for ex in s.training_examples()]
    assert len(calls) == 1 and curve is clf.k_curve
    assert curve == classifier.k_curve(s.activations, labels, "reference")


@pytest.mark.parametrize("k", [1, 3, "auto"])
def test_a_k_change_reuses_the_head_scores(k, monkeypatch):
    """Only k moved: the refit reads no cosine, keeps the curve, and gives the classifier a
    fresh fit gives."""
    import savs.classifier as classifier

    s = fitted_studio()
    curve = s.k_curve()
    calls = []
    real = classifier.class_cosines
    monkeypatch.setattr(
        classifier, "class_cosines", lambda *a, **kw: calls.append(1) or real(*a, **kw)
    )
    refit = s.refit(k=k)
    assert calls == [] and s.k_curve() is curve
    monkeypatch.undo()
    labels = [ex.label for ex in s.training_examples()]
    fresh = fit_activations(s.activations, labels, k, "loo", s.fit_config)
    assert refit.heads == fresh.heads and torch.equal(refit.means, fresh.means)
    assert refit.config == fresh.config and torch.equal(refit.head_scores, fresh.head_scores)
    s.refit(scoring="reference")  # another scoring: scored again, a new curve
    assert s.k_curve() == classifier.k_curve(s.activations, labels, "reference")
