"""What a class name may be, and when two are the same class.

One home for the label rules, because every place a label comes from applies them: data files,
class folders, studio.json, the app's class names and renames, saved classifiers
(`savs.artifact`).
"""

from __future__ import annotations

import unicodedata


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


__all__ = ["normalize_label", "label_key", "label_problem"]
