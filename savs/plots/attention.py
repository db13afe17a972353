"""Where a head looked: its attention at the last token as a heat overlay on the picture
(patch weights on the image's grid) and as (token, weight) pairs for highlighted text."""

from __future__ import annotations

import torch
from PIL import Image

from ..explanation import HeadExplanation
from ..patches import SQUARE, main_view, newline_image, patch_grid

# black -> purple -> orange -> yellow (an inferno-like ramp: readable on colour pictures and
# for colour-blind readers; the weight also sets the opacity, so cold patches stay visible)
_HEAT_STOPS = [
    (0.0, (0, 0, 4)),
    (0.35, (120, 28, 109)),
    (0.7, (237, 105, 37)),
    (1.0, (252, 255, 164)),
]


def _heat_colour(w: float) -> tuple[int, int, int]:
    for (a, ca), (b, cb) in zip(_HEAT_STOPS, _HEAT_STOPS[1:]):
        if w <= b:
            t = (w - a) / (b - a)
            return tuple(round(x + (y - x) * t) for x, y in zip(ca, cb))
    return _HEAT_STOPS[-1][1]


def patch_weights(
    explanation: HeadExplanation, image_index: int = 0, view: str | None = None
) -> torch.Tensor:
    """One image's attention weights on one view's patch grid, [rows, columns], from an
    explanation's `patches` and `attention`. `view` None: the image's finest grid (the tiles of
    a tiled image, not its global view; see savs.patches). Raises ValueError when that image
    has no patches there (an architecture whose image tokens do not map: see the README)."""
    grid = patch_grid(explanation.attention, explanation.patches, image_index, view)
    if grid is None:
        raise ValueError(
            f"no patch positions for image {image_index} in this explanation: the "
            "model's image tokens do not map to patches, or it has no such image."
        )
    return grid  # [rows, cols]


def attention_overlay(
    image: Image.Image,
    explanation: HeadExplanation,
    image_index: int = 0,
    opacity: float = 0.75,
    view: str | None = None,
) -> Image.Image:
    """The picture with one head's attention as a heat overlay: each patch's weight (scaled so
    the grid's largest is 1) coloured and blended over the region of the picture that patch
    covers. One view is drawn, the finest by default (a tiled image's tiles; its global view
    with `view="global"`). The grid is stretched over the whole picture, as the processors of
    the mapped architectures resize (not crop) it, or over the centred square around it for a
    picture padded to a square first. Nearest-neighbour: a patch stays a visible block."""
    view = view or main_view(explanation.patches, image_index)
    grid = patch_weights(explanation, image_index, view)  # [rows, cols]
    scaled = grid / grid.max() if float(grid.max()) > 0 else grid
    base = image.convert("RGB")
    rows, cols = scaled.shape
    heat = Image.new("RGB", (cols, rows))
    alpha = Image.new("L", (cols, rows))
    for r in range(rows):
        for c in range(cols):
            w = float(scaled[r, c])
            heat.putpixel((c, r), _heat_colour(w))
            alpha.putpixel((c, r), round(255 * opacity * w))
    width, height = base.size
    side = max(base.size) if view == SQUARE else 0
    size = (side, side) if side else base.size
    heat, alpha = heat.resize(size, Image.NEAREST), alpha.resize(size, Image.NEAREST)
    if side:  # the square was padded evenly around the picture: keep its middle
        box = ((side - width) // 2, (side - height) // 2)
        box += (box[0] + width, box[1] + height)
        heat, alpha = heat.crop(box), alpha.crop(box)
    return Image.composite(heat, base, alpha)


def _unmapped_image(token: str) -> int | str | None:
    """The image an image position without a patch belongs to: i for "<image i newline>", "?"
    for "<image>" (an unmapped layout), None for text."""
    if token == "<image>":
        return "?"
    return newline_image(token)


def attention_highlights(
    explanation: HeadExplanation, merge_images: bool = True, scale: bool = True
) -> list[tuple[str, float]]:
    """(token text, weight) per input position, for highlighted text (gradio's HighlightedText
    takes such pairs, with weights in [-1, 1]). `merge_images`: each image's run of patch
    tokens (row-end newlines included) becomes one "<image i>" entry with their summed weight.
    `scale`: weights divided by the largest, so the most-attended entry is 1."""
    pairs: list[tuple[str, float]] = []
    last_image: object = None
    for token, patch, weight in zip(explanation.tokens, explanation.patches, explanation.attention):
        image = patch[0] if patch is not None else _unmapped_image(token)
        if merge_images and image is not None:
            if image == last_image:
                pairs[-1] = (pairs[-1][0], pairs[-1][1] + weight)
            else:
                pairs.append(("<image>" if image == "?" else f"<image {image}>", weight))
            last_image = image
            continue
        pairs.append((token, weight))
        last_image = None
    top = max((w for _, w in pairs), default=0.0)
    if scale and top > 0:
        pairs = [(t, w / top) for t, w in pairs]
    return pairs


__all__ = ["patch_weights", "attention_overlay", "attention_highlights"]
