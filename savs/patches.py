"""Which image patch each input position holds: what lets an attention row be drawn on a picture.

Every VLM repeats one placeholder token per image feature, but the features are laid out
differently per architecture. Mapped here:
- one row-by-row grid per image (LLaVA, PaliGemma, Gemma3's pooled grid; Qwen2-VL and Qwen2.5-VL
  with the grid in `image_grid_thw`, merged 2x2);
- Idefics3 / SmolVLM: one run of tokens per tile, each after its `<row_i_col_j>` marker, then a
  `<global-img>` run (the whole picture at one tile's size); within a run, pixel shuffle keeps
  the tokens row by row. The tiles cover the (resized) picture exactly, so their runs form one
  fine grid over the whole picture; an image not split has its global run only;
- LLaVA-OneVision: one image in the example is tiled (anyres): the base image's g x g grid
  first, then the tiles' grid with the padding taken off (and shrunk past `anyres_max_N`), row by
  row, with one newline token after each row. Several images are not tiled: each is padded to a
  centred square, then g x g tokens and one newline.

A patch is (image, row, column) on the image's fine grid, stretched over the whole picture, or
(image, row, column, view) on another view of it: `GLOBAL`, a coarser grid over the whole
picture beside a fine one (Idefics3's global image, LLaVA-OneVision's base image), or `SQUARE`,
the only grid of an image that was padded to a centred square first. Each view's grid is
complete, so its size is its largest row and column + 1. Newline tokens hold no patch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from math import isqrt
from typing import NamedTuple

import torch

from .models.adapter import ModelAdapter

FINE = "patch"  # the view of a 3-tuple patch (and the word in its token text)
GLOBAL = "global"
SQUARE = "square"
NEWLINE = "newline"  # not a view: a LLaVA-OneVision row end, which holds no patch
VIEWS = (FINE, SQUARE, GLOBAL)  # preferred first: the finest grid an image has

Patch = tuple  # (image, row, col) or (image, row, col, view)


class _Cell(NamedTuple):
    image: int
    row: int
    col: int
    view: str


def patch_view(patch: Patch) -> str:
    """The view a patch lies on: FINE for (image, row, col), else its fourth field."""
    return patch[3] if len(patch) > 3 else FINE


def main_view(patches: Sequence[Patch | None], image: int) -> str | None:
    """The view an overlay draws by default for `image`: its finest (FINE, else SQUARE, else
    GLOBAL); None when none of its tokens has a patch."""
    views = {patch_view(p) for p in patches if p is not None and p[0] == image}
    return next((v for v in VIEWS if v in views), None)


def patch_grid(
    weights: Sequence[float], patches: Sequence[Patch | None], image: int, view: str | None = None
) -> torch.Tensor | None:
    """One image's weights on one view's grid [rows, cols] (`view` None: its main view); None
    when that image has no patch on that view."""
    view = view or main_view(patches, image)
    cells = [
        (p[1], p[2], w)
        for w, p in zip(weights, patches)
        if p is not None and p[0] == image and patch_view(p) == view
    ]
    if not cells:
        return None
    grid = torch.zeros(max(r for r, _, _ in cells) + 1, max(c for _, c, _ in cells) + 1)
    for row, col, weight in cells:
        grid[row, col] = weight
    return grid  # [rows, cols]


def image_token_id(adapter: ModelAdapter) -> int | None:
    """The placeholder token the processor repeats once per image feature."""
    config = adapter.model.config
    for name in ("image_token_id", "image_token_index"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    value = getattr(adapter.processor, "image_token_id", None)
    return value if isinstance(value, int) else None


_NEWLINE_LABEL = re.compile(r"<image (\d+) newline>")


def newline_image(token: str) -> int | None:
    """The image whose row-end newline token this position text is ("<image i newline>")."""
    match = _NEWLINE_LABEL.fullmatch(token)
    return int(match.group(1)) if match else None


def _label(cell: _Cell) -> str:
    if cell.view == NEWLINE:
        return f"<image {cell.image} newline>"
    word = GLOBAL if cell.view == GLOBAL else FINE
    return f"<image {cell.image} {word} {cell.row},{cell.col}>"


def position_labels(
    adapter: ModelAdapter, inputs: dict, num_images: int
) -> tuple[list[str], list[Patch | None]]:
    """For one encoded example (batch of 1, no padding): each position's text (the decoded
    token; "<image i patch r,c>", "<image i global r,c>" or "<image i newline>" for an image
    token, "<image>" when its place is not known) and its patch (None for text, newlines and
    image tokens of an unmapped layout)."""
    ids = inputs["input_ids"][0].tolist()
    tokens = [adapter.tokenizer.decode([t]) for t in ids]
    patches: list[Patch | None] = [None] * len(ids)
    image_id = image_token_id(adapter) if num_images else None
    positions = [p for p, t in enumerate(ids) if image_id is not None and t == image_id]
    if not positions:
        return tokens, patches
    layout = _LAYOUTS.get(getattr(adapter.model.config, "model_type", ""))
    cells = layout(adapter, inputs, positions, tokens, num_images) if layout else None
    if cells is None or len(cells) != len(positions):  # image tokens of unknown place
        for p in positions:
            tokens[p] = "<image>"
        return tokens, patches
    for p, cell in zip(positions, cells):
        tokens[p] = _label(cell)
        if cell.view == FINE:
            patches[p] = (cell.image, cell.row, cell.col)
        elif cell.view != NEWLINE:
            patches[p] = tuple(cell)
    return tokens, patches


# ---------------------------------------------------------------------------------------------
# One function per layout: the cell of each image position, in order (None: cannot be told)


def _grid_cells(image: int, rows: int, cols: int, view: str = FINE) -> list[_Cell]:
    return [_Cell(image, r, c, view) for r in range(rows) for c in range(cols)]


def _square_grids(adapter, inputs, positions, tokens, num_images) -> list[_Cell] | None:
    """One square grid per image, the tokens split evenly between the images."""
    side = isqrt(len(positions) // num_images)
    if side * side * num_images != len(positions):
        return None
    return [cell for i in range(num_images) for cell in _grid_cells(i, side, side)]


def _merged_grids(adapter, inputs, positions, tokens, num_images) -> list[_Cell] | None:
    """Qwen2-VL / Qwen2.5-VL: each image's patch grid from `image_grid_thw`, merged m x m."""
    if "image_grid_thw" not in inputs:
        return None
    merge = int(getattr(adapter.model.config.vision_config, "spatial_merge_size", 1))
    grids = [(h // merge, w // merge) for _, h, w in inputs["image_grid_thw"].tolist()]
    if len(grids) != num_images:
        return None
    return [cell for i, (rows, cols) in enumerate(grids) for cell in _grid_cells(i, rows, cols)]


_MARKER = re.compile(r"<row_(\d+)_col_(\d+)>|<global-img>")


def _runs(positions: list[int]) -> list[tuple[int, int]]:
    """(first index into `positions`, length) of each run of consecutive positions."""
    runs: list[tuple[int, int]] = []
    for k, p in enumerate(positions):
        if runs and positions[k - 1] == p - 1:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((k, 1))
    return runs


def _tiles(adapter, inputs, positions, tokens, num_images) -> list[_Cell] | None:
    """Idefics3 / SmolVLM: each run of image tokens is one tile (after `<row_i_col_j>`) or an
    image's global view (after `<global-img>`, which ends the image). The marker is read from
    the text before the run, so it is found however the tokenizer splits it."""
    runs = _runs(positions)
    side = isqrt(runs[0][1])
    if any(n != side * side for _, n in runs):
        return None
    images: list[dict] = [{}]  # per image: {(tile row, tile col) or GLOBAL: run start}
    end = -1
    for start, _ in runs:
        markers = _MARKER.findall("".join(tokens[end + 1 : positions[start]]))
        end = positions[start + side * side - 1]
        if not markers:
            return None
        row, col = markers[-1]
        if row:  # a tile: <row_i_col_j>, counted from 1
            images[-1][(int(row) - 1, int(col) - 1)] = start
        else:  # <global-img> (findall gives empty groups): the image's last run
            images[-1][GLOBAL] = start
            images.append({})
    if images.pop() or len(images) != num_images:
        return None
    cells: list[_Cell | None] = [None] * len(positions)
    for i, runs_of in enumerate(images):
        tiles = [key for key in runs_of if key != GLOBAL]
        tile_rows = max((r for r, _ in tiles), default=-1) + 1
        tile_cols = max((c for _, c in tiles), default=-1) + 1
        if GLOBAL not in runs_of or len(tiles) != tile_rows * tile_cols:
            return None
        for key, start in runs_of.items():
            top, left = (0, 0) if key == GLOBAL else (key[0] * side, key[1] * side)
            view = GLOBAL if key == GLOBAL and tiles else FINE
            for t, cell in enumerate(_grid_cells(i, side, side, view)):
                cells[start + t] = cell._replace(row=top + cell.row, col=left + cell.col)
    return cells if all(c is not None for c in cells) else None


def _anyres_grid(adapter: ModelAdapter, size: Sequence[int], base: int) -> tuple[int, int] | None:
    """(rows, cols) of a tiled LLaVA-OneVision image's grid once unpadded (and shrunk past
    `anyres_max_N`): the processor's own token count, which the model must match."""
    from transformers.image_processing_utils import select_best_resolution

    processor = adapter.processor
    unpadded_features = getattr(processor, "_get_unpadded_features", None)
    pinpoints = getattr(getattr(processor, "image_processor", None), "image_grid_pinpoints", None)
    if unpadded_features is None or not pinpoints:
        return None
    tile = int(adapter.model.config.vision_config.image_size)
    height, width = (int(x) for x in size)
    best_h, best_w = select_best_resolution([height, width], pinpoints)
    count, rows = unpadded_features(height, width, base, base, best_h // tile, best_w // tile)
    return (rows, count // rows) if rows and count % rows == 0 else None


def _anyres(adapter, inputs, positions, tokens, num_images) -> list[_Cell] | None:
    """LLaVA-OneVision: one image: base grid (GLOBAL), then the unpadded tile grid row by row,
    a newline after each row; several images: each a padded square grid (SQUARE) + a newline."""
    vision = adapter.model.config.vision_config
    base = int(vision.image_size) // int(vision.patch_size)
    sizes = inputs.get("image_sizes")
    if sizes is None or len(sizes) != num_images:
        return None
    if num_images == 1:
        grid = _anyres_grid(adapter, sizes[0].tolist(), base)
        if grid is None:
            return None
        rows, cols = grid
        cells = _grid_cells(0, base, base, GLOBAL)
        for r in range(rows):
            cells += [_Cell(0, r, c, FINE) for c in range(cols)] + [_Cell(0, r, -1, NEWLINE)]
        return cells
    return [
        cell
        for i in range(num_images)
        for cell in _grid_cells(i, base, base, SQUARE) + [_Cell(i, -1, -1, NEWLINE)]
    ]


_Layout = Callable[[ModelAdapter, dict, list[int], list[str], int], "list[_Cell] | None"]
_LAYOUTS: dict[str, _Layout] = {
    "llava": _square_grids,
    "paligemma": _square_grids,
    "gemma3": _square_grids,
    "qwen2_vl": _merged_grids,
    "qwen2_5_vl": _merged_grids,
    "idefics3": _tiles,
    "smolvlm": _tiles,
    "llava_onevision": _anyres,
}
