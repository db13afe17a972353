"""Figures of results: a prediction's vote bars, an evaluation's confusion matrix, and the
picture tiles (contact sheet, example tile) the app shows examples with."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageOps

from ..classifier import Prediction
from ..metrics import EvalReport
from .style import _MARGIN, Figure, class_colour, figure, go, shown, trace


def probability_bars(prediction: Prediction, labels: Sequence[str] = ()) -> Figure:
    """Vote share per class, horizontal bars, the winner first."""
    labels = list(labels or prediction.probabilities)
    position = {lab: i for i, lab in enumerate(labels)}  # list.index per bar was quadratic
    order = sorted(labels, key=lambda lab: -prediction.probabilities.get(lab, 0.0))
    bars = trace(
        "bar",
        x=[prediction.probabilities.get(lab, 0.0) for lab in order],
        y=[shown(lab) for lab in order],
        orientation="h",
        marker=dict(color=[class_colour(position[lab], lab) for lab in order]),
        text=[
            f"{prediction.probabilities.get(lab, 0.0):.0%} ({prediction.votes.get(lab, 0)})"
            for lab in order
        ],
        textposition="auto",
        hovertemplate="%{y}: %{x:.1%} of the votes<extra></extra>",
    )
    layout = dict(
        title=dict(text="Vote share per class", x=0.01),
        margin=_MARGIN,
        height=int(min(520, 110 + 36 * len(order))),
        xaxis=dict(range=[0, 1], tickformat=".0%"),
        yaxis=dict(autorange="reversed"),
        plot_bgcolor="white",
    )
    return figure(bars, layout)


def confusion_heatmap(report: EvalReport) -> go.Figure:
    """Counts of true (rows) x predicted (columns) labels, with the counts written in."""
    z = report.confusion
    fig = figure(
        go.Heatmap(
            z=z,
            x=[shown(lab) for lab in report.labels],
            y=[shown(lab) for lab in report.labels],
            colorscale="Blues",
            showscale=False,
            text=[[str(v) for v in row] for row in z],
            texttemplate="%{text}",
            hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
        ),
        validate=True,
    )
    n = len(report.labels)
    fig.update_layout(
        title=dict(text=f"Confusion matrix (accuracy {report.accuracy:.1%})", x=0.01),
        height=int(min(720, max(320, 140 + 40 * n))),
        margin=_MARGIN,
        xaxis=dict(title="predicted", type="category"),
        yaxis=dict(title="true", type="category", autorange="reversed"),
    )
    return fig


def contact_sheet(
    images: Sequence[Image.Image], thumb: int = 56, columns: int = 6, gap: int = 4
) -> Image.Image | None:
    """Thumbnails of a class's examples in one small picture: a compact, fixed-size preview for
    a class card (a gallery of many files is heavier and grows with the count)."""
    if not images:
        return None
    rows = (len(images) + columns - 1) // columns
    width = min(len(images), columns) * (thumb + gap) - gap
    sheet = Image.new("RGB", (width, rows * (thumb + gap) - gap), (255, 255, 255))
    for i, image in enumerate(images):
        tile = ImageOps.fit(image.convert("RGB"), (thumb, thumb))
        sheet.paste(tile, ((i % columns) * (thumb + gap), (i // columns) * (thumb + gap)))
    return sheet


TILE_BACKGROUND = (244, 244, 248)  # a thumbnail's padding and a text tile's paper


def example_tile(images: Sequence[Image.Image], text: str = "", side: int = 96) -> Image.Image:
    """One example as a square thumbnail for a class card: its first picture whole (padded to
    the square, never cropped: a crop can cut off what makes it its class), or (text-only
    examples) its text written on a plain tile, so every example can be seen and picked."""
    if images:
        return ImageOps.pad(images[0].convert("RGB"), (side, side), color=TILE_BACKGROUND)
    from PIL import ImageDraw

    tile = Image.new("RGB", (side, side), TILE_BACKGROUND)
    draw = ImageDraw.Draw(tile)
    words, lines, line = text.split(), [], ""
    for word in words:
        if len(line) + len(word) + 1 > side // 7:
            lines.append(line)
            line = word[: side // 7]
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    for i, row in enumerate(lines[: side // 14]):
        draw.text((4, 4 + 13 * i), row, fill=(40, 40, 60))
    return tile


__all__ = ["probability_bars", "confusion_heatmap", "contact_sheet", "example_tile"]
