"""Labeled examples and the formats they come in.

An `Example` is one model input (zero or more images + text) with an optional label. Users bring
examples as:
- the published JSONL format, one example a line:
  {"image": path | [paths] | absent, "question": text, "label": text}, image paths relative to
  the JSONL file;
- a folder with one subfolder of images per class (the class is the folder name);
- a .zip of either (extracted with limits into a temporary folder: savs.archives).

Images are opened and checked by savs.images.

Every problem is reported as a `DataError` naming the file, line and field, and what to do.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import shutil
import tempfile
import unicodedata
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

# re-exported: images and archives had their home here (`from savs.data import open_image`)
from .archives import _removed_on_failure, dataset_root, safe_extract_zip, zip_folder
from .errors import DataError
from .images import IMAGE_SUFFIXES, ImageLike, image_digest, image_size, open_image
from .limits import (
    HOSTED,
    IMAGE_FORMATS,
    LOCAL,
    MAX_IMAGE_PIXELS,
    MAX_IMAGE_SIDE,
    MAX_IMAGES_PER_EXAMPLE,
    MAX_LABEL_CHARS,
    MAX_LINE_BYTES,
    MAX_META_BYTES,
    MAX_TEXT_CHARS,
    MAX_ZIP_BYTES,
    MAX_ZIP_FILES,
    Limits,
)
from .safejson import JSON_ERRORS, json_reason, strict_json
from .types import SCORINGS, class_order

IMAGE_MARKER = "<image>"  # in a question, marks where the next image goes (interleaving)


@dataclass(frozen=True)
class Example:
    """One input to classify: images (paths or PIL images) and text, maybe with its label."""

    text: str = ""
    label: str | None = None
    images: tuple[ImageLike, ...] = field(default_factory=tuple)
    source: str = ""  # where it came from ("train.jsonl:12"), for error messages

    def describe(self) -> str:
        return self.source or (str(self.images[0]) if self.images else repr(self.text[:40]))


def example_digest(example: Example) -> str:
    """Content hash of an example's inputs (not its label): images, then text."""
    h = hashlib.sha256()
    for image in example.images:
        h.update(image_digest(image).encode())
    h.update(b"\0text\0" + example.text.encode("utf-8"))
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Reading with limits


def check_text(value: object, where: str, fieldname: str, limit: int = MAX_TEXT_CHARS) -> str:
    """`value` as a string of at most `limit` characters, or a DataError naming where / field.
    Use it on any text a visitor sends (a question, a classify input, a prompt)."""
    if not isinstance(value, str):
        raise DataError(
            f"{where}: field '{fieldname}' must be a string, got "
            f"{type(value).__name__} ({json.dumps(value)[:60]})."
        )
    if len(value) > limit:
        raise DataError(
            f"{where}: field '{fieldname}' is {len(value):,} characters long; the "
            f"limit is {limit:,}."
        )
    return value


_check_text = check_text  # the old private name


def normalize_label(label: str) -> str:
    """Labels are compared as typed, but in one Unicode form: NFC, so that a composed "é" and an
    "e" + combining accent (macOS file names, some editors) are the same class."""
    return unicodedata.normalize("NFC", label.strip())


def label_key(label: str) -> str:
    """Two labels with the same key ("Red" / "red", NFC / NFD) are refused as two classes."""
    return normalize_label(label).casefold()


# Unicode's default-ignorable code points that are not in a category refused below (Cf ...):
# fillers and variation selectors draw nothing, so "cat" + one of them would read "cat".
_IGNORABLE = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
# what a label may not hold besides _IGNORABLE: control (escape codes, NUL ...; a tab stays, it
# reads as space), format (zero-width, bidi overrides, tags), a lone surrogate (not UTF-8)
_REFUSED_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "an invisible character",
    "Cs": "a lone surrogate",
}


def label_problem(label: str) -> str | None:
    """Why `label` cannot name a class, or None: it holds a control character or an invisible
    one, so it would print as (or look like) another label. Every label check calls this: data
    files, class folders, studio.json, the app's class names and renames, saved classifiers."""
    for i, c in enumerate(label, start=1):
        code = ord(c)
        kind = _REFUSED_CATEGORIES.get(unicodedata.category(c)) if c != "\t" else None
        if kind is None and any(a <= code <= b for a, b in _IGNORABLE):
            kind = "an invisible character"
        if kind is not None:
            name = unicodedata.name(c, "")  # control characters and unassigned ones have none
            shown = f"U+{code:04X} ({name})" if name else f"U+{code:04X}"
            return (
                f"holds {shown} at position {i}, {kind}: a label must read as what it is; "
                "remove that character"
            )
    return None


@dataclass
class _Reader:
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


def _reader_for(confine_to: str | Path | None, limits: Limits | None) -> _Reader:
    confine = Path(confine_to) if confine_to is not None else None
    return _Reader(limits or LOCAL, confine, display_root=confine)


# ---------------------------------------------------------------------------------------------
# JSONL


def parse_record(
    record: object,
    where: str,
    base_dir: Path,
    question: str | None = None,
    require_label: bool = True,
    confine_to: Path | None = None,
    *,
    reader: _Reader | None = None,
) -> Example:
    """Turn one decoded JSONL object into an Example, or raise DataError naming `where`.

    With `confine_to`, image paths must stay inside that folder (uploaded data may not read
    other files on the server). Labels are NFC-normalised."""
    reader = reader or _reader_for(confine_to, None)
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
    images = [reader.image(p, base_dir, where) for p in paths]
    if not text and not images:
        raise DataError(f"{where}: the example has neither text nor images.")
    return Example(text=text, label=label, images=tuple(images), source=where)


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
    reader: _Reader | None = None,
) -> list[Example]:
    """Read the published JSONL format. `question` fills in lines that have none. The file is
    read line by line and reading stops at the first line past `limits.max_examples`."""
    path = Path(path)
    reader = reader or _reader_for(confine_to, limits)
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


# ---------------------------------------------------------------------------------------------
# Class folders, and loading any source


def load_folder(
    root: str | Path, question: str, *, limits: Limits | None = None, reader: _Reader | None = None
) -> list[Example]:
    """One subfolder of images per class; the class is the subfolder's name (NFC)."""
    root = Path(root)
    reader = reader or _reader_for(None, limits)
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
            reader = _Reader(limits, confine=dest, display_root=dest)
            return _load(dataset_root(dest), question, require_label, reader)
    if upload:
        folder = source if source.is_dir() else source.parent
        reader = _Reader(limits, confine=folder, image_files=source.is_dir(), display_root=folder)
    else:
        reader = _reader_for(confine_to, limits)
    return _load(source, question, require_label, reader)


def _load(
    source: Path, question: str | None, require_label: bool, reader: _Reader
) -> list[Example]:
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


def join_prompt(prompt: str | None, text: str) -> str:
    """The text the model sees for one example: the shared prompt, then the example's own text.
    Its inverse is `split_prompt`."""
    return "\n".join(t for t in (prompt or "", text) if t)


def split_prompt(text: str, prompt: str) -> str:
    """The per-example part of a question that starts with the shared prompt."""
    if prompt and text == prompt:
        return ""
    if prompt and text.startswith(prompt + "\n"):
        return text[len(prompt) + 1 :]
    return text


def class_counts(examples: Iterable[Example]) -> Counter:
    return Counter(ex.label for ex in examples)


class DuplicateExampleWarning(UserWarning):
    """The same input (images and text) appears more than once in a training set."""


def find_duplicates(examples: Sequence[Example]) -> list[tuple[Example, Example]]:
    """(first occurrence, later copy) for every example whose inputs repeat an earlier one.
    Examples whose image files cannot be read are skipped (loading reports those)."""
    first: dict[str, Example] = {}
    pairs = []
    for ex in examples:
        try:
            key = example_digest(ex)
        except OSError:
            continue
        if key in first:
            pairs.append((first[key], ex))
        else:
            first[key] = ex
    return pairs


def warn_duplicates(examples: Sequence[Example]) -> list[tuple[Example, Example]]:
    """Duplicates are allowed (oversampling can be deliberate) but never silent: same-label
    copies weigh their class mean, and a copy with another label is almost surely a mistake."""
    pairs = find_duplicates(examples)
    conflicts = [(a, b) for a, b in pairs if a.label != b.label]
    if conflicts:
        a, b = conflicts[0]
        warnings.warn(
            f"{len(conflicts)} example(s) repeat an earlier input with another label, "
            f"e.g. {b.describe()} ({b.label!r}) = {a.describe()} ({a.label!r}); one of "
            "each pair is probably mislabeled.",
            DuplicateExampleWarning,
            stacklevel=3,
        )
    same = len(pairs) - len(conflicts)
    if same:
        a, b = next((a, b) for a, b in pairs if a.label == b.label)
        warnings.warn(
            f"{same} duplicate example(s) (same images and text as an earlier one, "
            f"e.g. {b.describe()} = {a.describe()}); each copy counts again in its "
            "class mean.",
            DuplicateExampleWarning,
            stacklevel=3,
        )
    return pairs


def check_training_set(examples: Sequence[Example], leave_one_out: bool) -> list[str]:
    """Validate a training set (warning about duplicates); returns its labels in first-seen
    order."""
    missing = [ex.describe() for ex in examples if ex.label is None]
    if missing:
        raise DataError(f"{missing[0]}: training example without a label.")
    warn_duplicates(examples)
    return check_labels([ex.label for ex in examples], leave_one_out)


def check_labels(labels: Sequence[str], leave_one_out: bool) -> list[str]:
    """The rule for a training set's labels, in one place (`check_training_set` before a model
    runs, `classifier.fit_activations` on the activations): at least two classes, and with
    leave-one-out scoring at least two examples in each. Returns the classes in first-seen
    order."""
    counts = Counter(labels)
    if len(counts) < 2:
        only = next(iter(counts), None)
        raise DataError(
            f"need at least two classes to train a classifier, got "
            f"{len(counts)}{f' ({only!r})' if only else ''}. Add examples of another "
            "class."
        )
    if leave_one_out:
        single = [label for label, n in counts.items() if n < 2]
        if single:
            raise DataError(
                f"class {single[0]!r} has a single example; leave-one-out scoring "
                "needs at least two per class. Add an example, or use scoring "
                "'reference'."
            )
    return class_order(labels)


# ---------------------------------------------------------------------------------------------
# The app's dataset sidecar

STUDIO_FORMAT = "savs-studio"


def read_studio_meta(path: str | Path, limits: Limits = HOSTED) -> dict:
    """Read and validate the `studio.json` a Studio dataset export carries; {} when absent.

    Returns only the known fields, each checked: {"prompt": str (<= max_text_chars),
    "classes": [NFC names, <= max_classes, each <= max_label_chars, no two spellings of one
    name], "k": int >= 1 (not a bool), "scoring": one of SCORINGS}. Anything else is a
    DataError naming the field (messages name the file by its name only)."""
    path = Path(path)
    name = path.name
    if not path.is_file():
        return {}
    if path.stat().st_size > MAX_META_BYTES:
        raise DataError(
            f"{name}: larger than {MAX_META_BYTES // 1024} KiB; a {STUDIO_FORMAT} "
            "file holds a prompt, class names, k and scoring."
        )
    try:
        meta = strict_json(path.read_bytes().decode("utf-8-sig"))
    except JSON_ERRORS as exc:  # UnicodeDecodeError is a ValueError
        raise DataError(f"{name}: not valid JSON ({json_reason(exc)}).") from None
    if not isinstance(meta, dict) or meta.get("format") != STUDIO_FORMAT:
        raise DataError(f'{name}: not a SAVs Studio file (no "format": "{STUDIO_FORMAT}").')
    out: dict = {}
    if "prompt" in meta:
        out["prompt"] = check_text(meta["prompt"], name, "prompt", limits.max_text_chars)
    if "classes" in meta:
        classes = meta["classes"]
        if not isinstance(classes, list):
            raise DataError(
                f"{name}: field 'classes' must be a list of class names, got "
                f"{type(classes).__name__}."
            )
        reader = _Reader(limits)
        out["classes"] = [
            reader.label(
                check_text(c, name, f"classes[{i}]", limits.max_label_chars),
                f"{name}: classes[{i}]",
            )
            for i, c in enumerate(classes)
        ]
    if "k" in meta:
        k = meta["k"]
        if type(k) is not int or k < 1:
            raise DataError(
                f"{name}: field 'k' must be a positive whole number, got {json.dumps(k)[:40]}."
            )
        out["k"] = k
    if "scoring" in meta:
        if meta["scoring"] not in SCORINGS:
            raise DataError(
                f"{name}: field 'scoring' must be one of {', '.join(SCORINGS)}, got "
                f"{json.dumps(meta['scoring'])[:40]}."
            )
        out["scoring"] = meta["scoring"]
    return out


__all__ = [
    "Example",
    "example_digest",
    "load_jsonl",
    "write_jsonl",
    "load_folder",
    "load_examples",
    "check_training_set",
    "class_counts",
    "IMAGE_MARKER",
    "find_duplicates",
    "DuplicateExampleWarning",
    "check_text",
    "normalize_label",
    "label_key",
    "label_problem",
    "read_studio_meta",
    "join_prompt",
    "split_prompt",
    # re-exported: savs.images and savs.archives are their home
    "ImageLike",
    "IMAGE_SUFFIXES",
    "open_image",
    "image_digest",
    "image_size",
    "safe_extract_zip",
    "zip_folder",
    "dataset_root",
    # re-exported limits (savs.limits is their home)
    "Limits",
    "HOSTED",
    "LOCAL",
    "IMAGE_FORMATS",
    "MAX_IMAGE_PIXELS",
    "MAX_IMAGE_SIDE",
    "MAX_IMAGES_PER_EXAMPLE",
    "MAX_LABEL_CHARS",
    "MAX_TEXT_CHARS",
    "MAX_ZIP_BYTES",
    "MAX_ZIP_FILES",
]
