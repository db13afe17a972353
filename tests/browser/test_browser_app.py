"""The app in headless Chromium, as a person uses it (issue 14): any number of classes, one
sample deleted from its thumbnail, k typed + Enter refits, a text-only model hides the image
inputs, the live webcam (Chromium's fake camera playing a known clip) gives successive
predictions (the page's layout: test_browser_layout.py)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import fake_camera as fc
import pytest
import torch
from chromium import (
    CHROMIUM,
    CHROMIUM_ARGS,
    extract,
    load_task,
    open_page,
    set_k,
    start_webcam,
)

import studio_fixtures as sf

torch.set_num_threads(1)
pytestmark = pytest.mark.browser

TEN = {
    "red": (220, 30, 30),
    "green": (30, 200, 40),
    "blue": (30, 40, 220),
    "yellow": (230, 220, 40),
    "cyan": (40, 210, 220),
    "magenta": (210, 40, 200),
    "white": (240, 240, 240),
    "black": (20, 20, 20),
    "orange": (240, 140, 20),
    "purple": (120, 40, 160),
}


def make_ten_class_task(root: Path) -> None:
    folder = root / "ten"
    (folder / "images").mkdir(parents=True)
    rows = []
    for label, rgb in TEN.items():
        for i in range(2):
            rel = f"images/{label}_{i}.png"
            sf.colour_image(rgb, i).save(folder / rel)
            rows.append({"image": rel, "question": sf.TASK_QUESTION, "label": label})
    (folder / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(url, text-model folder): the app on the tiny random LLaVA, with the colour task and a
    ten-class task; the tiny text LM is listed as an operator model."""
    root = tmp_path_factory.mktemp("browser-app")

    def prepare(app) -> None:
        make_ten_class_task(root / "examples")

    with sf.served_with_text_model(root, prepare) as served:
        yield served


def test_every_class_of_a_ten_class_task_is_editable_and_one_sample_can_go(served):
    from playwright.sync_api import expect, sync_playwright

    url, _ = served
    with sync_playwright() as p:
        browser, page = open_page(p, url, size=(1440, 1000))
        try:
            load_task(page, "ten", "10 classes, 20 examples")
            last = page.locator("#class-card-9").first
            expect(last).to_be_visible(timeout=30_000)
            name = last.get_by_placeholder("class name")
            expect(name).to_have_value("purple")
            name.fill("violet")
            name.press("Enter")
            expect(
                page.locator("#class-card-9").first.get_by_placeholder("class name")
            ).to_have_value("violet", timeout=30_000)
            page.wait_for_timeout(3000)  # the cards are drawn again after the rename
            # one sample of the first class: click its thumbnail, delete it
            first = page.locator("#class-card-0").first
            first.get_by_role("button", name="Thumbnail 1 of 2").click()
            first.get_by_role("button", name="Delete selected sample").click()
            expect(
                page.locator("#class-card-0").first.get_by_text("1 example", exact=True)
            ).to_be_visible(timeout=30_000)
            expect(page.get_by_text("10 classes, 19 examples")).to_be_visible(timeout=30_000)
            # and it can be undone
            page.locator("#undo").click()
            expect(page.get_by_text("10 classes, 20 examples")).to_be_visible(timeout=30_000)
        finally:
            browser.close()


def test_typing_k_and_enter_refits(served):
    from playwright.sync_api import expect, sync_playwright

    url, _ = served
    with sync_playwright() as p:
        browser, page = open_page(p, url, size=(1440, 1000))
        try:
            load_task(page, "colours", "3 classes, 12 examples")
            extract(page)
            expect(page.locator("#fit-line")).to_contain_text("12 heads", timeout=30_000)
            set_k(page, 3)
            box = page.get_by_label("number input for Heads that vote (k)")
            box.press("ArrowUp")
            expect(page.locator("#fit-line")).to_contain_text("4 heads", timeout=30_000)
        finally:
            browser.close()


def test_another_picture_replaces_the_classify_image_in_one_step(served, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, _ = served
    first, second = tmp_path / "first-red.png", tmp_path / "second-green.png"
    sf.colour_image(sf.TASK_COLOURS["red"], 1).save(first)
    sf.colour_image(sf.TASK_COLOURS["green"], 1).save(second)
    with sync_playwright() as p:
        browser, page = open_page(p, url, size=(1440, 1000))
        try:
            load_task(page, "colours", "3 classes, 12 examples")
            extract(page)
            page.locator("#query-image input[type=file]").set_input_files(str(first))
            shown = page.locator("#query-image img")
            expect(shown).to_have_attribute("src", re.compile("first-red"), timeout=30_000)
            with page.expect_file_chooser() as chooser:
                page.locator("#replace-image").click()
            chooser.value.set_files(str(second))
            expect(shown).to_have_attribute("src", re.compile("second-green"), timeout=30_000)
            page.get_by_role("button", name="Classify", exact=True).click()
            expect(page.locator("#timing")).to_contain_text("head votes", timeout=60_000)
        finally:
            browser.close()


def test_a_text_only_model_hides_the_image_inputs(served):
    from playwright.sync_api import expect, sync_playwright

    url, text_dir = served
    with sync_playwright() as p:
        browser, page = open_page(p, url, size=(1440, 1000))
        try:
            expect(page.locator("#query-image")).to_be_visible(timeout=30_000)
            typed = page.get_by_label("Text (optional)")
            typed.fill("typed for the picture model")
            page.get_by_role("button", name="Classify", exact=True).click()  # refused: redrawn
            expect(page.get_by_text("no classifier yet").first).to_be_visible(timeout=30_000)
            expect(typed).to_have_value("typed for the picture model")  # a redraw keeps it
            expect(page.get_by_role("tab", name="Live", exact=True)).to_be_visible()
            model = page.get_by_label("Model")
            model.fill(text_dir)
            model.press("Enter")
            page.get_by_role("button", name="Load model").click()
            expect(page.locator("#model-status")).to_contain_text("text-only", timeout=60_000)
            expect(page.locator("#query-image")).to_be_hidden(timeout=30_000)
            expect(page.locator("#replace-image")).to_be_hidden()
            expect(page.get_by_role("tab", name="Live", exact=True)).to_be_hidden()
            expect(page.locator("#attention-overlay")).to_be_hidden()  # no empty picture box
            expect(typed).to_have_value("")  # typed for the other model: cleared
            page.get_by_role("button", name="+ Add a class").click()
            card = page.locator("#class-card-0").first
            expect(card).to_be_visible(timeout=30_000)
            expect(card.get_by_role("button", name="Upload images")).to_be_hidden(timeout=30_000)
        finally:
            browser.close()


def test_the_live_webcam_gives_successive_predictions(served, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, _ = served
    red, blue = sf.TASK_COLOURS["red"], sf.TASK_COLOURS["blue"]
    clip = fc.write_y4m(tmp_path / "red-blue.y4m", fc.solid_frames([red, blue], frames_each=15))
    with sync_playwright() as p:
        browser, page = open_page(p, url, clip=clip, size=(1440, 1000))
        try:
            load_task(page, "colours", "3 classes, 12 examples")
            extract(page)
            page.get_by_role("tab", name="Live", exact=True).click()
            start_webcam(page, "live-cam")
            timing = page.locator("#live-timing")
            expect(timing).to_contain_text("frame", timeout=60_000)
            labels, frames = set(), set()
            for _ in range(60):  # the clip alternates red and blue every 1.5 s
                text = timing.inner_text()
                match = re.search(r"^(\w+) .* frame (\d+)", text)
                if match:
                    labels.add(match.group(1))
                    frames.add(int(match.group(2)))
                if labels >= {"red", "blue"} and len(frames) >= 5:
                    break
                page.wait_for_timeout(200)
            assert labels >= {"red", "blue"}, (labels, sorted(frames))
            assert len(frames) >= 5, frames
        finally:
            browser.close()


def test_closing_the_page_frees_the_session(served):
    from playwright.sync_api import sync_playwright

    import studio.server

    url, _ = served
    with sync_playwright() as p:
        browser, page = open_page(p, url, size=(1440, 1000))
        try:
            load_task(page, "colours", "3 classes, 12 examples")
            held = [s for s in studio.server.SESSIONS.values() if len(s.classes) == 3]
            assert held, "the page's session is registered"
            page.close()
            deadline = time.monotonic() + 30
            while held[0].classes and time.monotonic() < deadline:
                time.sleep(0.5)
            assert held[0].classes == {} and held[0].activations is None
            assert all(s is not held[0] for s in studio.server.SESSIONS.values())
        finally:
            browser.close()


def test_one_pages_model_switch_leaves_another_page_alone(served, tmp_path):
    """Two people on one server (issue 12): B switches to a text model; A, on the start model,
    keeps classifying right, and each page's status line and k range tell its own session's
    truth."""
    from playwright.sync_api import expect, sync_playwright

    url, text_dir = served
    query = tmp_path / "query.png"
    sf.colour_image(sf.TASK_COLOURS["blue"], 3).save(query)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            a = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
            b = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
            a.goto(url)
            b.goto(url)
            load_task(a, "colours", "3 classes, 12 examples")
            extract(a)
            model = b.get_by_label("Model")
            model.fill(text_dir)
            model.press("Enter")
            b.get_by_role("button", name="Load model").click()
            expect(b.locator("#model-status")).to_contain_text("text-only", timeout=60_000)
            # A still says (and is) the vision-language start model, and classifies right
            a.locator("#query-image input[type=file]").set_input_files(str(query))
            a.get_by_role("button", name="Classify", exact=True).click()
            expect(a.locator("#timing")).to_contain_text("blue", timeout=60_000)
            expect(a.locator("#model-status")).to_contain_text("vision-language")
            a.reload()  # a page drawn anew shows its (new) session's truth: the start model
            expect(a.locator("#model-status")).to_contain_text("vision-language", timeout=30_000)
            for page in (a, b):  # both models are 3 layers x 4 heads: k goes up to 12
                box = page.get_by_label("number input for Heads that vote (k)")
                expect(box).to_have_attribute("max", "12", timeout=30_000)
        finally:
            browser.close()
