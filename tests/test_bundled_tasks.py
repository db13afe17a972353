"""SAVs with the bundled `tiny` model on the four bundled example tasks: the accuracy it reaches,
and that each task picks its own heads. The floors are the measured figures of the shipped
weights (README, model card) minus a small margin: a regression guard, not the issue's targets,
which the shipped weights do not all reach yet (see the model card)."""

from __future__ import annotations

import pytest

from savs import ActivationCache, evaluate, fit, load_examples, load_model
from savs.models.registry import ASSETS

pytestmark = pytest.mark.slow

TASKS = ("colour", "shape", "count", "position")
# measured test accuracy of the shipped weights (k=20, loo): colour 1.00, shape 0.343,
# count 0.75, position 0.76 (README); floors 0.03 below for other CPUs' rounding
FLOORS = {"colour": 0.97, "shape": 0.31, "count": 0.72, "position": 0.73}


@pytest.fixture(scope="module")
def tiny():
    return load_model("tiny")


@pytest.fixture(scope="module")
def fits(tiny):
    out = {}
    for task in TASKS:
        folder = ASSETS / "examples" / task
        train = load_examples(folder / "train.jsonl")
        clf = fit(tiny, train, k=20, cache=ActivationCache())
        report, _ = evaluate(tiny, clf, load_examples(folder / "test.jsonl"))
        out[task] = (clf, report)
    return out


@pytest.mark.parametrize("task", TASKS)
def test_task_accuracy(fits, task):
    clf, report = fits[task]
    assert sum(report.per_class[c]["support"] for c in clf.labels) >= 100
    assert report.accuracy >= FLOORS[task], (task, report.accuracy)
    chance = 1 / len(clf.labels)
    assert report.accuracy > chance + 0.1, (task, report.accuracy, chance)


def test_tasks_select_different_heads(fits):
    heads = {task: set(clf.heads) for task, (clf, _) in fits.items()}
    for a in TASKS:
        for b in TASKS:
            if a < b:
                overlap = len(heads[a] & heads[b]) / len(heads[a])
                assert overlap < 0.75, (a, b, overlap)
