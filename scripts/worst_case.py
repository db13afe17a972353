"""The slowest call a visitor can make within the hosted limits, timed (SECURITY.md's table).

    HF_HUB_OFFLINE=1 python scripts/worst_case.py [--model tiny] [--json]

Each row runs the same Studio action an app callback runs, on the bundled model, at the limit
that bounds it: the largest upload import (1,000 examples whose images fill the 100 M pixel
budget), an extraction of 1,000 examples, an evaluation of the 500-example cap, and a classify
of a 20,000-character text. A call holds its model's lock for about this long; sessions on
other models are not held up.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from savs.activations import ActivationCache  # noqa: E402
from savs.limits import (  # noqa: E402
    HOSTED,
    HOSTED_CALL_CHARS,
    HOSTED_EVALUATE,
    HOSTED_TEXT_CHARS,
    MAX_TEXT_CHARS,
)
from savs.models.registry import load_model  # noqa: E402
from studio.actions import Studio  # noqa: E402


def _zip_dataset(folder: Path, n: int, side: int, name: str) -> Path:
    """n examples in two classes, each its own side x side image (distinct pixels)."""
    archive = folder / name
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        rows = []
        for i in range(n):
            label = "a" if i % 2 else "b"
            img = Image.new("RGB", (side, side), (i % 256, (i // 256) % 256, 200 if i % 2 else 40))
            path = folder / f"{i}.png"
            img.save(path)
            zf.write(path, f"images/{i}.png")
            rows.append(json.dumps({"image": f"images/{i}.png", "question": "q", "label": label}))
        zf.writestr("data.jsonl", "\n".join(rows))
    return archive


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _vlm_rows(adapter, folder: Path) -> list[tuple[str, object]]:
    """Uploads of images at the example and pixel limits."""
    n = HOSTED.max_examples
    side = int((HOSTED.max_pixels // n) ** 0.5)  # the pixel budget, filled
    train = _zip_dataset(folder, n, side, "train.zip")
    m = HOSTED_EVALUATE.max_examples
    test = _zip_dataset(folder, m, side, "test.zip")
    studio = Studio(prompt="What colour is the shape?", max_call_chars=HOSTED_CALL_CHARS)
    text = ("word " * (MAX_TEXT_CHARS // 5))[:MAX_TEXT_CHARS]
    return [
        (f"import_dataset ({n} examples, {side}x{side} images)",
         lambda: studio.import_dataset(train, confine=True)),
        (f"extract ({n} examples, nothing cached)",
         lambda: studio.extract_and_fit(adapter, ActivationCache())),
        (f"evaluate ({m} examples)", lambda: studio.evaluate(adapter, test, confine=True)),
        (f"classify (image + {MAX_TEXT_CHARS:,}-character text)",
         lambda: studio.classify(adapter, folder / "0.png", text)),
    ]  # fmt: skip


def _text_rows(adapter, folder: Path) -> list[tuple[str, object]]:
    """Texts at the hosted limits: one batch of the longest texts (what another session on this
    model may wait for: models are lent batch by batch), then whole calls at the character
    budget (many short texts: the longest a call can take in all)."""
    long = ("word " * HOSTED_TEXT_CHARS)[:HOSTED_TEXT_CHARS]
    batch = Studio(max_call_chars=HOSTED_CALL_CHARS, max_text_chars=HOSTED_TEXT_CHARS)
    many = Studio(max_call_chars=HOSTED_CALL_CHARS, max_text_chars=HOSTED_TEXT_CHARS)
    for name in ("a", "b"):
        batch.add_class(name)
        many.add_class(name)
    for i in range(8):  # one batch of extract
        batch.add_examples("ab"[i % 2], text=f"{i} {long}"[:HOSTED_TEXT_CHARS])
    n_short = HOSTED.max_examples
    for i in range(n_short):
        many.add_examples("ab"[i % 2], text=f"{i:04d} " + "x" * (HOSTED_CALL_CHARS // n_short - 6))
    test = folder / "test.jsonl"
    size = HOSTED_CALL_CHARS // HOSTED_EVALUATE.max_examples
    test.write_text(
        "\n".join(
            json.dumps({"question": f"{i} " + "y" * (size - 8), "label": "ab"[i % 2]})
            for i in range(HOSTED_EVALUATE.max_examples)
        )
    )
    return [
        (f"one batch: 8 texts of {HOSTED_TEXT_CHARS:,} characters",
         lambda: batch.extract_and_fit(adapter, ActivationCache())),
        (f"classify ({HOSTED_TEXT_CHARS:,}-character text)",
         lambda: batch.classify(adapter, None, long)),
        (f"extract ({n_short} texts, {HOSTED_CALL_CHARS:,} characters in all)",
         lambda: many.extract_and_fit(adapter, ActivationCache())),
        (f"evaluate ({HOSTED_EVALUATE.max_examples} texts, {HOSTED_CALL_CHARS:,} characters)",
         lambda: many.evaluate(adapter, test, confine=True)),
    ]  # fmt: skip


def run(model: str) -> list[dict]:
    torch.set_num_threads(1)  # the app gives each of its 2 resident models one core of two
    adapter = load_model(model)
    with tempfile.TemporaryDirectory() as tmp:
        calls = (_vlm_rows if adapter.is_vlm else _text_rows)(adapter, Path(tmp))
        return [{"model": model, "call": name, "seconds": round(_time(fn), 1)}
                for name, fn in calls]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = run(args.model)
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            print(f"| {row['model']} | {row['call']} | {row['seconds']} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
