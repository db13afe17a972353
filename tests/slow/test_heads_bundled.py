"""How many heads and the baselines with the bundled `tiny` model on its `count` task (the
task whose k curve is not flat: 0.925 leave-one-out with one head, 1.0 from 8)."""

from __future__ import annotations

import pytest

from savs import extract, load_examples, load_model
from savs.classifier import auto_k, fit_activations, k_curve
from savs.compare import BASELINES, compare_baselines
from savs.models.registry import ASSETS
from savs.pipeline import evaluate, fit_with_activations

pytestmark = pytest.mark.slow


def test_auto_heads_and_baselines_on_count():
    tiny = load_model("tiny")
    folder = ASSETS / "examples" / "count"
    train, test = load_examples(folder / "train.jsonl"), load_examples(folder / "test.jsonl")
    labels = [ex.label for ex in train]
    clf, acts = fit_with_activations(tiny, train, k="auto")  # acts: [N, L, H, d]
    curve = k_curve(acts, labels)
    assert clf.k == auto_k(curve) < tiny.num_layers * tiny.num_heads
    assert curve[clf.k - 1][1] >= max(acc for _, acc in curve) - 0.01
    report, _ = evaluate(tiny, clf, test)
    assert report.accuracy >= 0.90  # issue 3's floor for count with k = 20 holds with auto too
    heads = fit_activations(acts, labels, 20).heads
    baselines = compare_baselines(
        acts, labels, extract(tiny, test), [ex.label for ex in test], heads
    )
    assert list(baselines) == list(BASELINES)
    chance = 1 / len(clf.labels)
    for name, accuracy in baselines.items():  # the heads hold the answer for every method
        assert accuracy > chance + 0.5, (name, accuracy)
