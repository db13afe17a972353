"""Examples from wherever users keep them: a .jsonl file (`savs.data.jsonl`), a folder with one
subfolder of images per class (the class is the folder name), or a .zip of either (extracted
with limits into a temporary folder: `savs.archives`). `load_examples` takes any of them.

`upload=True` is the stranger's case (the app): paths confined to the upload, HOSTED limits,
messages that never show a server path. Every problem is a `DataError` naming the file, line
and field, and what to do.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..archives import _removed_on_failure, dataset_root, safe_extract_zip
from ..errors import DataError
from ..images import IMAGE_SUFFIXES
from ..limits import HOSTED, LOCAL, Limits
from .examples import Example, check_text
from .jsonl import load_jsonl
from .reader import Reader, reader_for


def load_folder(
    root: str | Path, question: str, *, limits: Limits | None = None, reader: Reader | None = None
) -> list[Example]:
    """One subfolder of images per class; the class is the subfolder's name (NFC)."""
    root = Path(root)
    reader = reader or reader_for(None, limits)
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "__")))
    if not classes:
        raise DataError(
            f"{reader.shown(root)}: no class folders found. Put each class's images "
            "in a subfolder named after the class, or provide a JSONL file."
        )
    examples = []
    for cls in classes:
        label = reader.label(
            check_text(
                cls.name, f"{cls.name[:60]}/", "class folder name", reader.limits.max_label_chars
            ),
            f"{cls.name}/",
        )
        files = sorted(p for p in cls.iterdir() if p.is_file() and not p.name.startswith("."))
        images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
        if not images:
            raise DataError(
                f"{reader.shown(cls)}: class folder '{cls.name}' holds no images "
                f"({', '.join(sorted(IMAGE_SUFFIXES))})."
            )
        for p in images:
            where = f"{cls.name}/{p.name}"
            reader.count_example(where)
            reader.count_pixels(p, where)
            examples.append(Example(text=question, label=label, images=(str(p),), source=where))
    return examples


def load_examples(
    source: str | Path,
    question: str | None = None,
    require_label: bool = True,
    workdir: str | Path | None = None,
    confine_to: str | Path | None = None,
    *,
    limits: Limits | None = None,
    upload: bool = False,
) -> list[Example]:
    """Load examples from a .jsonl file, a folder of class folders, or a .zip of either.

    `question` is the text for folder datasets (and for JSONL lines without one). Zips are
    extracted into `workdir` (a new temporary folder by default), which must outlive the
    returned examples since they refer to image files in it; on failure whatever was extracted
    is removed. JSONL image paths must stay inside `confine_to` (for a zip: inside the extracted
    archive, always). Every limit in `limits` is checked while reading.

    `upload=True` is for files a stranger sent (the app): image paths must stay inside the
    upload (a .zip's contents, the folder given; a .jsonl sent alone may name no image file),
    absolute paths are refused, messages name files relative to the upload, never by server
    path, and `limits` defaults to HOSTED.
    """
    source = Path(source)
    limits = limits or (HOSTED if upload else LOCAL)
    shown = source.name if upload else str(source)
    if not source.exists():
        raise DataError(f"{shown}: not found.")
    if source.is_file() and source.suffix.lower() == ".zip":
        dest = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="savs-data-"))
        with _removed_on_failure(dest, remove_folder=not workdir):  # our temporary folder
            safe_extract_zip(source, dest, limits)
            reader = Reader(limits, confine=dest, display_root=dest)
            return _load(dataset_root(dest), question, require_label, reader)
    if upload:
        folder = source if source.is_dir() else source.parent
        reader = Reader(limits, confine=folder, image_files=source.is_dir(), display_root=folder)
    else:
        reader = reader_for(confine_to, limits)
    return _load(source, question, require_label, reader)


def _load(source: Path, question: str | None, require_label: bool, reader: Reader) -> list[Example]:
    """A .jsonl file, or a folder holding one .jsonl or class folders (no archives here)."""
    if source.is_file():
        if source.suffix.lower() not in {".jsonl", ".json", ".ndjson"}:
            raise DataError(
                f"{source.name}: unsupported file type; use a .jsonl file, a folder "
                "with one subfolder per class, or a .zip of either."
            )
        return load_jsonl(source, question, require_label, reader=reader)
    jsonls = sorted(source.glob("*.jsonl"))
    if len(jsonls) == 1:
        return load_jsonl(jsonls[0], question, require_label, reader=reader)
    if len(jsonls) > 1:
        names = ", ".join(p.name for p in jsonls[:10])
        raise DataError(
            f"{reader.shown(source)}: several JSONL files ({names}); pass the one you mean."
        )
    if question is None:
        raise DataError(
            f"{reader.shown(source)}: a folder of class folders needs a question "
            "for the model (CLI: --question)."
        )
    return load_folder(source, question, reader=reader)


__all__ = ["load_folder", "load_examples"]
