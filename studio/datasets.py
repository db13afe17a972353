"""The session's training set in and out: import a dataset (JSONL, class folders, a .zip of
either, our own export), load a bundled example task, export the labeled examples.

Every import checks everything (limits, labels, pixels) before it changes the session: a bad
file leaves the session's work as it was."""

from __future__ import annotations

import dataclasses
import itertools
import os
import tempfile
from pathlib import Path

from savs.data import (
    STUDIO_FILE,
    Example,
    dataset_root,
    join_prompt,
    load_examples,
    read_studio_meta,
    split_prompt,
    write_jsonl,
    write_studio_meta,
    zip_folder,
)
from savs.errors import DataError
from savs.limits import HOSTED, TEST_GALLERY_ITEMS, Limits
from savs.models.registry import ASSETS

from .budget import check_pixels
from .priority import CLICKS_FIRST
from .session import MAX_CLASSES, Session, stored_image

EXAMPLES_ENV = "SAVS_EXAMPLES"  # folder of bundled example tasks (default: assets/examples)
DATASET_FILE = "data.jsonl"


def examples_root() -> Path:
    """Where bundled example tasks live: $SAVS_EXAMPLES, else <assets>/examples."""
    return Path(os.environ.get(EXAMPLES_ENV) or ASSETS / "examples")


def list_example_tasks(root: Path | None = None) -> list[str]:
    """Names of the bundled example tasks: folders holding a train.jsonl."""
    root = root or examples_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "train.jsonl").is_file())


class DatasetActions(Session):
    """Importing and exporting a session's labeled examples (a part of `studio.actions.Studio`)."""

    def import_dataset(self, path: str | Path, replace: bool = True, confine: bool = False) -> int:
        """Load a JSONL file, a folder of class folders, or a .zip of either (our dataset
        export included). A question shared by every example becomes the prompt. With
        `confine` (uploads), image paths must stay inside the upload. Returns the number of
        examples loaded; on any error the session is unchanged."""
        path = Path(path)
        examples, meta = self._read_dataset(path, replace, confine)
        questions = {ex.text for ex in examples}
        if meta:
            prompt = meta.get("prompt", "")
        elif questions == {""}:
            prompt = self.prompt  # class folders carry no question: keep the session's prompt
        else:
            prompt = questions.pop() if len(questions) == 1 else ""
        classes: dict[str, list[Example]] = (
            {} if replace else {k: list(v) for k, v in self.classes.items()}
        )
        for name in meta.get("classes", []):
            classes.setdefault(name, [])
        for ex in examples:
            question = split_prompt(ex.text, prompt)
            classes.setdefault(ex.label, []).append(dataclasses.replace(ex, text=question))
        if len(classes) > MAX_CLASSES or sum(len(v) for v in classes.values()) > self.max_examples:
            raise DataError(
                f"{path.name}: too large for one session (at most {MAX_CLASSES} "
                f"classes and {self.max_examples} examples)."
            )
        if not confine:  # uploads were counted from their headers while reading
            held = 0 if replace else self.stored_pixels()
            pixels = sum(im.width * im.height for ex in examples for im in ex.images)
            check_pixels(held, pixels, self.budget.max_pixels, path.name)
        self.replace_all(
            classes,
            prompt,
            f"{path.name} was imported",
            k=meta.get("k") or None,
            scoring=meta.get("scoring") or None,
        )
        return len(examples)

    def _read_dataset(self, path: Path, replace: bool, confine: bool) -> tuple[list[Example], dict]:
        """The examples of a dataset, their pictures read into memory, and its studio.json ({}
        when it has none). Uploads: limits checked while reading, paths confined, messages
        naming no server path."""
        with tempfile.TemporaryDirectory(prefix="savs-import-") as tmp:
            loaded = load_examples(
                path,
                question="",
                workdir=tmp,
                upload=confine,
                limits=_import_limits(self, replace) if confine else None,
            )
            root = (
                dataset_root(Path(tmp))
                if path.suffix.lower() == ".zip"
                else (path if path.is_dir() else path.parent)
            )
            meta = read_studio_meta(root / STUDIO_FILE)
            # keep pixels, not paths: the extracted files go away with the temporary folder
            examples = []
            for ex in loaded:
                CLICKS_FIRST.give_way()  # between pictures, a queued click goes first
                images = tuple(stored_image(im, ex.describe()) for im in ex.images)
                examples.append(dataclasses.replace(ex, images=images))
        return examples, meta

    def load_example_task(self, name: str, root: Path | None = None) -> int:
        """Replace the session with a bundled example task's training set."""
        root = root or examples_root()
        if name not in list_example_tasks(root):
            raise DataError(
                f"no example task {name!r}; available: "
                f"{', '.join(list_example_tasks(root)) or 'none'}."
            )
        n = self.import_dataset(root / name / "train.jsonl")
        self.task = name
        return n

    def task_test_set(self, root: Path | None = None) -> Path | None:
        """The loaded example task's test.jsonl, if it has one."""
        if not self.task:
            return None
        path = (root or examples_root()) / self.task / "test.jsonl"
        return path if path.is_file() else None

    def task_test_inputs(self, limit: int = TEST_GALLERY_ITEMS) -> list[Example]:
        """Up to `limit` of the loaded example task's test examples, taken in turn from each
        class (a test file is often sorted by label), their text without the shared prompt:
        what the Classify tab offers to click. [] without a task or a test set."""
        path = self.task_test_set()
        if path is None:
            return []
        by_class: dict[str, list[Example]] = {}
        for ex in load_examples(path):
            text = split_prompt(ex.text, self.prompt)
            by_class.setdefault(ex.label or "", []).append(dataclasses.replace(ex, text=text))
        rows = itertools.zip_longest(*by_class.values())
        return [ex for row in rows for ex in row if ex is not None][:limit]

    def export_dataset(self, archive: str | Path) -> Path:
        """Labeled examples -> .zip of data.jsonl + images/ + studio.json (prompt, classes, k).
        Questions hold the full text, so the JSONL also works with `savs fit` alone."""
        examples = self.training_examples()
        if not examples and not self.classes:
            raise DataError("nothing to export: the session has no classes.")
        full = [dataclasses.replace(ex, text=join_prompt(self.prompt, ex.text)) for ex in examples]
        with tempfile.TemporaryDirectory(prefix="savs-export-") as tmp:
            write_jsonl(full, tmp, DATASET_FILE)
            write_studio_meta(tmp, self.prompt, list(self.classes), self.shown_k, self.scoring)
            return zip_folder(tmp, archive)


def _import_limits(studio: Session, replace: bool) -> Limits:
    """An upload may fill the session up to its example and pixel budgets, not past them."""
    room = studio.max_examples - (0 if replace else studio.num_examples())
    pixels = HOSTED.max_pixels
    if studio.budget.max_pixels is not None:
        held = 0 if replace else studio.stored_pixels()
        pixels = min(pixels or studio.budget.max_pixels, studio.budget.max_pixels - held)
    return dataclasses.replace(
        HOSTED,
        max_examples=max(0, min(HOSTED.max_examples or room, room)),
        max_pixels=max(0, pixels) if pixels is not None else None,
        max_text_chars=min(HOSTED.max_text_chars, studio.max_text_chars),
    )


__all__ = [
    "DatasetActions",
    "examples_root",
    "list_example_tasks",
    "EXAMPLES_ENV",
    "STUDIO_FILE",
    "DATASET_FILE",
]
