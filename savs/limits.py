"""Every size limit on input in one place, with the numbers SECURITY.md quotes.

Why one module: a limit is only useful where it is checked *while reading*, before the work it
bounds, and only trustworthy when the number in the docs is the number in the code. The fixed
limits apply everywhere (CLI, library, app); a `Limits` adds the ones that only make sense for a
server shared with strangers (examples per upload, pixels per upload, classes). Local use keeps
`LOCAL` (no cap on examples or pixels); the app passes `HOSTED` / `HOSTED_EVALUATE`.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- fixed limits (everywhere) ----------------------------------------------------------------
MAX_IMAGE_PIXELS = 40_000_000  # one image, from its header; ~ 6300 x 6300 (PIL's bomb check: 89 M)
MAX_IMAGE_SIDE = 2048  # larger images are shrunk on load: no processor here needs more
MAX_IMAGES_PER_EXAMPLE = 16
MAX_LABEL_CHARS = 200
MAX_TEXT_CHARS = 20_000  # a question, an input text, a prompt
MAX_LINE_BYTES = 1 << 20  # one JSONL line: 20,000 characters of text + 16 paths fit easily
MAX_ZIP_FILES = 10_000
MAX_ZIP_BYTES = 1 << 30  # total uncompressed size of an archive
MAX_CLASSIFIER_LABELS = 10_000  # labels in a saved classifier (local use; hosted: max_classes)
MAX_ARTIFACT_BYTES = 512 << 20  # each file of a saved classifier

# Image formats that are ever decoded. Anything else (EPS, which runs Ghostscript; PSD; ICO ...)
# is refused before its plugin sees the bytes. TIFF stays: scientific 16-bit / float images.
IMAGE_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")


@dataclass(frozen=True)
class Limits:
    """Per-call limits, checked while reading. None = no cap (local use).

    max_examples: examples one load may return (the file is read up to the next record only);
    max_pixels: width x height summed over every image reference of one load, read from image
    headers before anything is decoded (a file named 16 times counts 16 times: it is decoded 16
    times); max_classes: distinct labels; max_zip_bytes / max_zip_files: one archive.
    """

    max_examples: int | None = None
    max_pixels: int | None = None
    max_classes: int | None = MAX_CLASSIFIER_LABELS
    max_text_chars: int = MAX_TEXT_CHARS
    max_label_chars: int = MAX_LABEL_CHARS
    max_images_per_example: int = MAX_IMAGES_PER_EXAMPLE
    max_zip_bytes: int = MAX_ZIP_BYTES
    max_zip_files: int = MAX_ZIP_FILES


LOCAL = Limits()

# A Space is open to anyone: one upload may hold at most 1,000 examples in 50 classes and
# 100 M pixels (about 1,500 images of 256 x 256, or 8 phone photos of 12 M pixels; the app keeps
# images at most 1024 x 1024, so a session's pixels stay under 300 MB of RGB).
# Text a model reads in one call, summed over examples (the shared prompt counts once per
# example, as the model reads it): bounds how long one call holds a hosted model (SECURITY.md).
HOSTED_CALL_CHARS = 200_000
# One text a visitor sends (a prompt, an example's text, an input): a long paragraph. Attention
# grows with the square of the length, so this bounds one batch's time (SECURITY.md).
HOSTED_TEXT_CHARS = 2_000

# --- a classroom on one server (ui/server.py, SECURITY.md) ---------------------------------------
# Model calls (/classify, /extract, /evaluate ...) one session may have running at once: one
# more is refused at once, so a session that fires 40 calls holds the model for one of them.
MAX_MODEL_CALLS_PER_SESSION = 1
# Events one session may have waiting or running in gradio's queue (a page needs 4-5: a call,
# its redraw, two webcam streams); one more is refused when it joins (HTTP 503, with why).
MAX_QUEUED_PER_SESSION = 8
# Webcam streams (live classify, recording) open at once over all sessions: their own
# concurrency group, so open streams never hold the model workers.
LIVE_STREAMS = 16
# Seconds of processing one stream may use; an idle stream (no frames) ends after this too,
# since gradio waits at most this long for the next frame. The webcam then starts a new one.
LIVE_TIME_LIMIT_S = 30

HOSTED = Limits(
    max_examples=1_000,
    max_pixels=100_000_000,
    max_classes=50,
    max_zip_bytes=256 << 20,
    max_zip_files=5_000,
)
# An evaluation runs the model once per example: fewer of them, so one visitor cannot hold the
# shared model for minutes (the app's measured seconds per example are in SECURITY.md).
HOSTED_EVALUATE = Limits(
    max_examples=500,
    max_pixels=100_000_000,
    max_classes=50,
    max_zip_bytes=256 << 20,
    max_zip_files=5_000,
)

__all__ = [
    "Limits",
    "LOCAL",
    "HOSTED",
    "HOSTED_CALL_CHARS",
    "HOSTED_TEXT_CHARS",
    "HOSTED_EVALUATE",
    "IMAGE_FORMATS",
    "MAX_IMAGE_PIXELS",
    "MAX_IMAGE_SIDE",
    "MAX_IMAGES_PER_EXAMPLE",
    "MAX_LABEL_CHARS",
    "MAX_TEXT_CHARS",
    "MAX_LINE_BYTES",
    "MAX_ZIP_FILES",
    "MAX_ZIP_BYTES",
    "MAX_CLASSIFIER_LABELS",
    "MAX_ARTIFACT_BYTES",
    "MAX_MODEL_CALLS_PER_SESSION",
    "MAX_QUEUED_PER_SESSION",
    "LIVE_STREAMS",
    "LIVE_TIME_LIMIT_S",
]
