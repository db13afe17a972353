"""Write the four bundled few-shot example tasks (colour, shape, count, position).

    python -m savs.tiny.tasks [--out assets/examples]

Each task gets ``train.jsonl`` (10 examples per class), ``test.jsonl`` (balanced, at
least 100 examples) and PNG images under ``images/``; image paths in the JSONL files are
relative to the JSONL file. One example per line::

    {"image": "images/train_000.png", "question": "What colour is the shape?", "label": "red"}

Scenes are rendered from fixed seeds in a range of their own (``TASK_SEED_BASE``),
disjoint from the tiny model's training scenes and from ``savs.tiny.evaluate``; train and
test scenes of a task are disjoint too.
"""

from __future__ import annotations

import argparse
import json
import os
import random

from .scenes import COLOURS, QUADRANTS, SHAPES, make_scene

TASK_SEED_BASE = 5_000_000
N_TRAIN_PER_CLASS = 10

# task -> (question, classes, test examples per class)
TASKS: dict[str, tuple[str, list[str], int]] = {
    "colour": ("What colour is the shape?", list(COLOURS), 10),
    "shape": ("What shape is this?", list(SHAPES), 15),
    "count": ("How many shapes are there?", ["1", "2", "3", "4"], 25),
    "position": ("Where is the shape?", list(QUADRANTS), 25),
}


def task_scene(task: str, label: str, seed: int):
    if task == "colour":
        return make_scene(seed, n_objects=1, colours=[label])
    if task == "shape":
        return make_scene(seed, n_objects=1, shapes=[label])
    if task == "count":
        return make_scene(seed, n_objects=int(label))
    if task == "position":
        return make_scene(seed, n_objects=1, quadrants=[label])
    raise ValueError(task)


def task_examples(task: str, split: str) -> list[tuple[int, str]]:
    """(seed, label) pairs for a task split, shuffled with a fixed seed."""
    question, classes, n_test = TASKS[task]
    t = list(TASKS).index(task)
    per_class = N_TRAIN_PER_CLASS if split == "train" else n_test
    base = TASK_SEED_BASE + t * 100_000 + (0 if split == "train" else 50_000)
    pairs = []
    for c, label in enumerate(classes):
        for k in range(per_class):
            pairs.append((base + c * 1000 + k, label))
    random.Random(f"{task}-{split}").shuffle(pairs)
    return pairs


def write_task(task: str, out_dir: str) -> dict[str, int]:
    question = TASKS[task][0]
    tdir = os.path.join(out_dir, task)
    os.makedirs(os.path.join(tdir, "images"), exist_ok=True)
    counts = {}
    for split in ("train", "test"):
        rows = []
        for i, (seed, label) in enumerate(task_examples(task, split)):
            scene = task_scene(task, label, seed)
            rel = f"images/{split}_{i:03d}.png"
            scene.image.save(os.path.join(tdir, rel), optimize=True)
            rows.append({"image": rel, "question": question, "label": label})
        with open(os.path.join(tdir, f"{split}.jsonl"), "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        counts[split] = len(rows)
    return counts


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", default="assets/examples")
    ap.add_argument("--tasks", nargs="*", default=list(TASKS))
    args = ap.parse_args(argv)
    for task in args.tasks:
        counts = write_task(task, args.out)
        print(f"{task}: {counts}")


if __name__ == "__main__":
    main()
