"""How much a session holds, and the refusals of its budget (`savs.limits.SessionBudget`).

Why apart: the numbers a server frees memory by (`Session.memory_bytes`) and the checks that
keep one visitor from filling it are the same arithmetic, pure and model-free; every check runs
on sizes known before the work (image headers, a frame's size, N x L x H x d), never after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from PIL import Image

from savs.errors import DataError
from savs.images import image_size

FLOAT_BYTES = 4  # activations are fp32 on CPU (`savs.activations.extract`)
MAKE_ROOM = "Delete examples (or a class) to make room"


def shrunk(width: int, height: int, side: int) -> int:
    """Pixels of a width x height image once kept at most `side` on its longer side."""
    scale = min(1.0, side / max(width, height, 1))
    return max(1, round(width * scale)) * max(1, round(height * scale))


def incoming_pixels(images: Sequence[str | Path | Image.Image], side: int) -> int:
    """Pixels `images` will hold once stored, from headers and frame sizes (nothing decoded).
    A file that cannot be read counts 0: opening it refuses it with its own message."""
    total = 0
    for im in images:
        try:
            w, h = im.size if isinstance(im, Image.Image) else image_size(im)
        except DataError:
            continue
        total += shrunk(w, h, side)
    return total


def held_pixels(images: Iterable[Image.Image]) -> int:
    return sum(im.width * im.height for im in images)


def pixel_bytes(mode: str) -> int:
    """Bytes Pillow keeps a pixel in: RGB is stored as 4 (RGBX; measured: 1,000 images of
    316 x 316 RGB hold 385 MB), one-band 8-bit modes as 1, 16-bit as 2."""
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


def image_bytes(images: Iterable[Image.Image]) -> int:
    """Memory of decoded images, as Pillow holds them."""
    return sum(im.width * im.height * pixel_bytes(im.mode) for im in images)


def check_pixels(held: int, adding: int, limit: int | None, what: str) -> None:
    if limit is not None and held + adding > limit:
        raise DataError(
            f"{what} would bring this session's images to {held + adding:,} pixels; a session "
            f"may hold {limit:,} pixels on this server (it holds {held:,}). {MAKE_ROOM}, or use "
            "smaller images."
        )


def check_examples(held: int, adding: int, limit: int) -> None:
    if held + adding > limit:
        raise DataError(
            f"a session can hold at most {limit} examples (it holds {held}). {MAKE_ROOM}."
        )


def activation_bytes(n: int, num_layers: int, num_heads: int, head_dim: int) -> int:
    """Bytes of the [N, L, H, d] training activations a session keeps for its classifier."""
    return n * num_layers * num_heads * head_dim * FLOAT_BYTES


def classifier_bytes(clf) -> int:
    """Bytes a classifier holds: its class means [C, k, d], head scores and margins [L, H]
    (what a session's kept classifiers cost; they keep no activations)."""
    tensors = (clf.means, clf.head_scores, clf.head_margins)
    return sum(t.nbytes for t in tensors if t is not None)


def check_activations(n: int, shape: tuple[int, int, int], limit: int | None) -> None:
    """Refuse, before any model run, an Extract whose kept activations would pass the budget."""
    if limit is None:
        return
    need = activation_bytes(n, *shape)
    if need > limit:
        per = activation_bytes(1, *shape)
        raise DataError(
            f"Extract would keep {need / 2**20:,.0f} MiB of activations for {n} examples; a "
            f"session may keep {limit / 2**20:,.0f} MiB on this server (this model: "
            f"{per / 2**10:,.0f} KiB an example, so at most {limit // per} examples). "
            f"{MAKE_ROOM}."
        )


__all__ = [
    "activation_bytes",
    "check_activations",
    "classifier_bytes",
    "check_examples",
    "check_pixels",
    "held_pixels",
    "image_bytes",
    "pixel_bytes",
    "incoming_pixels",
    "shrunk",
]
