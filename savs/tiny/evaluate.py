"""Measure the tiny VLM's greedy answers on held-out generated scenes, per question type.

    python -m savs.tiny.evaluate [--model assets/tiny] [--n 200]

Scenes use seeds from ``EVAL_SEED_BASE`` (disjoint from training and from the bundled
tasks). Exact match after stripping whitespace; captions are reported too (their exact
match is strict: every object, colour and the order must be right).
"""

from __future__ import annotations

import argparse
import json
import time

from .scenes import QUESTION_TYPES, sample_qa

EVAL_SEED_BASE = 9_000_000
QA_TYPES = ("colour", "shape", "count", "position", "exists")


def load(model_dir: str = "assets/tiny"):
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    return model, processor


def answer(model, processor, images, questions, max_new_tokens: int = 8) -> list[str]:
    """Greedy answers for a batch of (image, question) pairs (left padding)."""
    import torch

    prompts = [
        processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q}]}],
            add_generation_prompt=True,
            tokenize=False,
        )
        for q in questions
    ]
    inputs = processor(text=prompts, images=list(images), return_tensors="pt", padding=True)
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    new = out[:, inputs["input_ids"].shape[1] :]
    return [s.strip() for s in processor.tokenizer.batch_decode(new, skip_special_tokens=True)]


def evaluate(
    model,
    processor,
    n: int = 200,
    types=QUESTION_TYPES,
    seed_base: int = EVAL_SEED_BASE,
    batch_size: int = 50,
    log=None,
) -> dict:
    results = {}
    for ti, qtype in enumerate(types):
        items = [sample_qa(seed_base + ti * 100_000 + i, qtype) for i in range(n)]
        correct, errors = 0, []
        for b in range(0, n, batch_size):
            chunk = items[b : b + batch_size]
            preds = answer(
                model,
                processor,
                [s.image for s, *_ in chunk],
                [q for _, _, q, _ in chunk],
                max_new_tokens=32 if qtype == "caption" else 8,
            )
            for (scene, _, q, a), p in zip(chunk, preds):
                if p == a:
                    correct += 1
                elif len(errors) < 5:
                    errors.append({"seed": scene.seed, "question": q, "expected": a, "got": p})
        results[qtype] = {"exact_match": correct / n, "n": n, "errors": errors}
        if log:
            log(f"{qtype:9s} exact match {correct / n:.3f} (n={n})")
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="assets/tiny")
    ap.add_argument("--n", type=int, default=200, help="questions per type")
    ap.add_argument("--types", nargs="*", default=list(QUESTION_TYPES))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    t0 = time.time()
    model, processor = load(args.model)
    res = evaluate(model, processor, n=args.n, types=args.types, log=print)
    print(f"done in {time.time() - t0:.1f}s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
