"""The lesson views in a real browser (headless Chromium through Playwright): a head that was not
selected opens from the all-heads picker and from a click on its heatmap cell and says why it
was not kept, its vector map draws one
point per training example with the input as a star, and unticking heads re-tallies the vote."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import torch

import studio_fixtures as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # app.py, also under bare `pytest`
from chromium import extract, load_task, open_page, set_k  # noqa: E402
from test_browser import ARTIFACTS  # noqa: E402

torch.set_num_threads(1)
pytestmark = pytest.mark.browser

# where a heatmap cell is on screen: plotly's axes map (head, layer) into its drag layer
CELL_JS = """([layer, head]) => {
  const plot = document.querySelector('#head-heatmap .js-plotly-plot');
  const box = plot.querySelector('.nsewdrag').getBoundingClientRect();
  const layout = plot._fullLayout;
  return [box.left + layout.xaxis.l2p(head), box.top + layout.yaxis.l2p(layer)];
}"""
HOVERED_JS = """([layer, head]) => {
  const hover = document.querySelector('#head-heatmap .js-plotly-plot')._hoverdata;
  return !!hover && hover[0].y === layer && hover[0].x === head;
}"""
# per trace of the head map: its name and number of points (plotly keeps them on the graph div)
TRACES_JS = "el => el.data.map(t => [t.name, t.x.length])"


def test_any_head_its_vector_map_and_the_vote_without_some_heads(app_url, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    query = tmp_path / "query.png"
    sf.colour_image(sf.TASK_COLOURS["green"], 1).save(query)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser, page = open_page(p, app_url, size=(1440, 1400))
        try:
            load_task(page, "colours", "3 classes, 12 examples")
            extract(page)
            expect(page.locator("#fit-line")).to_contain_text("12 heads", timeout=30_000)
            set_k(page, 4)
            page.locator("#query-image input[type=file]").set_input_files(str(query))
            page.get_by_role("button", name="Classify", exact=True).click()
            inspector = page.locator("#head-inspector")
            expect(inspector).to_contain_text("for this input", timeout=60_000)

            # the all-heads picker: its last option is the worst head, not selected
            page.locator("#any-head input").click()
            options = page.get_by_role("option")
            expect(options).to_have_count(12, timeout=10_000)
            last = options.nth(11)
            label = last.inner_text()
            assert "kept" not in label and label.endswith("rank 12"), label
            layer, head = re.match(r"L(\d+) H(\d+)", label).groups()
            last.click()
            expect(inspector).to_contain_text(f"Layer {layer}, head {head} · not selected")
            expect(inspector).to_contain_text("Not kept: rank 12 of 12 heads; k = 4")
            expect(inspector).to_contain_text("would keep it")
            expect(page.locator("#head-classes")).to_contain_text("green")

            # a click on a heatmap cell opens that head, selected or not
            def click_cell(cell: tuple[int, int]) -> None:
                page.locator("#head-heatmap").scroll_into_view_if_needed()
                x, y = page.evaluate(CELL_JS, list(cell))
                page.mouse.move(x, y)  # plotly's hover says which cell is under the pointer
                page.mouse.move(x + 1, y)
                page.wait_for_function(HOVERED_JS, arg=list(cell), timeout=10_000)
                page.mouse.click(x + 1, y)

            kept = page.locator("#top-heads [data-testid='cell-0-1']").inner_text().strip()
            kept_head = page.locator("#top-heads [data-testid='cell-0-2']").inner_text().strip()
            for cell in ((int(kept), int(kept_head)), (int(layer), int(head))):
                click_cell(cell)
                expect(inspector).to_contain_text(
                    f"Layer {cell[0]}, head {cell[1]}", timeout=30_000
                )
                if cell[0] == int(kept) and cell[1] == int(kept_head):
                    expect(inspector).to_contain_text("· rank 1 of 4")
            expect(inspector).to_contain_text("not selected")

            # its vector map: one point per training example, three means, the input's star
            head_map = page.locator("#head-map .js-plotly-plot")
            expect(head_map).to_contain_text(f"Layer {layer}, head {head}", timeout=30_000)
            traces = head_map.evaluate(TRACES_JS)
            assert traces == [
                ["red", 4],
                ["green", 4],
                ["blue", 4],
                ["class means", 3],
                ["this input", 1],
            ], traces
            expect(head_map.locator(".scatterlayer .point")).to_have_count(16)
            expect(page.locator("#help-head-map")).to_contain_text("Each dot is one training")

            # switch heads off in the vote: each untick re-tallies at once
            page.get_by_text("Switch heads off in the vote").click()
            boxes = page.locator("#vote-heads input[type=checkbox]")
            expect(boxes).to_have_count(4, timeout=10_000)
            line = page.locator("#retally-line")
            expect(line).to_contain_text("Without the 0 unticked heads")
            boxes.nth(0).click()
            expect(line).to_contain_text("Without the 1 unticked heads", timeout=30_000)
            expect(line).to_contain_text("/3 votes")
            boxes.nth(1).click()
            expect(line).to_contain_text("Without the 2 unticked heads", timeout=30_000)
            expect(line).to_contain_text("/2 votes")
            expect(page.locator("#retally-bars .js-plotly-plot")).to_contain_text("Vote share")
            expect(boxes.nth(0)).not_to_be_checked()
            expect(boxes.nth(2)).to_be_checked()
            page.screenshot(path=str(ARTIFACTS / "lesson.png"), full_page=True)
        finally:
            browser.close()


def test_class_attention_the_ablated_answer_and_figure_downloads(app_url, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    query = tmp_path / "query.png"
    sf.colour_image(sf.TASK_COLOURS["red"], 2).save(query)
    with sync_playwright() as p:
        browser, page = open_page(p, app_url, size=(1440, 1400))
        try:
            load_task(page, "colours", "3 classes, 12 examples")
            extract(page)
            set_k(page, 4)  # 8 of the 12 heads left for the random control
            page.locator("#query-image input[type=file]").set_input_files(str(query))
            page.get_by_role("button", name="Classify", exact=True).click()
            expect(page.locator("#head-inspector")).to_contain_text(
                "for this input", timeout=60_000
            )

            # where the inspected head looks, per class: a patch grid and tokens per class
            line = page.locator("#class-attention-line")
            expect(line).to_contain_text("12 here (at most 8 per class)", timeout=30_000)
            page.locator("#class-attention-button").click()
            expect(line).to_contain_text("averaged over 12 training examples", timeout=60_000)
            plot = page.locator("#class-attention .js-plotly-plot")
            traces = plot.evaluate("el => el.data.map(t => [t.name, t.type])")
            assert traces == [[c, "heatmap"] for c in sf.TASK_COLOURS for _ in (0, 1)], traces
            expect(plot).to_contain_text("red (4 examples)", timeout=30_000)
            expect(page.locator("#help-class-attention")).to_contain_text("averaged over each")

            # the model's own answer with the selected heads off, beside random heads
            page.get_by_text("Switch heads off in the model").click()
            page.locator("#ablate-button").click()
            answer = page.locator("#ablation-line")
            expect(answer).to_contain_text("selected heads off", timeout=60_000)
            expect(answer).to_contain_text("with 4 random heads off")
            expect(answer).to_contain_text("draw 1")
            table = page.locator("#ablation-table")
            for colour in sf.TASK_COLOURS:
                expect(table).to_contain_text(colour)
            expect(table).to_contain_text("◀")

            # PNG and SVG of the heatmap, the k curve and the head map, made in the page
            for elem, fmt, magic in (
                ("head-heatmap", "svg", b"<svg"),
                ("k-curve", "png", b"\x89PNG"),
                ("head-map", "svg", b"<svg"),
            ):
                page.locator(f"#{elem}").scroll_into_view_if_needed()
                with page.expect_download(timeout=30_000) as download:
                    page.locator(f"#{elem}-{fmt}").click()
                saved = tmp_path / download.value.suggested_filename
                download.value.save_as(saved)
                assert saved.suffix == f".{fmt}" and magic in saved.read_bytes()[:200], saved
            expect(page.locator("#help-heatmap")).to_contain_text("One cell per attention head")
            page.screenshot(path=str(ARTIFACTS / "lesson-runs.png"), full_page=True)
        finally:
            browser.close()
