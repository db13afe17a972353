"""The app in a real browser (headless Debian Chromium through Playwright): load an example task,
extract, see the heatmap, classify an image, read the label, keep a screenshot."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from chromium import CHROMIUM, CHROMIUM_ARGS

import studio_fixtures as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # app.py, also under bare `pytest`

torch.set_num_threads(1)
pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def test_build_extract_classify_in_the_browser(app_url, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    query = tmp_path / "query.png"
    sf.colour_image(sf.TASK_COLOURS["blue"], 3).save(query)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(app_url)
            page.get_by_label("Example task").click()
            page.get_by_role("option", name="colours").click()
            page.get_by_role("button", name="Load example task").click()
            expect(page.get_by_text("3 classes, 12 examples")).to_be_visible(timeout=60_000)
            expect(page.get_by_role("textbox", name="Instruction prompt")).to_have_value(
                sf.TASK_QUESTION
            )

            # a fourth class, Teachable-Machine style: add, name, upload two images at once
            yellow = []
            for i in range(2):
                yellow.append(tmp_path / f"yellow{i}.png")
                sf.colour_image((230, 220, 20), i).save(yellow[-1])
            page.get_by_role("button", name="+ Add a class").click()
            card = page.locator("#class-card-3").first  # gradio repeats a group's id inside it
            expect(card).to_be_visible(timeout=30_000)
            name = card.get_by_placeholder("class name")
            expect(name).to_have_value("Class 4")
            name.fill("yellow")
            name.press("Enter")
            expect(page.get_by_text("4 classes, 12 examples")).to_be_visible(timeout=30_000)
            page.wait_for_timeout(3000)  # the cards are drawn again after the rename
            card.locator("input[type=file]").first.set_input_files([str(p) for p in yellow])
            expect(card.get_by_text("2 examples")).to_be_visible(timeout=30_000)
            expect(page.get_by_text("4 classes, 14 examples")).to_be_visible(timeout=30_000)

            page.get_by_role("button", name="Extract", exact=True).click()
            expect(page.get_by_text("fit accuracy").first).to_be_visible(timeout=120_000)
            heatmap = page.locator("#head-heatmap .js-plotly-plot")
            expect(heatmap).to_be_visible()
            expect(heatmap.locator(".hm, .heatmaplayer").first).to_be_attached()
            expect(heatmap).to_contain_text("Head scores, top 12 marked")
            # the summary line is a separate output of the same event: it may render a bit later
            expect(page.get_by_text("4 classes, 14 examples; classifier")).to_be_visible(
                timeout=60_000
            )

            page.locator("#query-image input[type=file]").set_input_files(str(query))
            page.get_by_role("button", name="Classify", exact=True).click()
            expect(heatmap).to_contain_text("How the top 12 heads voted", timeout=60_000)
            label = page.locator("#predicted-label h2, #predicted-label .output-class").first
            # solid colours separate even in a random model's heads (fit accuracy 100%)
            expect(label).to_have_text("blue")
            expect(page.locator("#vote-bars .js-plotly-plot")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "app.png"), full_page=True)
        finally:
            browser.close()
