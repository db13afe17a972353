"""`studio.json`: the sidecar a SAVs Studio dataset export carries beside its data.jsonl, so an
import restores the session's prompt, its classes (empty ones too), k and scoring.

Its name, its writer and its strict reader live here together, so the format has one home: the
app writes and reads it through these, and a file someone else wrote is read only through
`read_studio_meta` (size-capped, every field checked).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..errors import DataError
from ..limits import HOSTED, MAX_META_BYTES, Limits
from ..safejson import JSON_ERRORS, json_reason, strict_json
from ..types import SCORINGS
from .examples import check_text
from .reader import Reader

STUDIO_FILE = "studio.json"  # beside data.jsonl in a dataset export
STUDIO_FORMAT = "savs-studio"  # its "format" field: a file without it is not ours


def write_studio_meta(
    folder: str | Path, prompt: str, classes: Sequence[str], k: int, scoring: str
) -> Path:
    """Write `folder`/studio.json (UTF-8, indented, non-ASCII kept) and return its path; what
    `read_studio_meta` reads back as {"prompt", "classes", "k", "scoring"}."""
    meta = {
        "format": STUDIO_FORMAT,
        "prompt": prompt,
        "classes": list(classes),
        "k": k,
        "scoring": scoring,
    }
    path = Path(folder) / STUDIO_FILE
    path.write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


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
        out["classes"] = _classes(meta["classes"], name, limits)
    if "k" in meta:
        k = meta["k"]
        if type(k) is not int or k < 1:
            raise DataError(
                f"{name}: field 'k' must be a positive whole number, got {json.dumps(k)[:40]}."
            )
        out["k"] = k
    if "scoring" in meta:
        out["scoring"] = _scoring(meta["scoring"], name)
    return out


def _classes(classes: object, name: str, limits: Limits) -> list[str]:
    """The class names, each checked as a label (one spelling per class, at most max_classes)."""
    if not isinstance(classes, list):
        raise DataError(
            f"{name}: field 'classes' must be a list of class names, got {type(classes).__name__}."
        )
    reader = Reader(limits)
    return [
        reader.label(
            check_text(c, name, f"classes[{i}]", limits.max_label_chars),
            f"{name}: classes[{i}]",
        )
        for i, c in enumerate(classes)
    ]


def _scoring(scoring: object, name: str) -> str:
    if scoring not in SCORINGS:
        raise DataError(
            f"{name}: field 'scoring' must be one of {', '.join(SCORINGS)}, got "
            f"{json.dumps(scoring)[:40]}."
        )
    return scoring


__all__ = ["STUDIO_FILE", "STUDIO_FORMAT", "write_studio_meta", "read_studio_meta"]
