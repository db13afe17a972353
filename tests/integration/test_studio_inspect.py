"""Studio's "why these heads" actions on the tiny random LLaVA: classify with explanations, the
head inspector's report, the cached k curve with k "auto", and evaluate with the baselines."""

from __future__ import annotations

import pytest
import torch

from savs import ActivationCache, Example, load_examples
from savs.activations import extract
from savs.classifier import auto_k, k_curve
from savs.compare import compare_baselines
from savs.errors import ModelError
from savs.explanation import explain_prediction, head_class_accuracy
from savs.pipeline import predict
from savs.projection import head_projection
from studio import inspecting, lesson
from studio.actions import Studio

import studio_fixtures as sf

pytestmark = pytest.mark.integration

torch.set_num_threads(1)


@pytest.fixture
def fitted(task_root, llava_adapter) -> Studio:
    s = Studio()
    s.load_example_task("colours", task_root)
    s.k = 5
    s.extract_and_fit(llava_adapter, ActivationCache())
    return s


def test_classify_with_explanations_is_the_plain_prediction(fitted, llava_adapter):
    image = sf.colour_image(sf.TASK_COLOURS["blue"], 3)
    plain = fitted.classify(llava_adapter, image).prediction
    assert fitted.last_classification.explanations is None and not fitted.explanations()
    result = fitted.classify(llava_adapter, image, explain=True)
    assert result.prediction.label == plain.label and result.prediction.votes == plain.votes
    assert [(e.layer, e.head) for e in result.explanations] == [
        (h.layer, h.head) for h in fitted.classifier.heads
    ]
    assert [e.vote for e in result.explanations] == [v for _, v in plain.head_votes]
    assert result.image is not None and result.image.size == image.size
    _, direct = explain_prediction(
        llava_adapter, fitted.classifier, Example(text="", images=(image,), source="input")
    )
    assert [e.attention for e in result.explanations] == [e.attention for e in direct]
    fitted.add_examples("red", [image])  # any edit clears the classification and its views
    assert fitted.last_classification is None and fitted.explanations() == []


def test_classify_keeps_the_input_vectors_of_every_head_up_to_the_deepest_layer(
    fitted, llava_adapter
):
    image = sf.colour_image(sf.TASK_COLOURS["green"], 2)
    result = fitted.classify(llava_adapter, image, explain=True)
    deepest = max(h.layer for h in fitted.classifier.heads)
    example = Example(text="", images=(image,), source="input")
    whole = extract(llava_adapter, [example], fitted.prompt or None)[0]  # [L, H, d]
    assert result.vectors.shape == (deepest + 1, *whole.shape[1:])
    torch.testing.assert_close(result.vectors, whole[: deepest + 1])  # unselected heads too
    assert fitted.memory_bytes() >= fitted.activations.nbytes + result.vectors.nbytes
    assert fitted.classify(llava_adapter, image).vectors is None  # no explained pass: none


def test_a_model_that_cannot_explain_still_classifies(fitted, llava_adapter, monkeypatch):
    def refuse(*args, **kwargs):
        raise ModelError("no eager attention here")

    monkeypatch.setattr("studio.classifying.explain_with_activations", refuse)
    result = fitted.classify(llava_adapter, sf.colour_image((200, 0, 0), 1), explain=True)
    assert result.explanations is None and "no eager attention" in result.explain_error
    assert result.prediction.label in sf.TASK_COLOURS


def test_head_report_for_a_selected_head(fitted, llava_adapter):
    head = fitted.classifier.heads[1]
    report = fitted.head_report(head.layer, head.head)
    labels = [ex.label for ex in fitted.training_examples()]
    assert report["class_accuracy"] == head_class_accuracy(
        fitted.activations, labels, (head.layer, head.head), "loo"
    )
    assert report["rank"] == 2 and report["cosines"] is None and report["vote"] is None
    fitted.classify(llava_adapter, sf.colour_image(sf.TASK_COLOURS["red"], 0), explain=True)
    report = fitted.head_report(head.layer, head.head)
    expl = fitted.last_classification.explanations[1]
    assert report["vote"] == expl.vote == fitted.last_classification.prediction.head_votes[1][1]
    assert report["cosines"] == expl.cosines and set(report["cosines"]) == set(sf.TASK_COLOURS)
    assert report["score"] == pytest.approx(
        float(fitted.classifier.head_scores[head.layer, head.head])
    )


def test_the_inspectors_training_numbers_are_computed_once_per_extract(
    fitted, llava_adapter, monkeypatch
):
    """The head map's plane and the inspector's per-class accuracies read the training
    activations only: each classify's redraw asks for them again, but they are computed once
    per extract (and equal the library's), and again after a new extract."""
    calls: list[str] = []

    def counted(name, fn):
        return lambda *args: calls.append(name) or fn(*args)

    monkeypatch.setattr(inspecting, "head_projection", counted("plane", head_projection))
    monkeypatch.setattr(inspecting, "head_class_accuracy", counted("accuracy", head_class_accuracy))
    head = fitted.classifier.heads[0]
    labels = [ex.label for ex in fitted.training_examples()]
    for shade in range(2):
        fitted.classify(llava_adapter, sf.colour_image(sf.TASK_COLOURS["red"], shade), explain=True)
        plane = fitted.training_projection(head.layer, head.head)
        report = fitted.head_report(head.layer, head.head)
        assert lesson.head_map(fitted, head.layer, head.head) is not None
    assert calls == ["plane", "accuracy"]
    direct = head_projection(fitted.activations, labels, (head.layer, head.head))
    assert torch.equal(plane.points, direct.points) and plane.classes == direct.classes
    assert report["class_accuracy"] == head_class_accuracy(
        fitted.activations, labels, (head.layer, head.head), "loo"
    )
    fitted.add_examples("red", [sf.colour_image(sf.TASK_COLOURS["red"], 4)])
    assert fitted.training_projection(head.layer, head.head) is None  # out of date: none
    fitted.extract_and_fit(llava_adapter, ActivationCache())
    fitted.training_projection(head.layer, head.head)
    fitted.head_report(head.layer, head.head)
    assert calls == ["plane", "accuracy"] * 2


def test_k_curve_is_cached_and_auto_picks_its_k(fitted, monkeypatch):
    labels = [ex.label for ex in fitted.training_examples()]
    curve = fitted.k_curve()
    assert curve == k_curve(fitted.activations, labels, "loo") and len(curve) == 12
    calls = []
    monkeypatch.setattr("studio.fitting.k_curve", lambda *a, **k: calls.append(1) or [])
    assert fitted.k_curve() is curve and not calls  # cached: not computed per redraw
    clf = fitted.refit(k="auto")
    assert fitted.k == "auto" and clf.k == auto_k(curve) and fitted.shown_k == clf.k
    fitted.refit(k=4)
    assert fitted.k == 4 and fitted.shown_k == 4
    fitted.add_examples("red", [sf.colour_image(sf.TASK_COLOURS["red"], 4)])
    assert fitted.k_curve() is None  # out of date: the kept activations no longer match


def test_evaluate_with_baselines_reads_the_test_set_once(
    fitted, llava_adapter, task_root, monkeypatch
):
    path = task_root / "colours" / "test.jsonl"
    test_set = [Example(text="", label=ex.label, images=ex.images) for ex in load_examples(path)]
    expected_preds = predict(llava_adapter, fitted.classifier, test_set)
    test_acts = extract(llava_adapter, test_set, fitted.prompt or None)  # [6, L, H, d]
    expected = compare_baselines(
        fitted.activations,
        [ex.label for ex in fitted.training_examples()],
        test_acts,
        [ex.label for ex in test_set],
        fitted.classifier.heads,
    )
    passes = []
    real = llava_adapter.read_heads
    monkeypatch.setattr(
        llava_adapter,
        "read_heads",
        lambda inputs, *a, **k: passes.append(len(inputs["input_ids"])) or real(inputs, *a, **k),
    )
    ev = fitted.evaluate(llava_adapter, path, baselines=True)
    assert sum(passes) == len(test_set)  # one forward pass per test example, not two
    assert ev.baselines == pytest.approx(expected)
    assert [p.label for p in ev.predictions] == [p.label for p in expected_preds]
    assert ev.zero_shot_accuracy is None
    assert fitted.evaluate(llava_adapter, path).baselines is None


def test_imported_classifier_has_no_curve_and_no_baselines(
    fitted, llava_adapter, task_root, tmp_path
):
    archive = fitted.export_classifier(tmp_path / "clf.zip")
    other = Studio()
    other.import_classifier(archive, llava_adapter)
    assert other.k_curve() is None
    head = other.classifier.heads[0]
    assert other.head_report(head.layer, head.head)["class_accuracy"] is None
    ev = other.evaluate(llava_adapter, task_root / "colours" / "test.jsonl", baselines=True)
    assert ev.baselines is None and len(ev.predictions) == 6


def test_closing_a_session_drops_the_curve(fitted):
    assert fitted.k_curve() is not None
    fitted.close()
    assert fitted.curve is None and fitted.k_curve() is None
