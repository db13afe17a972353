"""The bundled example tasks are balanced, reproducible and disjoint from other seeds."""

import json
import os
from collections import Counter

import pytest

from savs.tiny.evaluate import EVAL_SEED_BASE
from savs.tiny.tasks import TASKS, task_examples, write_task
from savs.tiny.train import TRAIN_SEED_BASE, parse_args

pytestmark = pytest.mark.unit

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "assets", "examples")


def _rows(task, split):
    with open(os.path.join(ROOT, task, f"{split}.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.parametrize("task", list(TASKS))
def test_bundled_task_files(task):
    train, test = _rows(task, "train"), _rows(task, "test")
    classes = TASKS[task][1]
    assert Counter(r["label"] for r in train) == {c: 10 for c in classes}
    ctest = Counter(r["label"] for r in test)
    assert set(ctest) == set(classes) and len(set(ctest.values())) == 1
    assert len(test) >= 100
    for r in train + test:
        assert set(r) == {"image", "question", "label"}
        assert os.path.isfile(os.path.join(ROOT, task, r["image"]))
    assert not {r["image"] for r in train} & {r["image"] for r in test}


def test_seed_ranges_are_disjoint():
    seeds = {}
    for task in TASKS:
        for split in ("train", "test"):
            s = {seed for seed, _ in task_examples(task, split)}
            for other, o in seeds.items():
                assert not s & o, (task, split, other)
            seeds[(task, split)] = s
    all_task = set().union(*seeds.values())
    n_train = parse_args([]).scenes
    assert not any(TRAIN_SEED_BASE <= s < TRAIN_SEED_BASE + n_train for s in all_task)
    assert not any(s >= EVAL_SEED_BASE for s in all_task)
    assert TRAIN_SEED_BASE + n_train < min(all_task)


def test_task_regeneration_matches_bundle(tmp_path):
    write_task("count", str(tmp_path))
    for split in ("train", "test"):
        assert (tmp_path / "count" / f"{split}.jsonl").read_text() == open(
            os.path.join(ROOT, "count", f"{split}.jsonl")
        ).read()
    import numpy as np
    from PIL import Image

    for name in ("images/train_000.png", "images/test_017.png"):
        a = np.asarray(Image.open(tmp_path / "count" / name))
        b = np.asarray(Image.open(os.path.join(ROOT, "count", name)))
        assert (a == b).all()
