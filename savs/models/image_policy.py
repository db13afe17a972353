"""The resolution policy: at most `max_image_tokens` image tokens per image, per architecture.

A VLM's processor decides how many tokens an image becomes, and with their defaults the models
a Space is likely to run spend most of their time there (SmolVLM-256M splits a 640x480 photo
into 13 tiles, 832 tokens; LLaVA-OneVision-0.5B's anyres gives ~2,900). Classification needs far
fewer, so every processor call goes through one bound, mapped here to each architecture's own
settings. The functions are pure (numbers in, settings out) so the mapping is tested without a
model; `geometry` reads the numbers from a processor.

One table, per layout (an architecture's `config.model_type` picks its layout; P^2 = tokens of
one view, seq = tokens of one tile):

| layout | architectures         | what the bound sets                  | classification default |
|--------|-----------------------|--------------------------------------|------------------------|
| tiles  | idefics3, smolvlm     | one tile (do_image_splitting=False)  | one tile: seq tokens   |
|        |                       | below the 2x2 split's (4+1)*seq;     | (64 on SmolVLM-256M)   |
|        |                       | else the largest longest_edge n*tile |                        |
|        |                       | whose (n*n+1)*seq fits               |                        |
| anyres | llava_onevision       | images scaled down to fit g x g base | a 1x1 grid: base view  |
|        |                       | views, so anyres picks at most g x g | + one crop, 2P^2+P     |
|        |                       | crops: P^2 + (gP)^2 + gP at most     | (1,485 on OV-0.5B)     |
| pixels | qwen2_vl, qwen2_5_vl  | max_pixels = bound*(patch*merge)^2,  | 256 tokens             |
|        |                       | min_pixels <= it                     |                        |
| fixed  | llava, paligemma,     | nothing: the vision tower fixes the  | None (not applicable)  |
|        | gemma3, anything else | token count, there is no setting     |                        |

A bound never makes images larger than the processor's own default (it only ever lowers the
cost), and a bound below an architecture's smallest setting is refused (ModelError) rather than
silently exceeded. `0` means "no bound: the processor's own settings" (how classifiers fitted
before this policy existed were made); None means "the classification default" on input and
"not applicable" (fixed layouts, text LMs) once resolved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ModelError
from ..limits import MAX_IMAGE_TOKENS_ENV, VISITOR_IMAGE_TOKENS

Layout = Literal["tiles", "anyres", "pixels", "fixed"]
LAYOUTS: dict[str, Layout] = {
    "idefics3": "tiles",
    "smolvlm": "tiles",
    "llava_onevision": "anyres",
    "qwen2_vl": "pixels",
    "qwen2_5_vl": "pixels",
}
PIXELS_DEFAULT_TOKENS = 256  # Qwen2-VL's classification default (its own: up to 16,384)
NO_BOUND = 0  # the processor's own settings


@dataclass(frozen=True)
class Geometry:
    """The numbers of a processor that the mapping needs (those of its layout; others 0).

    tiles: `tile` px (max_image_size), `seq` tokens per tile, `default_side` (size longest_edge);
    anyres: `tile` px (base view side), `seq` tokens per view (P^2), `default_side` (largest
    pinpoint side); pixels: `factor` (patch * merge), `min_pixels` / `max_pixels` (defaults)."""

    layout: Layout
    tile: int = 0
    seq: int = 0
    default_side: int = 0
    factor: int = 0
    min_pixels: int = 0
    max_pixels: int = 0


@dataclass(frozen=True)
class ImageSettings:
    """What one processor call uses: keyword arguments, and a longest side images are scaled
    down to first (anyres; None: as they are). `max_tokens`: the most one image can give."""

    processor_kwargs: dict[str, Any] = field(default_factory=dict)
    max_side: int | None = None
    max_tokens: int | None = None


def layout_of(model_type: str | None, is_vlm: bool = True) -> Layout | None:
    """The layout of an architecture (None for text-only models)."""
    if not is_vlm:
        return None
    return LAYOUTS.get(model_type or "", "fixed")


def geometry(processor: Any, layout: Layout) -> Geometry:
    """Read a processor's tile / patch numbers for `layout`."""
    if layout == "fixed":
        return Geometry(layout)
    ip = processor.image_processor
    if layout == "tiles":
        tile = int(_get(ip.max_image_size, "longest_edge"))
        side = int(_get(ip.size, "longest_edge"))
        return Geometry(layout, tile, int(processor.image_seq_len), side)
    if layout == "anyres":
        tile = int(_get(ip.size, "height") or _get(ip.size, "shortest_edge"))
        largest = max(max(p) for p in ip.image_grid_pinpoints)
        return Geometry(layout, tile, int(processor.num_image_tokens), default_side=int(largest))
    if layout == "pixels":
        factor = int(ip.patch_size) * int(ip.merge_size)
        size = ip.size
        return Geometry(
            layout,
            factor=factor,
            min_pixels=int(_get(size, "shortest_edge") or getattr(ip, "min_pixels", 0)),
            max_pixels=int(_get(size, "longest_edge") or getattr(ip, "max_pixels", 0)),
        )
    raise ValueError(f"unknown image layout {layout!r}")


def _get(size: Any, key: str) -> Any:
    return size.get(key) if isinstance(size, dict) else getattr(size, key, None)


def minimum_tokens(geo: Geometry) -> int:
    """The fewest image tokens one image can have (the smallest setting, worst case)."""
    if geo.layout == "tiles":
        return geo.seq
    if geo.layout == "anyres":
        return anyres_tokens(geo.seq, 1)
    return 1  # pixels: one merged patch


def default_tokens(geo: Geometry) -> int | None:
    """The classification default of the table above (None: fixed layouts)."""
    if geo.layout == "tiles":
        return geo.seq
    if geo.layout == "anyres":
        return anyres_tokens(geo.seq, 1)
    if geo.layout == "pixels":
        return PIXELS_DEFAULT_TOKENS
    return None


def resolve(geo: Geometry, requested: int | None, cap: int | None = None) -> int | None:
    """The bound to use: `requested`, or the classification default (None), never above `cap`
    (an operator's bound; None: no cap). Refuses a request above the cap, or one below the
    architecture's smallest setting. None for fixed layouts (there is nothing to set)."""
    for name, value in (("max_image_tokens", requested), ("the cap", cap)):
        if value is not None and (type(value) is not int or value < 0):
            raise ModelError(f"{name} must be a whole number >= 0, got {value!r}.")
    cap = cap or None  # a cap of 0 is no cap
    if cap is not None and requested is not None and (requested > cap or requested == NO_BOUND):
        shown = "0 (no bound)" if requested == NO_BOUND else str(requested)
        raise ModelError(f"max_image_tokens={shown} is above this server's bound of {cap}.")
    if geo.layout == "fixed":
        return None
    bound = default_tokens(geo) if requested is None else requested
    if cap is not None:
        bound = min(bound, cap) if bound != NO_BOUND else cap
    if bound != NO_BOUND and bound < minimum_tokens(geo):
        raise ModelError(
            f"max_image_tokens {bound} is below the {minimum_tokens(geo)} image tokens this "
            f"model needs at least ({geo.layout} layout: {_smallest(geo)})."
        )
    return bound


def _smallest(geo: Geometry) -> str:
    if geo.layout == "tiles":
        return "one tile"
    if geo.layout == "anyres":
        return "the base view and one crop"
    return "one merged patch"


def settings(geo: Geometry, bound: int | None) -> ImageSettings:
    """The processor settings for a resolved bound (None / 0: the processor's own)."""
    if not bound or geo.layout == "fixed":
        return ImageSettings()
    if geo.layout == "tiles":
        return tile_settings(bound, geo.tile, geo.seq, geo.default_side)
    if geo.layout == "anyres":
        return anyres_settings(bound, geo.tile, geo.seq, geo.default_side)
    return pixel_settings(bound, geo.factor, geo.min_pixels, geo.max_pixels)


def tile_settings(bound: int, tile: int, seq: int, default_side: int) -> ImageSettings:
    """Idefics3 / SmolVLM: an n x n grid of `tile`-px tiles (+ the global image) costs
    (n*n + 1) * seq tokens; n < 2 is one tile (no splitting: seq tokens). n never exceeds the
    processor's own longest edge (`default_side` // tile)."""
    n = min(math.isqrt(max(bound // seq - 1, 0)), max(default_side // tile, 1))
    if n < 2:
        return ImageSettings({"do_image_splitting": False}, None, seq)
    side = n * tile
    return ImageSettings(
        {"do_image_splitting": True, "size": {"longest_edge": side}}, None, (n * n + 1) * seq
    )


def anyres_tokens(seq: int, grid: int) -> int:
    """LLaVA-OneVision's worst case for a grid of at most grid x grid crops: the base view
    (P^2 = seq), the crops (grid*P)^2 and one newline per feature row (grid*P)."""
    p = math.isqrt(seq)
    return seq + (grid * p) ** 2 + grid * p


def anyres_settings(bound: int, tile: int, seq: int, largest_side: int) -> ImageSettings:
    """LLaVA-OneVision: anyres picks the smallest pinpoint grid that holds the image at full
    resolution, so an image scaled down to fit g x g base tiles gets at most g x g crops (the
    processor and the model agree: both choose from the same image size). g at the largest
    pinpoint grid needs no scaling (the processor's own settings)."""
    most = max(largest_side // tile, 1)
    g = 1
    while g < most and anyres_tokens(seq, g + 1) <= bound:
        g += 1
    if g >= most:
        return ImageSettings({}, None, anyres_tokens(seq, most))
    return ImageSettings({}, g * tile, anyres_tokens(seq, g))


def pixel_settings(bound: int, factor: int, min_pixels: int, max_pixels: int) -> ImageSettings:
    """Qwen2-VL / 2.5-VL: an image becomes (h / factor) * (w / factor) tokens after
    smart_resize keeps h * w <= max_pixels, so max_pixels = bound * factor^2 (never above the
    processor's own), and min_pixels no larger than it. smart_resize keeps each side at least
    one factor long, so an image thinner than 1 : bound (a 28 x 2800 strip) can exceed it."""
    top = bound * factor * factor
    if max_pixels:
        top = min(top, max_pixels)
    low = min(min_pixels, top) if min_pixels else top
    size = {"shortest_edge": low, "longest_edge": top}
    return ImageSettings({"size": size}, None, top // (factor * factor))


def check_bound(model_type: str, processor: Any, tokens: int | None, cap: int | None) -> None:
    """Refuse (ModelError) a bound this model cannot keep: `load_model` asks before it reads
    any weight."""
    resolve(geometry(processor, layout_of(model_type)), tokens, cap)


# --- a hosted app's bound and its visitors' choices ----------------------------------------------


def parse_bound(text: str | None, where: str = MAX_IMAGE_TOKENS_ENV) -> int | None:
    """An operator's bound from $SAVS_MAX_IMAGE_TOKENS or app.py --max-image-tokens: a whole
    number >= 0 (0: no bound), or None when unset or empty."""
    if text is None or not text.strip():
        return None
    try:
        value = int(text.strip())
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"{where} must be a whole number >= 0 (0: no bound), got {text!r}.")
    return value


def visitor_choices(cap: int | None) -> list[int]:
    """The bounds a visitor may pick: VISITOR_IMAGE_TOKENS up to the operator's cap."""
    return [n for n in VISITOR_IMAGE_TOKENS if not cap or n <= cap]


def check_visitor_choice(choice: object, cap: int | None) -> int | None:
    """A visitor's choice as a bound (None: the server's default), refused unless it is one of
    `visitor_choices(cap)`: a visitor never picks a bound above the operator's."""
    if choice is None or choice == "" or choice == "default":
        return None
    allowed = visitor_choices(cap)
    try:
        value = int(str(choice))
    except ValueError:
        value = -1
    if value not in allowed:
        shown = ", ".join(map(str, allowed))
        raise ModelError(f"image tokens must be one of: {shown} (or the default).")
    return value


__all__ = [
    "parse_bound",
    "visitor_choices",
    "check_visitor_choice",
    "Layout",
    "LAYOUTS",
    "NO_BOUND",
    "PIXELS_DEFAULT_TOKENS",
    "Geometry",
    "ImageSettings",
    "layout_of",
    "geometry",
    "minimum_tokens",
    "default_tokens",
    "resolve",
    "check_bound",
    "settings",
    "tile_settings",
    "anyres_tokens",
    "anyres_settings",
    "pixel_settings",
]
