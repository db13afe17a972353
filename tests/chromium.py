"""How every browser test, screenshot and browser benchmark starts Chromium: Debian's package
(never a browser Playwright downloads), headless, quiet, and allowed to use a (fake) camera."""

from __future__ import annotations

import re

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-ui-for-media-stream",  # camera permission granted without a prompt
]


def open_page(playwright, url: str, clip=None, size: tuple[int, int] = (1366, 768)):
    """(browser, page): Chromium on `url`; with `clip`, its fake camera plays that .y4m file."""
    from fake_camera import chromium_camera_args

    args = CHROMIUM_ARGS + (chromium_camera_args(clip) if clip else [])
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.goto(url)
    return browser, page


def load_task(page, task: str, summary: str, timeout: int = 60_000) -> None:
    """Step 1 of the app: load a bundled example task, wait for its summary line."""
    from playwright.sync_api import expect

    page.get_by_label("Example task").click()
    page.get_by_role("option", name=task, exact=True).click()
    page.get_by_role("button", name="Load example task").click()
    expect(page.get_by_text(summary)).to_be_visible(timeout=timeout)


def extract(page, timeout: int = 120_000) -> None:
    """Step 2: Extract, wait for the fit line."""
    from playwright.sync_api import expect

    page.get_by_role("button", name="Extract", exact=True).click()
    fit_line = page.locator("#fit-line")
    # a previous fit's line also reads "fit accuracy", under "Out of date" until this one lands
    expect(fit_line).not_to_contain_text("Out of date", timeout=timeout)
    expect(fit_line).to_contain_text("fit accuracy", timeout=timeout)
    # The redraw chained after Extract sets the k box to the fit's k a moment after the fit
    # line: wait for it, or a k typed next is overwritten by it (a flake CI saw).
    k = re.search(r"(\d+) heads? selected", fit_line.inner_text()).group(1)
    expect(page.get_by_label("number input for Heads that vote (k)")).to_have_value(
        k, timeout=timeout
    )


def set_k(page, k: int, timeout: int = 30_000) -> None:
    """Type k in the "Heads that vote" box, press Enter, wait for the fit line to say k heads.
    A redraw from the step before that lands after the typing sets the box back (the refit then
    runs with the old k: CI saw the line stay at 12 heads for 30 s once), so k is typed again,
    three times at most."""
    from playwright.sync_api import expect

    box = page.get_by_label("number input for Heads that vote (k)")
    line = page.locator("#fit-line")
    for last in (False, False, True):
        box.fill(str(k))
        box.press("Enter")
        try:
            expect(line).to_contain_text(f"{k} heads", timeout=timeout if last else timeout // 3)
            return
        except AssertionError:
            if last:
                raise


def start_webcam(page, elem_id: str) -> None:
    """Open a streaming webcam image (`#live-cam`, `#capture-cam`) and start streaming."""
    cam = page.locator(f"#{elem_id}")
    cam.get_by_text("Click to Access Webcam").click()
    cam.get_by_role("button", name="capture photo").click()
