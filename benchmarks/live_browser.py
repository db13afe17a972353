"""The live loop end to end: webcam frames classified per second in a real browser.

    HF_HUB_OFFLINE=1 python -m benchmarks.live_browser [--seconds 10] [--json]

The app runs in this process on the bundled `tiny` model with the colour task extracted;
Debian's Chromium (Playwright) opens it at 1366 x 768 with a fake camera playing scenes of the
colour task (tests/fake_camera.py), starts the "Live" tab and reads the frame counter
the page shows after every classified frame. Frames per second = frames counted / seconds
watched: everything a person waits for (capture, upload, queue, model, drawing the label and
bars). gradio_client cannot call streaming endpoints, so a browser is the only honest client.
Goal (issue 14): >= 5 updates a second on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABELS = ["red", "blue"]


def _frame(page, wait: bool = False) -> tuple[str, int] | None:
    """(label, frame number) the page shows now; with `wait`, until it shows one (the line is
    briefly empty while it is redrawn)."""
    for _ in range(200 if wait else 1):
        text = page.locator("#live-timing").inner_text()
        match = re.search(r"^(\w+) .* frame (\d+)", text)
        if match:
            return match.group(1), int(match.group(2))
        page.wait_for_timeout(20)
    return None


def run(seconds: float = 10.0) -> dict:
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    import fake_camera as fc
    import torch
    from chromium import extract, load_task, open_page, start_webcam
    from playwright.sync_api import expect, sync_playwright

    import app
    from studio.pool import max_models_from_env

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // max_models_from_env()))  # as app.main
    app.start("tiny")
    demo = app.build_demo()
    _, url, _ = demo.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **app.launch_kwargs()
    )
    try:
        with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
            frames = [im for _, im in fc.scene_frames("colour", LABELS, 20, size=128)]
            clip = fc.write_y4m(Path(tmp) / "scenes.y4m", frames)
            browser, page = open_page(p, url, clip=clip)
            load_task(page, "colour", "10 classes, 100 examples")
            extract(page, timeout=300_000)
            page.get_by_role("tab", name="Live", exact=True).click()
            start_webcam(page, "live-cam")
            expect(page.locator("#live-timing")).to_contain_text("frame 3", timeout=60_000)
            start, (_, first) = time.monotonic(), _frame(page, wait=True)
            seen: dict[str, int] = {}
            while time.monotonic() - start < seconds:
                now = _frame(page)
                if now:
                    seen[now[0]] = seen.get(now[0], 0) + 1
                page.wait_for_timeout(50)
            elapsed, (_, last) = time.monotonic() - start, _frame(page, wait=True)
            browser.close()
    finally:
        demo.close()
    return {
        "frames": last - first,
        "seconds": round(elapsed, 1),
        "frames_per_second": round((last - first) / elapsed, 2),
        "labels_seen": sorted(seen),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.live_browser", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result = run(args.seconds)
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
