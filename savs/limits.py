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
MAX_META_BYTES = 1 << 20  # studio.json: a prompt, 50 class names, k and scoring
CONFIG_BASE_BYTES = 64 << 10  # classifier.json beyond its labels and prompt (see max_config_bytes)
MAX_MODEL_NAME_CHARS = 200  # a model name a visitor gives (hub ids are at most 96 + 1 + 96)
MAX_MODEL_LAYERS = 1024  # layers / experts / blocks one config may declare (real ones: < 200)
# A model's parameters, from its config, before a weight is built (savs.models.sizing): the
# env var caps every load (CLI and library too); unset, local use has no cap and the app this one.
MAX_MODEL_GB_ENV = "SAVS_MAX_MODEL_GB"
HOSTED_MAX_MODEL_GB = 8.0  # 2 B parameters in fp32, 4 B in bf16
# The resolution policy (savs.models.image_policy): image tokens per image. The env var (or
# app.py --max-image-tokens) is a hosted app's default and the bound its visitors cannot exceed;
# visitors choose among VISITOR_IMAGE_TOKENS below it. A saved classifier may record at most
# MAX_IMAGE_TOKENS_RECORDED (a sanity bound on a stranger's file; real settings are < 20,000).
MAX_IMAGE_TOKENS_ENV = "SAVS_MAX_IMAGE_TOKENS"
VISITOR_IMAGE_TOKENS: tuple[int, ...] = (64, 256, 1024, 4096)
MAX_IMAGE_TOKENS_RECORDED = 1 << 20

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


def max_config_bytes(limits: Limits) -> int:
    """The most bytes a classifier.json within `limits` can take: every label and the prompt at
    full length, 6 bytes a character (JSON's \\uXXXX escape; UTF-8 needs at most 4), 8 of quotes
    and indentation per label, and CONFIG_BASE_BYTES for the other fields. Checked before the file
    is read or parsed: hosted (50 labels) about 0.24 MiB, local (10,000 labels) about 12 MiB."""
    labels = limits.max_classes or MAX_CLASSIFIER_LABELS
    return CONFIG_BASE_BYTES + 6 * limits.max_text_chars + labels * (6 * limits.max_label_chars + 8)


# A Space is open to anyone: one upload may hold at most 1,000 examples in 50 classes and
# 100 M pixels (about 1,500 images of 256 x 256, or 8 phone photos of 12 M pixels; the app keeps
# images at most 1024 x 1024, so a session's pixels stay under 300 MB of RGB).
# Text a model reads in one call, summed over examples (the shared prompt counts once per
# example, as the model reads it): bounds how long one call holds a hosted model (SECURITY.md).
HOSTED_CALL_CHARS = 200_000
# One text a visitor sends (a prompt, an example's text, an input): a long paragraph. Attention
# grows with the square of the length, so this bounds one batch's time (SECURITY.md).
HOSTED_TEXT_CHARS = 2_000
# Files one upload event may hand a callback (a class's "Upload images"): checked before any is
# opened. A session holds at most 1,000 examples anyway; 100 images is a generous batch.
HOSTED_UPLOAD_FILES = 100
# One upload request's body (savs.upload_guard, before gradio stores any of it): 100 photos of
# 5 MB fit; without it one request could carry 1,000 files of max_file_size each.
HOSTED_UPLOAD_BYTES = 512 * 2**20
# Any other request's body (a queue join, a webcam frame: JSON the framework reads whole and
# parses before any callback): a webcam frame is a data URL, ~50-300 KB, a 1080p PNG ~4 MB.
# Without it a 200 MB body grew the server by 650 MB (savs.upload_guard, SECURITY.md).
HOSTED_BODY_BYTES = 16 * 2**20
# A request's query string (after "?"): the pages send ids of ~10-40 characters. Gradio keeps
# some of them (an upload's id, as long as the visitor likes, for every upload in flight): at
# 60 KB each, 2,000 uploads kept +62-122 MB (an exported Space, 7 Dec 2026).
HOSTED_QUERY_BYTES = 1024
# Lines one "Add examples" of text may hold (the app: one text-only example per line), so a
# pasted list adds a class's examples at once; each line is one text (max_text_chars) as well.
MAX_TEXT_LINES_PER_ADD = 100
# "Where this head looks, per class" (the app's class attention) runs the model once per training
# example it averages: the first CLASS_ATTENTION_PER_CLASS of each class, and fewer per class
# when there are many classes, so that one click reads at most CLASS_ATTENTION_EXAMPLES.
CLASS_ATTENTION_PER_CLASS = 8
CLASS_ATTENTION_EXAMPLES = 100
# Test inputs the Classify tab shows for the loaded example task (thumbnails, click to classify)
TEST_GALLERY_ITEMS = 24
# Fitted classifiers one session keeps by name to compare tasks (studio.comparing): each is its
# class means and head scores only (no activations), counted in Session.memory_bytes.
MAX_KEPT_CLASSIFIERS = 4
# One uploaded file, as gradio's launch(max_file_size=...) takes it: an exported Space's
# (savs.export_space) picture; a larger one is refused before it is stored.
HOSTED_FILE_SIZE = "32mb"

# --- a classroom on one server (studio/fairness.py, SECURITY.md) ---------------------------------
# Model calls (/classify, /extract, /evaluate ...) one session may have running at once: one
# more is refused at once, so a session that fires 40 calls holds the model for one of them.
MAX_MODEL_CALLS_PER_SESSION = 1
# Events one session may have waiting or running in gradio's queue (a page needs 4-5: a call,
# its redraw, two webcam streams); one more is refused when it joins (HTTP 503, with why).
MAX_QUEUED_PER_SESSION = 8
# Webcam streams (live classify, recording) open at once over all sessions: their own
# concurrency group, so open streams never hold the model workers.
LIVE_STREAMS = 16
# Webcam streams waiting for one of those places, over all sessions: one more is refused when
# it joins, so streams (which a script opens for free, no frame sent) never fill the queue's
# places that every other event needs (studio.queue_caps; queue size 64).
LIVE_STREAMS_WAITING = 16
# Seconds of processing one stream may use; an idle stream (no frames) ends after this too,
# since gradio waits at most this long for the next frame. The webcam then starts a new one.
LIVE_TIME_LIMIT_S = 30
# The webcams' share of the time while clicks (/classify, /extract ...) run (studio.fairness.
# FrameShare): live frames run one at a time over all streams, and at most this fraction of the
# time while any click runs; the next frame waits while a person's click (/classify,
# /ablated_answer) is queued or answered, at most CLICKS_FIRST_WAIT_S. A frame that waits
# LIVE_FRAME_WAIT_S for its turn is dropped (the webcam has sent newer ones).
LIVE_FRAME_SHARE = 0.25
LIVE_FRAME_WAIT_S = 1.0
# Clicks first (studio.priority): while a person's click (/classify, /ablated_answer) is being
# answered, other events (extract, evaluate, loading a model or a task, their redraws) wait to
# start, for at most this long (so a stream of clicks cannot stall them); the redraw after a
# click and webcam frames start at once (a frame then waits this long at most before its model
# turn, studio.fairness.FrameShare).
CLICKS_FIRST_WAIT_S = 0.5
# Long work already running (a dataset's pictures, an extraction's or evaluation's batches)
# pauses between its steps while a click is queued or answered: at most this long at a time,
# and GIVE_WAY_TOTAL_S over one callback (a stream of clicks delays a load by a second at most).
GIVE_WAY_S = 0.1
GIVE_WAY_TOTAL_S = 1.0

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


@dataclass(frozen=True)
class SessionBudget:
    """What one session may hold in all, checked before each action that adds to it. None = no
    cap (local use). max_pixels: width x height of every stored example image (uploads, pasted
    images, imports and webcam frames alike; stored images are at most 1024 x 1024, RGB, which
    Pillow keeps in 4 bytes a pixel); max_examples: examples in all its classes;
    max_activation_bytes: the training activations a session keeps for its classifier
    (N x layers x heads x head_dim x 4 bytes)."""

    max_pixels: int | None = None
    max_examples: int | None = None
    max_activation_bytes: int | None = None


LOCAL_SESSION = SessionBudget()
# A hosted session at its budget holds ~400 MB of pixels + 256 MiB of activations (SECURITY.md).
HOSTED_SESSION = SessionBudget(
    max_pixels=100_000_000, max_examples=1_000, max_activation_bytes=256 << 20
)
# Memory all sessions together may hold (sum of `Session.memory_bytes`); past it the least
# recently used idle session is cleared. Sized for a 16 GB Space: models, the 2 GiB activation
# cache and Python keep the rest. Override with SAVS_SESSIONS_BYTES.
SESSIONS_BYTES = 8 << 30
# A session untouched this long is cleared and its files deleted (SAVS_SESSION_TTL, seconds).
SESSION_TTL_S = 1800

__all__ = [
    "Limits",
    "SessionBudget",
    "LOCAL_SESSION",
    "HOSTED_SESSION",
    "SESSIONS_BYTES",
    "SESSION_TTL_S",
    "LOCAL",
    "HOSTED",
    "HOSTED_CALL_CHARS",
    "HOSTED_TEXT_CHARS",
    "HOSTED_UPLOAD_FILES",
    "HOSTED_UPLOAD_BYTES",
    "HOSTED_BODY_BYTES",
    "HOSTED_QUERY_BYTES",
    "HOSTED_FILE_SIZE",
    "HOSTED_EVALUATE",
    "IMAGE_FORMATS",
    "MAX_IMAGE_PIXELS",
    "MAX_IMAGE_SIDE",
    "MAX_IMAGES_PER_EXAMPLE",
    "MAX_LABEL_CHARS",
    "MAX_KEPT_CLASSIFIERS",
    "MAX_TEXT_CHARS",
    "MAX_LINE_BYTES",
    "MAX_ZIP_FILES",
    "MAX_ZIP_BYTES",
    "MAX_CLASSIFIER_LABELS",
    "MAX_ARTIFACT_BYTES",
    "MAX_META_BYTES",
    "CONFIG_BASE_BYTES",
    "max_config_bytes",
    "MAX_MODEL_NAME_CHARS",
    "MAX_MODEL_LAYERS",
    "MAX_MODEL_GB_ENV",
    "HOSTED_MAX_MODEL_GB",
    "MAX_IMAGE_TOKENS_ENV",
    "VISITOR_IMAGE_TOKENS",
    "MAX_IMAGE_TOKENS_RECORDED",
    "MAX_MODEL_CALLS_PER_SESSION",
    "MAX_QUEUED_PER_SESSION",
    "LIVE_STREAMS",
    "LIVE_STREAMS_WAITING",
    "LIVE_TIME_LIMIT_S",
    "LIVE_FRAME_SHARE",
    "LIVE_FRAME_WAIT_S",
    "CLICKS_FIRST_WAIT_S",
    "GIVE_WAY_S",
    "GIVE_WAY_TOTAL_S",
    "CLASS_ATTENTION_PER_CLASS",
    "CLASS_ATTENTION_EXAMPLES",
]
