"""What the lesson views cost against a plain classify, side by side in one run (issue 23).

    python -m benchmarks.lesson [--model tiny] [--task colour] [--rounds 5] [--json]

On one model and example task: a plain classify of one test input (`savs.predict`), the head
map from the kept training activations (`savs.head_projection`; also at the issue's size,
1,000 examples x 784 heads, goal <= 200 ms), one head's class attention
over the training set (`savs.class_attention`), and the model's own answer to the prompt
(`savs.zero_shot_predict`) with the selected heads switched off (`savs.ablate`) against without.
Medians over the rounds, each as a ratio to the plain classify.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch

import savs
from savs.models.registry import ASSETS


def median_ms(fn: Callable[[], object], rounds: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(model: str, task: str, rounds: int) -> dict:
    torch.set_num_threads(1)
    adapter = savs.load_model(model, device="cpu")
    folder = ASSETS / "examples" / task
    train = savs.load_examples(folder / "train.jsonl")
    test = savs.load_examples(folder / "test.jsonl")[:1]
    labels = list(dict.fromkeys(ex.label for ex in train))
    clf, acts = savs.pipeline.fit_with_activations(adapter, train, k=20)  # acts [N, L, H, d]
    head = clf.heads[0]
    train_labels = [ex.label for ex in train]

    def ablated() -> list[str]:
        with savs.ablate(adapter, clf.heads, mode="zero"):
            return savs.zero_shot_predict(adapter, test, labels)

    # the size for the head map: 1,000 examples of a 28 x 28-head model (784 heads,
    # d = 64, as LLaVA-OV-0.5B's 24 x 14 is smaller), random vectors, 10 classes
    big = torch.randn(1000, 28, 28, 64, generator=torch.Generator().manual_seed(0))
    big_labels = [f"class {i % 10}" for i in range(1000)]
    timings = {
        "classify": median_ms(lambda: savs.predict(adapter, clf, test), rounds),
        "head_map": median_ms(lambda: savs.head_projection(acts, train_labels, head), rounds),
        "head_map_1000x784": median_ms(
            lambda: savs.head_projection(big, big_labels, (27, 27)), rounds
        ),
        "class_attention": median_ms(lambda: savs.class_attention(adapter, train, head), rounds),
        "answer": median_ms(lambda: savs.zero_shot_predict(adapter, test, labels), rounds),
        "answer_ablated": median_ms(ablated, rounds),
    }
    base = timings["classify"]
    return {
        "model": model,
        "task": task,
        "train_examples": len(train),
        "heads": adapter.num_layers * adapter.num_heads,
        "labels": len(labels),
        "rounds": rounds,
        "ms": timings,
        "x_classify": {name: ms / base for name, ms in timings.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--task", default="colour")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.model, args.task, args.rounds)
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{result['model']} on {result['task']}: {result['train_examples']} training examples, "
        f"{result['heads']} heads, {result['labels']} labels, median of {result['rounds']}"
    )
    for name, ms in result["ms"].items():
        print(f"  {name:16s} {ms:9.1f} ms  {result['x_classify'][name]:7.2f}x classify")


if __name__ == "__main__":
    main()
