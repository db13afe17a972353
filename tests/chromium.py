"""How every browser test, screenshot and browser benchmark starts Chromium: Debian's package
(never a browser Playwright downloads), headless, quiet, and allowed to use a (fake) camera."""

from __future__ import annotations

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
