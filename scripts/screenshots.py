"""The README's and the lesson's screenshots of the real app, taken with the browser the tests use.

    HF_HUB_OFFLINE=1 python scripts/screenshots.py [--out assets/readme]
    HF_HUB_OFFLINE=1 python scripts/screenshots.py --lesson [--out docs/img]

Launches app.py in this process on the bundled `tiny` model, drives Debian's Chromium through
Playwright (never a downloaded browser) at a laptop's 1366 x 768, and saves:
- app.png: the colour task loaded, extracted and one scene classified;
- live.png: the Live tab classifying Chromium's fake camera, which plays scenes of the
  colour task (tests/fake_camera.py writes the clip).

With --lesson, the screenshots docs/lesson.md shows, in its order (LESSON_SHOTS): Try an
example, the heatmap, the k curve, a kept and an unkept head in the inspector and their vector
maps, the vote without some heads, and the four tiny tasks kept for comparison. Each is a clip
of the parts it shows, saved as a 256-colour PNG (small enough to commit).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from chromium import extract, load_task, open_page, start_webcam  # noqa: E402
from lesson_shots import shoot_lesson  # noqa: E402


def shoot(out: Path) -> list[Path]:
    import fake_camera as fc
    from playwright.sync_api import expect, sync_playwright

    import app
    from savs.tiny.tasks import task_scene

    import studio_fixtures as sf

    app.start("tiny")
    saved = []
    with sf.launched(app) as url, tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        query = Path(tmp) / "query.png"
        task_scene("colour", "purple", 424_242).image.resize((256, 256)).save(query)
        clip = fc.write_y4m(
            Path(tmp) / "scenes.y4m",
            [im for _, im in fc.scene_frames("colour", ["orange"], 10, size=128)],
        )
        browser, page = open_page(p, url, clip=clip)
        try:
            load_task(page, "colour", "10 classes, 100 examples")
            extract(page, timeout=300_000)
            page.locator("#query-image input[type=file]").set_input_files(str(query))
            page.get_by_role("button", name="Classify", exact=True).click()
            expect(page.locator("#timing")).to_contain_text("ms", timeout=60_000)
            page.add_style_tag(content=".toast-wrap {display: none !important;}")
            page.set_viewport_size({"width": 1366, "height": 1250})  # the three steps
            page.wait_for_timeout(1500)
            saved.append(out / "app.png")
            page.screenshot(path=str(saved[-1]))
            page.set_viewport_size({"width": 1366, "height": 768})
            page.get_by_role("tab", name="Live", exact=True).click()
            start_webcam(page, "live-cam")
            expect(page.locator("#live-timing")).to_contain_text("frame 10", timeout=60_000)
            saved.append(out / "live.png")
            page.screenshot(path=str(saved[-1]))
        finally:
            browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lesson", action="store_true", help="docs/lesson.md's screenshots")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = args.out or (ROOT / "docs" / "img" if args.lesson else ROOT / "assets" / "readme")
    out.mkdir(parents=True, exist_ok=True)
    for path in (shoot_lesson if args.lesson else shoot)(out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
