"""Labeled examples and the formats they come in.

An `Example` is one model input (zero or more images + text) with an optional label. Users bring
examples as:
- the published JSONL format, one example a line:
  {"image": path | [paths] | absent, "question": text, "label": text}, image paths relative to
  the JSONL file;
- a folder with one subfolder of images per class (the class is the folder name);
- a .zip of either (extracted with limits into a temporary folder).

Every problem is reported as a `DataError` naming the file, line and field, and what to do.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import tempfile
import warnings
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence, Union

from PIL import Image, ImageOps

from .errors import DataError

ImageLike = Union[str, Path, Image.Image]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
IMAGE_MARKER = "<image>"  # in a question, marks where the next image goes (interleaving)

# Limits that keep hostile input from exhausting memory or disk.
MAX_IMAGE_PIXELS = 40_000_000  # ~ 6300 x 6300; PIL's own bomb check is 89 M
MAX_IMAGE_SIDE = 2048  # larger images are shrunk on load: no processor here needs more
MAX_ZIP_FILES = 10_000
MAX_ZIP_BYTES = 1 << 30  # total uncompressed size
MAX_LABEL_CHARS = 200
MAX_TEXT_CHARS = 20_000
MAX_IMAGES_PER_EXAMPLE = 16


@dataclass(frozen=True)
class Example:
    """One input to classify: images (paths or PIL images) and text, maybe with its label."""

    text: str = ""
    label: str | None = None
    images: tuple[ImageLike, ...] = field(default_factory=tuple)
    source: str = ""  # where it came from ("train.jsonl:12"), for error messages

    def describe(self) -> str:
        return self.source or (str(self.images[0]) if self.images else repr(self.text[:40]))


# ---------------------------------------------------------------------------------------------
# Images


def open_image(image: ImageLike, where: str = "") -> Image.Image:
    """Open an image as 8-bit RGB, whatever it was (16-bit, CMYK, palette, alpha, animated).

    Raises DataError (naming the file) for anything that is not a readable image, and refuses
    decompression bombs before decoding their pixels.
    """
    name = where or (str(image) if not isinstance(image, Image.Image) else "image")
    if where and not isinstance(image, Image.Image) and Path(image).name not in where:
        name = f"{where}: image '{Path(image).name}'"  # which of the example's images
    if isinstance(image, Image.Image):
        img = image
    else:
        path = Path(image)
        if not path.is_file():
            raise DataError(f"{name}: image file not found. Check the path (relative paths are "
                            "resolved from the JSONL file's folder).")
        if path.stat().st_size == 0:
            raise DataError(f"{name}: the image file is empty (0 bytes). Replace or remove it.")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                # `with`: animated images keep their file open until closed
                with Image.open(path) as img:
                    if img.width * img.height > MAX_IMAGE_PIXELS:
                        raise DataError(
                            f"{name}: image is {img.width}x{img.height} pixels, over the limit "
                            f"of {MAX_IMAGE_PIXELS:,}. Resize it first.")
                    img.draft("RGB", (MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))  # JPEG: decode at low res
                    img.load()
                    return _to_rgb(img)  # a copy: usable after the file is closed
        except DataError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise DataError(f"{name}: image is too large to decode safely (decompression bomb "
                            "check). Resize it first.") from None
        except Exception as exc:  # PIL raises many types for corrupt files
            raise DataError(f"{name}: not a readable image ({type(exc).__name__}: {exc}). "
                            "Use a PNG, JPEG, GIF, BMP, WebP or TIFF file.") from None
    try:
        return _to_rgb(img)
    except Exception as exc:  # an in-memory image in a mode PIL cannot convert
        raise DataError(f"{name}: cannot convert this image to RGB ({type(exc).__name__}: "
                        f"{exc}).") from None


def _to_rgb(img: Image.Image) -> Image.Image:
    if getattr(img, "is_animated", False):
        img.seek(0)  # first frame of a GIF / APNG / WebP animation
    if max(img.size) > MAX_IMAGE_SIDE:
        # shrink first: each conversion below copies the image, and the largest one allowed
        # (40 M pixels RGBA = 160 MB) peaked at 750 MB when shrunk only at the end
        try:
            img = ImageOps.contain(img, (MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
        except ValueError:  # a mode PIL cannot resample: shrink at the end instead
            pass
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit or float greyscale: scale to 8 bits instead of clipping everything to white
        import numpy as np

        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else arr * 0.0
        img = Image.fromarray(arr.astype("uint8"), mode="L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img.convert("RGBA"))
    img = img.convert("RGB")
    if max(img.size) > MAX_IMAGE_SIDE:
        img.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
    return img


def image_digest(image: ImageLike) -> str:
    """Content hash of an image: file bytes for paths, pixels for PIL images."""
    h = hashlib.sha256()
    if isinstance(image, Image.Image):
        h.update(f"{image.mode}{image.size}".encode())
        h.update(image.tobytes())
    else:
        with open(image, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def example_digest(example: Example) -> str:
    """Content hash of an example's inputs (not its label): images, then text."""
    h = hashlib.sha256()
    for image in example.images:
        h.update(image_digest(image).encode())
    h.update(b"\0text\0" + example.text.encode("utf-8"))
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# JSONL


def _check_text(value: object, where: str, fieldname: str, limit: int) -> str:
    if not isinstance(value, str):
        raise DataError(f"{where}: field '{fieldname}' must be a string, got "
                        f"{type(value).__name__} ({json.dumps(value)[:60]}).")
    if len(value) > limit:
        raise DataError(f"{where}: field '{fieldname}' is {len(value)} characters long; the limit "
                        f"is {limit}.")
    return value


def parse_record(record: object, where: str, base_dir: Path, question: str | None = None,
                 require_label: bool = True, confine_to: Path | None = None) -> Example:
    """Turn one decoded JSONL object into an Example, or raise DataError naming `where`.

    With `confine_to`, image paths must stay inside that folder (uploaded data may not read
    other files on the server)."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object like "
                        '{"image": "a.png", "question": "...", "label": "..."}, got '
                        f"{type(record).__name__}.")
    unknown = set(record) - {"image", "question", "label", "id"}
    if unknown:
        raise DataError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: image, question, "
                        "label (and id).")
    if "question" in record:
        text = _check_text(record["question"], where, "question", MAX_TEXT_CHARS)
    elif question is not None:
        text = question
    else:
        raise DataError(f"{where}: missing field 'question' (the text given to the model).")

    label = record.get("label")
    if label is None:
        if require_label:
            raise DataError(f"{where}: missing field 'label' (the class of this example).")
    else:
        label = _check_text(label, where, "label", MAX_LABEL_CHARS).strip()
        if not label:
            raise DataError(f"{where}: field 'label' is empty; give every example a class name.")

    raw = record.get("image")
    if raw is None:
        paths: list[str] = []
    elif isinstance(raw, str):
        paths = [raw]
    elif isinstance(raw, list) and all(isinstance(p, str) for p in raw):
        paths = list(raw)
    else:
        raise DataError(f"{where}: field 'image' must be a path or a list of paths, got "
                        f"{json.dumps(raw)[:60]}.")
    if len(paths) > MAX_IMAGES_PER_EXAMPLE:
        raise DataError(f"{where}: {len(paths)} images in one example; the limit is "
                        f"{MAX_IMAGES_PER_EXAMPLE}.")
    images = []
    for p in paths:
        if not p.strip():
            raise DataError(f"{where}: field 'image' holds an empty path.")
        path = Path(p) if Path(p).is_absolute() else base_dir / p
        if confine_to is not None and not path.resolve().is_relative_to(confine_to.resolve()):
            # checked before existence: the answer must not reveal which outside files exist
            raise DataError(f"{where}: field 'image': '{p}' points outside the dataset folder; "
                            "use paths relative to the JSONL file, inside the archive.")
        if not path.is_file():
            raise DataError(f"{where}: field 'image': file '{p}' not found (looked in "
                            f"{path.parent}). Image paths are relative to the JSONL file.")
        images.append(str(path))
    if not text and not images:
        raise DataError(f"{where}: the example has neither text nor images.")
    return Example(text=text, label=label, images=tuple(images), source=where)


def load_jsonl(path: str | Path, question: str | None = None, require_label: bool = True,
               confine_to: Path | None = None) -> list[Example]:
    """Read the published JSONL format. `question` fills in lines that have none."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found.")
    examples = []
    try:
        # split on "\n" only: str.splitlines() also splits on U+2028, U+0085 ..., which JSON
        # allows raw inside strings (and write_jsonl writes them raw)
        # utf-8-sig: Windows editors often start the file with a byte-order mark
        lines = path.read_text(encoding="utf-8-sig").split("\n")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}).") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path.name}:{lineno}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno}).") from None
        except RecursionError:
            raise DataError(f"{where}: JSON nested too deeply; each line must be one flat "
                            "object.") from None
        examples.append(parse_record(record, where, path.parent, question, require_label,
                                     confine_to))
    if not examples:
        raise DataError(f"{path}: no examples (the file is empty).")
    return examples


def write_jsonl(examples: Sequence[Example], folder: str | Path,
                name: str = "data.jsonl") -> Path:
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
# Folders and archives


def load_folder(root: str | Path, question: str) -> list[Example]:
    """One subfolder of images per class; the class is the subfolder's name."""
    root = Path(root)
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "__")))
    if not classes:
        raise DataError(f"{root}: no class folders found. Put each class's images in a subfolder "
                        "named after the class, or provide a JSONL file.")
    examples = []
    for cls in classes:
        files = sorted(p for p in cls.iterdir() if p.is_file() and not p.name.startswith("."))
        images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
        if not images:
            raise DataError(f"{cls}: class folder '{cls.name}' holds no images "
                            f"({', '.join(sorted(IMAGE_SUFFIXES))}).")
        for p in images:
            examples.append(Example(text=question, label=cls.name, images=(str(p),),
                                    source=f"{cls.name}/{p.name}"))
    return examples


def safe_extract_zip(archive: str | Path, dest: str | Path) -> Path:
    """Extract a zip with limits: no paths outside dest, no links, no nested archives,
    bounded file count and total size. Returns dest."""
    archive, dest = Path(archive), Path(dest)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{archive.name}: not a valid .zip archive ({exc}).") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ZIP_FILES:
            raise DataError(f"{archive.name}: {len(infos)} entries; the limit is {MAX_ZIP_FILES}.")
        total = sum(i.file_size for i in infos)
        if total > MAX_ZIP_BYTES:
            raise DataError(f"{archive.name}: {total / 2**20:.0f} MiB uncompressed; the limit is "
                            f"{MAX_ZIP_BYTES / 2**20:.0f} MiB.")
        root = dest.resolve()
        for info in infos:
            name = info.filename
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise DataError(f"{archive.name}: entry '{name}' is a symbolic link; links are not "
                                "allowed in archives.")
            if name.startswith(("/", "\\")) or ":" in name.split("/")[0] or ".." in Path(name).parts:
                raise DataError(f"{archive.name}: entry '{name}' points outside the archive "
                                "folder; refusing to extract.")
            target = (root / name).resolve()
            if target != root and root not in target.parents:
                raise DataError(f"{archive.name}: entry '{name}' points outside the archive "
                                "folder; refusing to extract.")
            if not info.is_dir() and Path(name).suffix.lower() in {".zip", ".tar", ".gz", ".tgz",
                                                                    ".7z", ".rar", ".bz2", ".xz"}:
                raise DataError(f"{archive.name}: entry '{name}' is a nested archive; unpack it "
                                "and zip its contents instead.")
        written = 0
        for info in infos:
            target = root / info.filename
            try:
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    # count real bytes: the header's file_size can lie
                    for chunk in iter(lambda: src.read(1 << 20), b""):
                        written += len(chunk)
                        if written > MAX_ZIP_BYTES:
                            raise DataError(f"{archive.name}: more than "
                                            f"{MAX_ZIP_BYTES / 2**20:.0f} MiB uncompressed; "
                                            "refusing (zip bomb?).")
                        out.write(chunk)
            except DataError:
                raise
            # corrupt data (bad CRC, zlib), encryption, unknown compression, a name that is
            # both a file and a folder, a name the file system refuses
            except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError,
                    OSError, ValueError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                raise DataError(f"{archive.name}: entry '{info.filename}' cannot be extracted "
                                f"({type(exc).__name__}: {reason}). Re-create the archive with a "
                                "standard zip tool, without a password.") from None
    return dest


def _dataset_root(folder: Path) -> Path:
    """A zip often wraps everything in one top folder (and macOS adds __MACOSX): look inside."""
    entries = [p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    if len(entries) == 1 and entries[0].is_dir() and not any(folder.glob("*.jsonl")):
        inner = entries[0]
        if any(inner.glob("*.jsonl")) or any(p.is_dir() for p in inner.iterdir()):
            return inner
    return folder


def load_examples(source: str | Path, question: str | None = None,
                  require_label: bool = True, workdir: str | Path | None = None,
                  confine_to: str | Path | None = None) -> list[Example]:
    """Load examples from a .jsonl file, a folder of class folders, or a .zip of either.

    `question` is the text for folder datasets (and for JSONL lines without one). Zips are
    extracted into `workdir` (a new temporary folder by default), which must outlive the
    returned examples since they refer to image files in it. JSONL image paths must stay inside
    `confine_to` (for a zip: inside the extracted archive, always).
    """
    source = Path(source)
    confine = Path(confine_to) if confine_to is not None else None
    if not source.exists():
        raise DataError(f"{source}: not found.")
    if source.is_file() and source.suffix.lower() == ".zip":
        dest = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="savs-data-"))
        try:
            safe_extract_zip(source, dest)
            return load_examples(_dataset_root(dest), question, require_label, confine_to=dest)
        except BaseException:
            if not workdir:  # our own temporary folder: leave nothing behind
                shutil.rmtree(dest, ignore_errors=True)
            raise
    if source.is_file():
        if source.suffix.lower() not in {".jsonl", ".json", ".ndjson"}:
            raise DataError(f"{source.name}: unsupported file type; use a .jsonl file, a folder "
                            "with one subfolder per class, or a .zip of either.")
        return load_jsonl(source, question, require_label, confine)
    jsonls = sorted(source.glob("*.jsonl"))
    if len(jsonls) == 1:
        return load_jsonl(jsonls[0], question, require_label, confine)
    if len(jsonls) > 1:
        names = ", ".join(p.name for p in jsonls)
        raise DataError(f"{source}: several JSONL files ({names}); pass the one you mean.")
    if question is None:
        raise DataError(f"{source}: a folder of class folders needs a question for the model "
                        "(CLI: --question).")
    return load_folder(source, question)


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
        warnings.warn(f"{len(conflicts)} example(s) repeat an earlier input with another label, "
                      f"e.g. {b.describe()} ({b.label!r}) = {a.describe()} ({a.label!r}); one of "
                      "each pair is probably mislabeled.", DuplicateExampleWarning, stacklevel=3)
    same = len(pairs) - len(conflicts)
    if same:
        a, b = next((a, b) for a, b in pairs if a.label == b.label)
        warnings.warn(f"{same} duplicate example(s) (same images and text as an earlier one, "
                      f"e.g. {b.describe()} = {a.describe()}); each copy counts again in its "
                      "class mean.", DuplicateExampleWarning, stacklevel=3)
    return pairs


def check_training_set(examples: Sequence[Example], leave_one_out: bool) -> list[str]:
    """Validate a training set (warning about duplicates); returns its labels in first-seen
    order."""
    missing = [ex.describe() for ex in examples if ex.label is None]
    if missing:
        raise DataError(f"{missing[0]}: training example without a label.")
    warn_duplicates(examples)
    counts = class_counts(examples)
    if len(counts) < 2:
        only = next(iter(counts), None)
        raise DataError(f"need at least two classes to train a classifier, got "
                        f"{len(counts)}{f' ({only!r})' if only else ''}. Add examples of another "
                        "class.")
    if leave_one_out:
        single = [label for label, n in counts.items() if n < 2]
        if single:
            raise DataError(f"class {single[0]!r} has a single example; leave-one-out scoring "
                            "needs at least two per class. Add an example, or use scoring "
                            "'reference'.")
    return list(dict.fromkeys(ex.label for ex in examples))


def zip_folder(folder: str | Path, archive: str | Path) -> Path:
    """Zip a folder's files (relative names), for exports."""
    folder, archive = Path(folder), Path(archive)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(folder).as_posix())
    return archive


__all__ = [
    "Example", "ImageLike", "open_image", "image_digest", "example_digest", "load_jsonl",
    "write_jsonl", "load_folder", "safe_extract_zip", "load_examples", "check_training_set",
    "class_counts", "zip_folder", "IMAGE_MARKER", "find_duplicates",
    "DuplicateExampleWarning",
]
