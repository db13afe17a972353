"""Why these heads in a real browser (headless Chromium through Playwright): classify, see the
attention overlay and tokens, pick a head in the picker and by a row of the top-heads table, and
read the head inspector."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import studio_fixtures as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # app.py, also under bare `pytest`
from chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from test_browser import ARTIFACTS  # noqa: E402

torch.set_num_threads(1)
pytestmark = pytest.mark.browser


def test_classify_then_inspect_a_head(app_url, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    query = tmp_path / "query.png"
    sf.colour_image(sf.TASK_COLOURS["red"], 1).save(query)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1400})
            page.goto(app_url)
            page.get_by_label("Example task").click()
            page.get_by_role("option", name="colours").click()
            page.get_by_role("button", name="Load example task").click()
            expect(page.get_by_text("3 classes, 12 examples")).to_be_visible(timeout=60_000)
            page.get_by_role("button", name="Extract", exact=True).click()
            expect(page.get_by_text("fit accuracy").first).to_be_visible(timeout=120_000)
            expect(page.locator("#k-curve .js-plotly-plot")).to_contain_text(
                "How many heads", timeout=60_000
            )

            page.locator("#query-image input[type=file]").set_input_files(str(query))
            page.get_by_role("button", name="Classify", exact=True).click()
            inspector = page.locator("#head-inspector")
            expect(inspector).to_contain_text("for this input", timeout=60_000)
            expect(page.locator("#attention-overlay img")).to_be_visible(timeout=30_000)
            expect(page.locator("#attention-tokens")).to_contain_text("<image 0>")

            # the picker: the third selected head
            page.locator("#head-picker input").click()
            option = page.get_by_role("option").nth(2)
            chosen = option.inner_text().split(" (")[0]  # "L2 H1"
            option.click()
            layer, head = chosen[1:].split(" H")
            expect(inspector).to_contain_text(f"Layer {layer}, head {head}", timeout=30_000)
            expect(inspector).to_contain_text("rank 3 of")
            expect(page.locator("#head-classes")).to_contain_text("green")

            # a row of the top-heads table opens its head
            def cell(col: int):  # gradio 6's virtual table: gridcells named by row and column
                return page.locator(f'#top-heads [data-testid="cell-1-{col}"]')

            layer, head = cell(1).inner_text().strip(), cell(2).inner_text().strip()
            cell(2).click()
            expect(inspector).to_contain_text(f"Layer {layer}, head {head}", timeout=30_000)
            expect(inspector).to_contain_text("rank 2 of")
            page.screenshot(path=str(ARTIFACTS / "inspect.png"), full_page=True)
        finally:
            browser.close()
