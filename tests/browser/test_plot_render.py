"""The head heatmap drawn by plotly.js in headless Chromium: the legend's box never meets the
title, the grid, the axis title or the colour bar, with 4, 10 or 50 classes, narrow or wide."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from chromium import CHROMIUM, CHROMIUM_ARGS

from savs import plots
from savs.classifier import Prediction
from savs.heads import HeadIndex

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PARTS = {"title": ".gtitle", "grid": ".nsewdrag", "xtitle": ".xtitle", "colorbar": ".colorbar"}


def _voted_figure(num_classes: int):
    """12 x 16 heads, k = num_classes heads each voting for its own class (long-ish names)."""
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(12, 16, generator=g)  # [L, H]
    labels = [f"class number {i}" for i in range(num_classes)]
    heads = [HeadIndex(i % 12, (5 * i) % 16) for i in range(num_classes)]
    heads = list(dict.fromkeys(heads))
    head_votes = [(h, labels[i]) for i, h in enumerate(heads)]
    votes = {lab: sum(v == lab for _, v in head_votes) for lab in labels}
    p = Prediction(labels[0], votes, {lab: n / len(heads) for lab, n in votes.items()}, head_votes)
    return plots.head_heatmap(
        scores, heads, p, labels, title=f"How the top heads voted: {labels[0]}"
    )


def _overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.mark.parametrize("width", [520, 900])
@pytest.mark.parametrize("num_classes", [4, 10, 50])
def test_legend_box_meets_nothing(browser, num_classes, width):
    fig = _voted_figure(num_classes)
    page = browser.new_page(viewport={"width": width + 40, "height": 1200})
    try:
        page.set_content(fig.to_html(include_plotlyjs=True, default_width=f"{width}px"))
        plot = page.locator(".js-plotly-plot").first
        page.locator(".js-plotly-plot .legend").wait_for(state="attached")
        legend = page.locator(".js-plotly-plot .legend .bg").first.bounding_box()
        whole = plot.bounding_box()
        assert legend and legend["height"] > 0
        # the whole legend is inside the figure (not clipped at the bottom)
        assert (
            legend["y"] >= whole["y"]
            and legend["y"] + legend["height"] <= whole["y"] + whole["height"] + 1
        )
        for item in page.locator(".js-plotly-plot .legend .traces").all():  # none scrolled away
            box = item.bounding_box()
            assert box and box["y"] + box["height"] <= whole["y"] + whole["height"] + 1
            assert (
                legend["y"] <= box["y"]
                and box["y"] + box["height"] <= legend["y"] + legend["height"] + 1
            )
        for name, selector in PARTS.items():
            box = page.locator(f".js-plotly-plot {selector}").first.bounding_box()
            assert box, name
            assert not _overlap(legend, box), (name, legend, box)
        if num_classes == 50 and width == 520:
            ARTIFACTS.mkdir(exist_ok=True)
            plot.screenshot(path=str(ARTIFACTS / "heatmap_50_classes.png"))
    finally:
        page.close()
