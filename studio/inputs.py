"""Visitor files as they arrived: no framework layer opens or converts them before our checks.

`gr.Image` opens every upload with Pillow (all plugins, EPS included) and converts it to its
`image_mode`: a 13,000 x 13,000 PNG of 164 KB cost +805 MB before any callback ran. `visitor_image`
hands callbacks the uploaded file's path unopened (a webcam frame, sent as a data URL, becomes a
file of its bytes, undecoded); `savs.images.open_image` then checks format and pixels from the
header. Callbacks delete the files they were given (`discard_upload`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import gradio as gr
from gradio.data_classes import ImageData

from savs.errors import DataError
from savs.images import unopened_image
from savs.limits import HOSTED_UPLOAD_FILES


def visitor_image(**kwargs: Any) -> gr.Image:
    """A `gr.Image` input whose callback receives a file path, never a decoded image
    (`savs.images.unopened_image`). Its preprocess is replaced on the instance: a subclass
    would make gradio write a .pyi file next to this module at import."""
    box = gr.Image(**kwargs, type="filepath", image_mode=None)
    box.preprocess = functools.partial(raw_image, box.GRADIO_CACHE)
    return box


def raw_image(folder: str, payload: ImageData | None) -> str | None:
    """An image input's payload as a file path, unopened."""
    return unopened_image(payload, folder)


def upload_paths(files: Sequence[Any] | None) -> list[str]:
    """The paths of one upload event's files (gradio gives str or file objects)."""
    return [f if isinstance(f, str) else f.name for f in files or []]


def check_upload_count(paths: Sequence[str]) -> None:
    """Refuse a batch over HOSTED_UPLOAD_FILES before any file is opened."""
    if len(paths) > HOSTED_UPLOAD_FILES:
        raise DataError(
            f"{len(paths):,} files in one upload; at most {HOSTED_UPLOAD_FILES} at a time."
        )


__all__ = ["visitor_image", "raw_image", "upload_paths", "check_upload_count"]
