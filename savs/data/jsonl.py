"""The published JSONL format, one example a line:
{"image": path | [paths] | absent, "question": text, "label": text}, image paths relative to
the JSONL file. Read line by line with every limit checked on the way (`Reader`); written with
the images copied beside it (`write_jsonl`: a dataset export, a `savs fit --train` input).
"""

from __future__ import annotations

import codecs
import json
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from PIL import Image

from ..errors import DataError
from ..limits import MAX_LINE_BYTES, Limits
from ..safejson import json_reason, strict_json
from .examples import Example, check_text
from .reader import Reader, reader_for


def parse_record(
    record: object,
    where: str,
    base_dir: Path,
    question: str | None = None,
    require_label: bool = True,
    confine_to: Path | None = None,
    *,
    reader: Reader | None = None,
) -> Example:
    """Turn one decoded JSONL object into an Example, or raise DataError naming `where`.

    With `confine_to`, image paths must stay inside that folder (uploaded data may not read
    other files on the server). Labels are NFC-normalised."""
    reader = reader or reader_for(confine_to, None)
    limits = reader.limits
    if not isinstance(record, dict):
        raise DataError(
            f"{where}: expected a JSON object like "
            '{"image": "a.png", "question": "...", "label": "..."}, got '
            f"{type(record).__name__}."
        )
    unknown = set(record) - {"image", "question", "label", "id"}
    if unknown:
        raise DataError(
            f"{where}: unknown field(s) {sorted(unknown)[:10]}; allowed: image, "
            "question, label (and id)."
        )
    if "question" in record:
        text = check_text(record["question"], where, "question", limits.max_text_chars)
    elif question is not None:
        text = question
    else:
        raise DataError(f"{where}: missing field 'question' (the text given to the model).")

    label = record.get("label")
    if label is None:
        if require_label:
            raise DataError(f"{where}: missing field 'label' (the class of this example).")
    else:
        label = check_text(label, where, "label", limits.max_label_chars).strip()
        if not label:
            raise DataError(f"{where}: field 'label' is empty; give every example a class name.")
        label = reader.label(label, where)

    images = [reader.image(p, base_dir, where) for p in _image_paths(record, where, limits)]
    if not text and not images:
        raise DataError(f"{where}: the example has neither text nor images.")
    return Example(text=text, label=label, images=tuple(images), source=where)


def _image_paths(record: dict, where: str, limits: Limits) -> list[str]:
    """A record's "image" field as a list of at most max_images_per_example paths."""
    raw = record.get("image")
    if raw is None:
        paths: list[str] = []
    elif isinstance(raw, str):
        paths = [raw]
    elif isinstance(raw, list) and all(isinstance(p, str) for p in raw):
        paths = list(raw)
    else:
        raise DataError(
            f"{where}: field 'image' must be a path or a list of paths, got {json.dumps(raw)[:60]}."
        )
    if len(paths) > limits.max_images_per_example:
        raise DataError(
            f"{where}: {len(paths)} images in one example; the limit is "
            f"{limits.max_images_per_example}."
        )
    return paths


def _jsonl_lines(path: Path, name: str) -> Iterator[tuple[int, str]]:
    """(line number, text) one line at a time: nothing past the line asked for is read, and no
    line may be longer than MAX_LINE_BYTES. Splits on "\\n" only: str.splitlines() also splits
    on U+2028, U+0085 ..., which JSON allows raw inside strings (and write_jsonl writes raw)."""
    offset = 0
    with open(path, "rb") as f:
        lineno = 0
        while raw := f.readline(MAX_LINE_BYTES + 1):
            lineno += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                raise DataError(
                    f"{name}:{lineno}: the line is longer than {MAX_LINE_BYTES:,} "
                    "bytes; one example a line, with a shorter text."
                )
            if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
                raw, offset = raw[3:], 3  # Windows editors often start the file with a BOM
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{name}: not UTF-8 text ({exc.reason} at byte "
                    f"{offset + exc.start}, line {lineno})."
                ) from None
            offset += len(raw)
            yield lineno, text


def load_jsonl(
    path: str | Path,
    question: str | None = None,
    require_label: bool = True,
    confine_to: Path | None = None,
    *,
    limits: Limits | None = None,
    reader: Reader | None = None,
) -> list[Example]:
    """Read the published JSONL format. `question` fills in lines that have none. The file is
    read line by line and reading stops at the first line past `limits.max_examples`."""
    path = Path(path)
    reader = reader or reader_for(confine_to, limits)
    name = reader.shown(path)
    if not path.is_file():
        raise DataError(f"{name}: file not found.")
    examples = []
    for lineno, line in _jsonl_lines(path, path.name):
        if not line.strip():
            continue
        where = f"{path.name}:{lineno}"
        reader.count_example(where)  # before parsing: the line past the limit is not parsed
        try:
            record = strict_json(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno}).") from None
        except RecursionError:
            raise DataError(
                f"{where}: JSON nested too deeply; each line must be one flat object."
            ) from None
        except ValueError as exc:  # NaN, Infinity, 1e999, a 5,000-digit number
            raise DataError(f"{where}: invalid JSON ({json_reason(exc)}).") from None
        examples.append(
            parse_record(record, where, path.parent, question, require_label, reader=reader)
        )
    if not examples:
        raise DataError(f"{name}: no examples (the file is empty).")
    return examples


def write_jsonl(examples: Sequence[Example], folder: str | Path, name: str = "data.jsonl") -> Path:
    """Write examples as JSONL + copied images into `folder` (images/ beside the JSONL)."""
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, ex in enumerate(examples):
        rel = []
        for j, image in enumerate(ex.images):
            if isinstance(image, Image.Image):
                target = folder / "images" / f"{i:05d}_{j}.png"
                image.save(target)
            else:
                suffix = Path(image).suffix.lower() or ".png"
                target = folder / "images" / f"{i:05d}_{j}{suffix}"
                shutil.copyfile(image, target)
            rel.append(f"images/{target.name}")
        record: dict = {}
        if rel:
            record["image"] = rel[0] if len(rel) == 1 else rel
        record["question"] = ex.text
        if ex.label is not None:
            record["label"] = ex.label
        lines.append(json.dumps(record, ensure_ascii=False))
    out = folder / name
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


__all__ = ["parse_record", "load_jsonl", "write_jsonl"]
