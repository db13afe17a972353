"""An `Example`, and the checks on the text someone sends with one.

An `Example` is one model input (zero or more images + text) with an optional label; loading
(`savs.data.datasets`, `savs.data.jsonl`) and the app build them. The two text checks differ on
purpose: `check_text` is for a field of a record someone wrote (it must be a string; kept as
written), `clean_text` for text a visitor typed (None is empty, surrounding spaces go). Both
refuse past the same limit with the same words.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from ..errors import DataError
from ..images import ImageLike, image_digest
from ..limits import MAX_TEXT_CHARS

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


def _check_length(text: str, subject: str, limit: int) -> str:
    """The one length rule (and its wording) both text checks share."""
    if len(text) > limit:
        raise DataError(f"{subject} is {len(text):,} characters long; the limit is {limit:,}.")
    return text


def check_text(value: object, where: str, fieldname: str, limit: int = MAX_TEXT_CHARS) -> str:
    """`value` as a string of at most `limit` characters, or a DataError naming where / field.
    For a field of a record someone wrote (JSONL, studio.json, a class folder's name): a
    non-string is refused, not converted, and the text is kept as written."""
    if not isinstance(value, str):
        raise DataError(
            f"{where}: field '{fieldname}' must be a string, got "
            f"{type(value).__name__} ({json.dumps(value)[:60]})."
        )
    return _check_length(value, f"{where}: field '{fieldname}'", limit)


def clean_text(text: str | None, what: str, limit: int = MAX_TEXT_CHARS) -> str:
    """Text a visitor typed (a prompt, an example's text, a classify input) as the model gets
    it: None is empty and surrounding whitespace goes, then at most `limit` characters (`what`
    names it in the message: "the prompt is 2,001 characters long; ...")."""
    return _check_length((text or "").strip(), what, limit)


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


__all__ = [
    "IMAGE_MARKER",
    "Example",
    "example_digest",
    "check_text",
    "clean_text",
    "join_prompt",
    "split_prompt",
]
