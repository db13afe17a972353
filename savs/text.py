"""Small wording helpers for messages people read ("1 class", "3 classes")."""

from __future__ import annotations

_VOWELS = "aeiou"


def plural(n: int, word: str, plural_form: str | None = None) -> str:
    """`n` and `word` in the right number: '1 mistake', '2 mistakes', '0 classes', '1 head'.

    English rules for regular nouns (class -> classes, query -> queries); pass `plural_form`
    for an irregular word (plural(2, "person", "people"))."""
    if n == 1:
        return f"{n} {word}"
    return f"{n} {plural_form or _plural_of(word)}"


def _plural_of(word: str) -> str:
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and len(word) > 1 and word[-2].lower() not in _VOWELS:
        return word[:-1] + "ies"
    return word + "s"


__all__ = ["plural"]
