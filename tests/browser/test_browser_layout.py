"""Issue 22, the page's layout in headless Chromium: at 1366 x 768 every step's main button is
on the page after at most one click on its tab, and no tab hides behind an overflow menu; at
390 x 844 (a phone) the steps are a sequence, one open at a time, each step's main button on the
screen its title opens. Both tests print the page's height; info toasts go by themselves,
plotly's toolbar covers no chart title and a card's thumbnails are whole."""

from __future__ import annotations

import re

import pytest
import torch
from chromium import extract, load_task, open_page

torch.set_num_threads(1)
pytestmark = pytest.mark.browser

LAPTOP, PHONE = (1366, 768), (390, 844)
TABS = ("Classify", "Live", "Evaluate", "Share")
# each tab's main button (None: the step's own, on the page without a tab click)
MAIN = {
    "Load example task": None,
    "Extract": None,
    "Classify": "Classify",
    "Evaluate example task": "Evaluate",
    "Export classifier": "Share",
}


def _height(page) -> int:
    return page.evaluate("document.documentElement.scrollHeight")


def _button(page, name: str):
    return page.get_by_role("button", name=name, exact=True)


def _whole_thumbnails(card) -> None:
    """Every thumbnail of a card lies whole inside the card's gallery, its picture contained
    (the issue saw 98 px pictures in a 60 px strip, centre-cropped)."""
    wrap = card.locator(".tiles .grid-wrap").bounding_box()
    tiles = card.get_by_role("button", name=re.compile(r"^Thumbnail \d+ of \d+$"))
    assert tiles.count() == 4
    for i in range(tiles.count()):
        box = tiles.nth(i).bounding_box()
        assert wrap["y"] <= box["y"] and box["y"] + box["height"] <= wrap["y"] + wrap["height"]
        assert wrap["x"] <= box["x"] and box["x"] + box["width"] <= wrap["x"] + wrap["width"]
        fit = tiles.nth(i).locator("img").evaluate("e => getComputedStyle(e).objectFit")
        assert fit == "contain", fit


def test_on_a_laptop_every_main_button_is_one_tab_click_away(app_url):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser, page = open_page(p, app_url, size=LAPTOP)
        try:
            load_task(page, "colours", "3 classes, 12 examples")
            toast = page.get_by_text("Loaded example task")
            expect(toast).to_be_hidden(timeout=9_000)  # an info toast goes by itself
            _whole_thumbnails(page.locator("#class-card-0").first)
            extract(page)
            print(f"\npage height at 1366x768, a task loaded and extracted: {_height(page)} px")
            assert page.locator("[class*=overflow-menu]").count() == 0  # no "..." menu
            for tab in TABS:
                box = page.get_by_role("tab", name=tab, exact=True).bounding_box()
                assert box is not None and box["x"] + box["width"] <= LAPTOP[0], (tab, box)
                assert box["y"] + box["height"] <= LAPTOP[1], (tab, box)
            for name, tab in MAIN.items():
                if tab is not None:
                    page.get_by_role("tab", name=tab, exact=True).click()
                button = _button(page, name)
                expect(button).to_be_visible(timeout=10_000)
                if tab in (None, "Classify"):  # the first screen, without scrolling
                    box = button.bounding_box()
                    assert box["y"] + box["height"] <= LAPTOP[1], (name, box)
            # plotly's toolbar is not drawn over the charts (their titles stay readable)
            expect(page.locator("#head-heatmap .js-plotly-plot")).to_be_visible()
            assert not page.locator("#head-heatmap .modebar-container").is_visible()
        finally:
            browser.close()


def test_on_a_phone_the_steps_are_a_sequence(app_url):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser, page = open_page(p, app_url, size=PHONE)
        try:
            load_task(page, "colours", "3 classes, 12 examples")
            expect(page.locator("#class-card-2").first).to_be_visible(timeout=30_000)
            # only the first step is open: the others are their titles
            expect(_button(page, "Extract")).to_be_hidden()
            expect(_button(page, "Classify")).to_be_hidden()
            print(f"\npage height at 390x844, step 1 open with a task: {_height(page)} px")
            page.get_by_role("button", name="2 · Extract and inspect").click()
            expect(_button(page, "Load example task")).to_be_hidden(timeout=10_000)
            extract(page)
            page.get_by_role("button", name="3 · Try it").click()
            classify = _button(page, "Classify")
            expect(classify).to_be_visible(timeout=10_000)
            expect(_button(page, "Extract")).to_be_hidden(timeout=10_000)
            page.wait_for_timeout(500)  # the opened step is scrolled to the top
            title = page.get_by_role("button", name="3 · Try it").bounding_box()
            box = classify.bounding_box()
            print(
                f"page height at 390x844, step 3 open: {_height(page)} px; Classify "
                f"{box['y'] - title['y']:.0f} px below the step's title"
            )
            assert 0 <= title["y"] <= 50, title  # the step's title at the top of the screen
            assert box["y"] + box["height"] <= PHONE[1], box  # its main button on that screen
        finally:
            browser.close()
