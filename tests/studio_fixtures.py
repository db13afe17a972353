"""Builders shared by the studio, app and browser tests: a tiny random LLaVA saved as a model
folder (what `savs.load_model(folder)` and `python app.py --model FOLDER` read), and a small
generated example task in the bundled layout (<root>/<task>/{train,test}.jsonl + images/)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from PIL import Image

import tiny_models

TASK_COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
TASK_QUESTION = "What colour is the shape?"


def save_tiny_llava(folder: Path) -> Path:
    """The tiny random LLaVA of tiny_models, saved with its processor (offline)."""
    model, processor = tiny_models.llava()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def colour_image(rgb: tuple[int, int, int], i: int, size: int = 32) -> Image.Image:
    """A solid square in a slightly different shade for each i."""
    shade = tuple(max(0, min(255, c + 9 * (i % 5) - 18)) for c in rgb)
    return Image.new("RGB", (size, size), shade)


def make_colour_task(root: Path, name: str = "colours", n_train: int = 4, n_test: int = 2) -> Path:
    """<root>/<name>/{train,test}.jsonl with solid-colour PNGs; returns the task folder."""
    folder = root / name
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        rows = []
        for label, rgb in TASK_COLOURS.items():
            for i in range(n):
                rel = f"images/{split}_{label}_{i}.png"
                colour_image(rgb, i + (0 if split == "train" else 7)).save(folder / rel)
                rows.append({"image": rel, "question": TASK_QUESTION, "label": label})
        (folder / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return folder


@contextmanager
def app_on_tiny_model(root: Path) -> Iterator:
    """app.py with the tiny random LLaVA loaded and a generated example task as the examples
    root (SAVS_EXAMPLES); the environment is restored afterwards."""
    import pytest

    model_dir = save_tiny_llava(root / "tiny-llava")
    make_colour_task(root / "examples")
    mp = pytest.MonkeyPatch()
    mp.setenv("SAVS_EXAMPLES", str(root / "examples"))
    try:
        import app

        app.start(str(model_dir))
        app.CACHE.clear()
        yield app
    finally:
        mp.undo()
