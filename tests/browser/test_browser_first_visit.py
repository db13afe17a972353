"""Issue 22 in headless Chromium: "Try an example" gives a loaded, extracted task in one click
(timed) and its test inputs can be clicked to classify; loading a task over a person's own
classes says so and Undo brings them back; texts go in one example per line with the add panel
staying open; a refused rename reverts at once; a text model's card speaks of texts only."""

from __future__ import annotations

import time

import pytest
import torch
from chromium import load_task, open_page

import studio_fixtures as sf

torch.set_num_threads(1)
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(url, text-model folder): the app on the tiny random LLaVA with the colour task, the
    tiny text LM listed as an operator model."""
    with sf.served_with_text_model(tmp_path_factory.mktemp("browser-first-visit")) as served:
        yield served


def test_try_an_example_then_click_a_test_input_to_classify(served):
    from playwright.sync_api import expect, sync_playwright

    url, _ = served
    with sync_playwright() as p:
        browser, page = open_page(p, url)  # 1366 x 768
        try:
            button = page.get_by_role("button", name="Try an example")
            expect(button).to_be_visible(timeout=30_000)
            box = button.bounding_box()
            assert box["y"] + box["height"] <= 768  # on the first screen
            page.wait_for_timeout(1000)  # the page's own load event has run
            start = time.monotonic()
            button.click()
            expect(page.locator("#fit-line")).to_contain_text("fit accuracy", timeout=60_000)
            ready = time.monotonic() - start
            print(f"\n'Try an example' click to extracted: {ready:.2f} s")
            expect(page.get_by_text("3 classes, 12 examples")).to_be_visible(timeout=10_000)
            expect(page.locator("#class-card-2").first).to_be_visible(timeout=30_000)
            # the Classify tab offers the task's test inputs: the second one is green
            gallery = page.locator("#test-inputs")
            expect(gallery).to_be_visible(timeout=30_000)
            expect(gallery.get_by_role("button", name="Thumbnail 6 of 6")).to_be_visible()
            gallery.get_by_role("button", name="Thumbnail 2 of 6").click()
            expect(page.locator("#query-image img")).to_be_visible(timeout=30_000)
            page.get_by_role("button", name="Classify", exact=True).click()
            expect(page.locator("#timing")).to_contain_text("green", timeout=60_000)
        finally:
            browser.close()


def test_texts_one_per_line_then_a_task_over_them_is_undone(served):
    from playwright.sync_api import expect, sync_playwright

    url, _ = served
    with sync_playwright() as p:
        browser, page = open_page(p, url, size=(1440, 1000))
        try:
            page.get_by_role("button", name="+ Add a class").click()
            card = page.locator("#class-card-0").first
            expect(card.get_by_placeholder("class name")).to_have_value("Class 1", timeout=30_000)
            card.get_by_text("Paste an image, or add texts").click()
            text = card.get_by_label("one example per line")
            text.fill("a red one\n\nanother red\na third")
            card.get_by_role("button", name="Add", exact=True).click()
            expect(page.get_by_text("1 class, 3 examples")).to_be_visible(timeout=30_000)
            card = page.locator("#class-card-0").first  # drawn again: open, and emptied
            expect(card.get_by_text("3 examples", exact=True)).to_be_visible(timeout=30_000)
            text = card.get_by_label("one example per line")
            expect(text).to_be_visible(timeout=30_000)
            expect(text).to_have_value("")
            text.fill("four\nfive")
            card.get_by_role("button", name="Add", exact=True).click()
            expect(page.get_by_text("1 class, 5 examples")).to_be_visible(timeout=30_000)
            card = page.locator("#class-card-0").first
            expect(card.get_by_text("5 examples", exact=True)).to_be_visible(timeout=30_000)
            name = card.get_by_placeholder("class name")
            name.fill("mine")
            name.press("Enter")
            page.wait_for_timeout(3000)  # the cards are drawn again after the rename
            expect(
                page.locator("#class-card-0").first.get_by_placeholder("class name")
            ).to_have_value("mine")
            load_task(page, "colours", "3 classes, 12 examples")
            expect(
                page.get_by_text("It replaced your 1 class — Undo brings it back.")
            ).to_be_visible(timeout=10_000)
            undo = page.locator("#undo")
            expect(undo).to_have_text("Undo: restore your 1 class")
            undo.click()
            expect(page.get_by_text("1 class, 5 examples")).to_be_visible(timeout=30_000)
            card = page.locator("#class-card-0").first
            expect(card.get_by_placeholder("class name")).to_have_value("mine", timeout=30_000)
            expect(page.locator("#class-card-1")).to_have_count(0)
        finally:
            browser.close()


def test_a_refused_rename_reverts_the_name_at_once(served):
    from playwright.sync_api import expect, sync_playwright

    url, _ = served
    with sync_playwright() as p:
        browser, page = open_page(p, url, size=(1440, 1000))
        try:
            for n in (1, 2):
                page.get_by_role("button", name="+ Add a class").click()
                expect(page.get_by_text(f"{n} class")).to_be_visible(timeout=30_000)
            name = page.locator("#class-card-1").first.get_by_placeholder("class name")
            expect(name).to_have_value("Class 2", timeout=30_000)
            name.fill("class 1")
            start = time.monotonic()
            name.press("Enter")
            expect(page.get_by_text("there is already a class named 'Class 1'")).to_be_visible(
                timeout=30_000
            )
            expect(name).to_have_value("Class 2", timeout=5_000)
            print(f"\nrefused rename reverted {time.monotonic() - start:.2f} s after Enter")
            page.wait_for_timeout(1500)  # and it stays reverted (the redraw after it too)
            expect(name).to_have_value("Class 2")
        finally:
            browser.close()


def test_a_text_models_card_speaks_of_texts_only(served):
    from playwright.sync_api import expect, sync_playwright

    url, text_dir = served
    with sync_playwright() as p:
        browser, page = open_page(p, url, size=(1440, 1000))
        try:
            model = page.get_by_label("Model")
            model.fill(text_dir)
            model.press("Enter")
            page.get_by_role("button", name="Load model").click()
            expect(page.locator("#model-status")).to_contain_text("text-only", timeout=60_000)
            page.get_by_role("button", name="+ Add a class").click()
            card = page.locator("#class-card-0").first
            expect(card).to_be_visible(timeout=30_000)
            card.get_by_text("Add text examples").click()
            expect(card.get_by_label("One example per line")).to_be_visible(timeout=30_000)
            assert "image" not in card.inner_text().lower(), card.inner_text()
        finally:
            browser.close()
