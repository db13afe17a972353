"""One load's running totals and rules: every limit is checked while reading, before the work
it bounds, and uploaded files may only name files inside the upload.

Why one object for a load: a JSONL file, a class folder, a zip of either and studio.json count
examples, classes and pixels against the same `Limits`, and name files in messages the same way
(relative to the upload, never by server path).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError
from ..images import image_size
from ..limits import LOCAL, Limits
from .labels import label_problem, normalize_label


@dataclass
class Reader:
    """One load's running totals, so every limit is checked while reading, before the work it
    bounds; and how it may name and reach files (confined uploads)."""

    limits: Limits = LOCAL
    confine: Path | None = None  # image paths must stay inside (uploads)
    image_files: bool = True  # False: a .jsonl uploaded alone may name no image file at all
    display_root: Path | None = None  # name files relative to this, never by server path
    examples: int = 0
    pixels: int = 0
    labels: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (label, where)

    def shown(self, path: Path) -> str:
        """How a file is named in a message: relative to the upload, else as given."""
        if self.display_root is None:
            return str(path)
        try:
            relative = path.resolve().relative_to(self.display_root.resolve()).as_posix()
        except ValueError:
            relative = ""
        return relative if relative not in ("", ".") else path.name

    def count_example(self, where: str) -> None:
        """Call before reading the next example: refuses the limit + 1st."""
        limit = self.limits.max_examples
        if limit is not None and self.examples >= limit:
            raise DataError(
                f"{where}: more than {limit:,} examples; the limit is {limit:,}. Use "
                "fewer examples."
            )
        self.examples += 1

    def label(self, raw: str, where: str) -> str:
        """NFC, refusing a second spelling of an earlier label and one class too many."""
        label = normalize_label(raw)
        if not label:
            raise DataError(f"{where}: the label is empty; give every example a class name.")
        problem = label_problem(label)
        if problem:
            raise DataError(f"{where}: label {label!r} {problem}.")
        key = label.casefold()
        seen = self.labels.get(key)
        if seen is None:
            limit = self.limits.max_classes
            if limit is not None and len(self.labels) >= limit:
                raise DataError(
                    f"{where}: label {label!r} would be class number "
                    f"{len(self.labels) + 1:,}; the limit is {limit:,} classes."
                )
            self.labels[key] = (label, where)
        elif seen[0] != label:
            raise DataError(
                f"{where}: label {label!r} differs from {seen[0]!r} ({seen[1]}) only "
                "by case or Unicode form; use one spelling for one class."
            )
        return label

    def image(self, p: str, base_dir: Path, where: str) -> str:
        """Resolve one image path of a record, confined and counted against the pixel budget."""
        if not p.strip():
            raise DataError(f"{where}: field 'image' holds an empty path.")
        if any(unicodedata.category(c) == "Cc" for c in p):
            raise DataError(f"{where}: field 'image': the path holds a control character.")
        if not self.image_files:
            raise DataError(
                f"{where}: field 'image': a .jsonl uploaded on its own cannot name "
                "image files; upload a .zip holding the JSONL and its images."
            )
        path = Path(p) if Path(p).is_absolute() else base_dir / p
        shown_p = p if len(p) <= 120 else p[:117] + "..."  # a line may hold a 1 MiB path
        if self.confine is not None and (
            Path(p).is_absolute() or not path.resolve().is_relative_to(self.confine.resolve())
        ):
            # checked before existence, one message: the answer must not reveal which outside
            # files exist
            raise DataError(
                f"{where}: field 'image': '{shown_p}' points outside the dataset "
                "folder; use paths relative to the JSONL file, inside the archive."
            )
        if not path.is_file():
            raise DataError(
                f"{where}: field 'image': file '{shown_p}' not found (looked in "
                f"{self.shown(path.parent)}). Image paths are relative to the JSONL "
                "file."
            )
        self.count_pixels(path, where)
        return str(path)

    def count_pixels(self, path: Path, where: str) -> None:
        """Add an image's header size to the budget (nothing decoded); refuse past it."""
        budget = self.limits.max_pixels
        if budget is None:
            return
        name = where if path.name in where else f"{where}: image '{path.name}'"
        width, height = image_size(path, name)
        self.pixels += width * height
        if self.pixels > budget:
            raise DataError(
                f"{name}: the images so far hold {self.pixels:,} pixels; the limit "
                f"for one load is {budget:,}. Use smaller images (e.g. at most "
                "1024 x 1024) or fewer of them."
            )


def reader_for(confine_to: str | Path | None, limits: Limits | None) -> Reader:
    """A reader for a library call: confined to `confine_to` (and naming files relative to it)
    when given, LOCAL limits unless told otherwise."""
    confine = Path(confine_to) if confine_to is not None else None
    return Reader(limits or LOCAL, confine, display_root=confine)


__all__ = ["Reader", "reader_for"]
