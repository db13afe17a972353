"""docs/lesson.md's screenshots: the app on the bundled `tiny` model, driven in Chromium through
the lesson's steps (scripts/screenshots.py --lesson runs it; the browser tests' helpers).

Why clips of elements: a teacher's slide shows one view at a time, and a clip of a few
components is a small file; each is saved as a 256-colour PNG (under 200 KB) to be committed.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from chromium import extract, load_task, open_page

# (file, what it shows), in the lesson's order
LESSON_SHOTS = (
    ("lesson-1-try.png", "Try an example: the colour task loaded and extracted"),
    ("lesson-2-heatmap.png", "every head's score, the top 20 marked, and the top heads"),
    ("lesson-3-k-curve.png", "the k curve: leave-one-out accuracy for every k"),
    ("lesson-3b-k-curve-count.png", "the count task's k curve (taken while comparing tasks)"),
    ("lesson-4-kept-head.png", "a kept head in the inspector, after classifying a scene"),
    ("lesson-5-kept-map.png", "the kept head's vectors: one cluster per class"),
    ("lesson-6-unkept-head.png", "the head ranked 40th in the inspector: why it was not kept"),
    ("lesson-7-unkept-map.png", "that head's vectors: the classes mixed"),
    ("lesson-8-retally.png", "the vote without the heads that voted for the winner"),
    ("lesson-9-compare.png", "colour, shape, count and position kept for comparison"),
)
# the other tasks kept beside colour, with the summary line their loading shows
OTHER_TASKS = (
    ("shape", "7 classes, 70 examples"),
    ("count", "4 classes, 40 examples"),
    ("position", "4 classes, 40 examples"),
)


def save_clip(page, path: Path, *selectors: str, pad: int = 8) -> Path:
    """A screenshot of the smallest box holding every selector's element (the viewport is tall
    enough that none scrolls), as a 256-colour PNG."""
    from PIL import Image

    boxes = [page.locator(s).first.bounding_box() for s in selectors]
    left, top = min(b["x"] for b in boxes) - pad, min(b["y"] for b in boxes) - pad
    right = max(b["x"] + b["width"] for b in boxes) + pad
    bottom = max(b["y"] + b["height"] for b in boxes) + pad
    clip = dict(x=max(0, left), y=max(0, top), width=right - max(0, left))
    clip["height"] = bottom - clip["y"]
    page.mouse.move(0, 0)  # no hover: plotly's mode bar and tooltips hidden
    page.wait_for_timeout(800)  # plotly's transitions
    page.screenshot(path=str(path), clip=clip, full_page=True)
    Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)
    return path


def _inspect(page, rank: str, out: Path, head_shot: str, map_shot: str) -> list[Path]:
    """Open the head of rank `rank` ("rank 1,": the best, kept; "rank 40": one not kept) from the
    all-heads picker (typing filters its options), shoot the inspector and its vector map."""
    from playwright.sync_api import expect

    box = page.locator("#any-head input")
    box.click()
    box.fill(rank)
    chosen = page.get_by_role("option").filter(has_text=rank).first
    expect(chosen).to_be_visible(timeout=10_000)
    layer, head = re.search(r"L(\d+) H(\d+)", chosen.inner_text()).groups()  # "L4 H5 · ..."
    chosen.click()
    expect(page.locator("#head-inspector")).to_contain_text(f"Layer {layer}, head {head}")
    expect(page.locator("#head-map")).to_contain_text(f"Layer {layer}, head {head}")
    return [
        save_clip(page, out / head_shot, "#any-head", "#head-inspector", "#head-classes"),
        save_clip(page, out / map_shot, "#head-map"),
    ]


def _retally(page, out: Path) -> Path:
    """Untick every head that voted for the winner: the vote is counted by the others."""
    from playwright.sync_api import expect

    page.get_by_text("Switch heads off in the vote").click()
    boxes = page.locator("#vote-heads label")
    expect(boxes.first).to_be_visible(timeout=10_000)
    winner = page.locator("#timing").inner_text().split(" ·")[0].strip()  # "purple · 16/20 ..."
    line = page.locator("#retally-line")
    off = 0
    for i in range(boxes.count()):
        if boxes.nth(i).inner_text().strip().endswith(f"({winner})"):
            boxes.nth(i).locator("input").click()
            off += 1
            expect(line).to_contain_text(f"Without the {off} unticked", timeout=30_000)
    return save_clip(page, out / LESSON_SHOTS[8][0], "#vote-heads", "#retally-bars")


def _compare(page, out: Path) -> list[Path]:
    """Keep colour, then load, extract and keep each other task (count's k curve on the way)."""
    from playwright.sync_api import expect

    page.get_by_text("Compare tasks").click()
    keep = page.locator("#keep-classifier")
    line = page.locator("#compare-line")
    keep.click()
    expect(line).to_contain_text("colour (20)", timeout=30_000)
    saved = []
    for task, summary in OTHER_TASKS:
        load_task(page, task, summary)
        extract(page, timeout=300_000)
        # the last task's fit line says "fit accuracy" too (out of date): wait for this fit's
        expect(page.locator("#fit-line")).not_to_contain_text("Out of date", timeout=300_000)
        if task == "count":
            saved.append(save_clip(page, out / LESSON_SHOTS[3][0], "#k-curve"))
        keep.click()
        expect(line).to_contain_text(f"{task} (20)", timeout=30_000)
        expect(page.get_by_role("button", name=f"Remove {task}")).to_be_visible(timeout=30_000)
    return [*saved, save_clip(page, out / LESSON_SHOTS[9][0], "#compare-line", "#overlap-table")]


def shoot_lesson(out: Path) -> list[Path]:
    from playwright.sync_api import expect, sync_playwright

    import app
    from savs.tiny.tasks import task_scene

    import studio_fixtures as sf

    app.start("tiny")
    saved = []
    with sf.launched(app) as url, tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        query = Path(tmp) / "query.png"
        task_scene("colour", "purple", 424_242).image.resize((256, 256)).save(query)
        browser, page = open_page(p, url, size=(1366, 4200))
        try:
            page.add_style_tag(content=".toast-wrap {display: none !important;}")
            page.locator("#try").click()
            expect(page.locator("#fit-line")).to_contain_text("fit accuracy", timeout=300_000)
            saved.append(
                save_clip(page, out / LESSON_SHOTS[0][0], "#try", "#class-card-0", "#fit-line")
            )
            saved.append(save_clip(page, out / LESSON_SHOTS[1][0], "#fit-line", "#top-heads"))
            saved.append(save_clip(page, out / LESSON_SHOTS[2][0], "#k-curve"))
            page.locator("#query-image input[type=file]").set_input_files(str(query))
            page.get_by_role("button", name="Classify", exact=True).click()
            expect(page.locator("#timing")).to_contain_text("ms", timeout=60_000)
            saved += _inspect(page, "rank 1,", out, LESSON_SHOTS[4][0], LESSON_SHOTS[5][0])
            saved += _inspect(page, "rank 40", out, LESSON_SHOTS[6][0], LESSON_SHOTS[7][0])
            saved.append(_retally(page, out))
            saved += _compare(page, out)
        finally:
            browser.close()
    return saved


__all__ = ["LESSON_SHOTS", "save_clip", "shoot_lesson"]
