"""Where a head looked: its attention at the last token as a heat overlay on the picture
(patch weights on the image's grid) and as (token, weight) pairs for highlighted text; and a
head's attention averaged per class (`savs.class_attention`) as heatmaps with their scales."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from PIL import Image

from ..class_attention import ClassAttention
from ..explanation import HeadExplanation
from ..patches import SQUARE, main_view, newline_image, patch_grid
from ..text import plural
from .style import figure, go, shown

# black -> purple -> orange -> yellow (an inferno-like ramp: readable on colour pictures and
# for colour-blind readers; the weight also sets the opacity, so cold patches stay visible)
_HEAT_STOPS = [
    (0.0, (0, 0, 4)),
    (0.35, (120, 28, 109)),
    (0.7, (237, 105, 37)),
    (1.0, (252, 255, 164)),
]


# the overlay's ramp as a plotly colour scale, so the class heatmaps read like the overlay
HEAT_SCALE = [[at, f"rgb{rgb}"] for at, rgb in _HEAT_STOPS]
CLASS_TOKENS_SHOWN = 10  # tokens per class in the figure (the strongest first)
CLASS_ROW_PX = 200


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


def class_attention_figure(per_class: Mapping[str, ClassAttention]) -> go.Figure:
    """One row per class: the head's mean attention on the picture's patch grid (when the
    model's patches are known) beside its strongest prompt tokens (a column, strongest on top),
    each kind on its own colour scale (patch and token weights differ in size); hover gives
    the values."""
    from plotly.subplots import make_subplots

    rows = list(per_class.values())
    grids = any(a.grid is not None for a in rows)
    cols = 2 if grids else 1
    titles = []
    for a in rows:
        name = f"{shown(a.label)} ({plural(a.examples, 'example')})"
        titles += [name, ""] if grids else [name]
    fig = make_subplots(
        rows=max(len(rows), 1),
        cols=cols,
        subplot_titles=titles,
        column_widths=[0.4, 0.6] if grids else None,
        horizontal_spacing=0.04,
        vertical_spacing=min(0.3 / max(len(rows), 1), 0.08),
        figure=figure(validate=True),
    )
    for r, a in enumerate(rows, 1):
        if a.grid is not None:
            fig.add_trace(_grid_trace(a), row=r, col=1)
            fig.update_yaxes(autorange="reversed", row=r, col=1)
        fig.add_trace(_token_trace(a), row=r, col=cols)
        fig.update_yaxes(autorange="reversed", visible=False, row=r, col=cols)
        fig.update_xaxes(visible=False, row=r, col=cols)
    bar = dict(colorscale=HEAT_SCALE)
    fig.update_layout(
        title=f"Where layer {rows[0].layer}, head {rows[0].head} looks, class by class"
        if rows
        else "",
        height=90 + CLASS_ROW_PX * max(len(rows), 1),
        margin=dict(l=30, r=20, t=70, b=20),
        coloraxis=dict(**bar, colorbar=dict(title="patch", x=1.02, len=0.45, y=0.78)),
        coloraxis2=dict(**bar, colorbar=dict(title="token", x=1.02, len=0.45, y=0.22)),
        showlegend=False,
    )
    return fig


def _grid_trace(a: ClassAttention) -> go.Heatmap:
    return go.Heatmap(
        z=a.grid,
        coloraxis="coloraxis",
        name=shown(a.label),
        hovertemplate=f"{shown(a.label)}<br>patch row %{{y}}, column %{{x}}"
        "<br>mean weight %{z:.4f}<extra></extra>",
    )


def _token_trace(a: ClassAttention) -> go.Heatmap:
    """The class's strongest tokens as a column of cells, each labelled with its text."""
    tokens = a.tokens[:CLASS_TOKENS_SHOWN]
    texts = [shown(t.strip() or repr(t)) for t, _ in tokens]
    return go.Heatmap(
        z=[[w] for _, w in tokens],  # [n, 1]
        y=list(range(len(tokens))),
        text=[[t] for t in texts],
        texttemplate="%{text}",
        textfont=dict(size=10),
        coloraxis="coloraxis2",
        name=shown(a.label),
        hovertemplate=f"{shown(a.label)}<br>token %{{text}}<br>mean weight %{{z:.4f}}"
        "<extra></extra>",
    )


__all__ = [
    "patch_weights",
    "attention_overlay",
    "attention_highlights",
    "class_attention_figure",
    "HEAT_SCALE",
]
