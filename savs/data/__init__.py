"""Labeled examples and the formats they come in; every name stays importable from `savs.data`.

One module per concern (each says why it is apart):
- `examples`: `Example` (images + text + optional label), its digest, the two text checks;
- `labels`: what a class name may be, and when two are one class;
- `reader`: one load's running totals against its `Limits`, and confinement of uploads;
- `jsonl`: the published JSONL format, read with limits and written with its images;
- `datasets`: `load_examples` from a .jsonl, a folder of class folders or a .zip of either;
- `training_set`: what a training set must be before a fit (labels, classes, duplicates);
- `studio_file`: the app's `studio.json` sidecar (name, writer, strict reader).

Images are opened and checked by `savs.images`, archives extracted by `savs.archives`, and every
limit's number lives in `savs.limits` (all three re-exported here, where they had their home).
"""

from __future__ import annotations

# re-exported: images and archives had their home here (`from savs.data import open_image`)
from ..archives import dataset_root, safe_extract_zip, zip_folder
from ..errors import DataError
from ..images import IMAGE_SUFFIXES, ImageLike, image_digest, image_size, open_image
from ..limits import (
    HOSTED,
    IMAGE_FORMATS,
    LOCAL,
    MAX_IMAGE_PIXELS,
    MAX_IMAGE_SIDE,
    MAX_IMAGES_PER_EXAMPLE,
    MAX_LABEL_CHARS,
    MAX_LINE_BYTES,
    MAX_META_BYTES,
    MAX_TEXT_CHARS,
    MAX_ZIP_BYTES,
    MAX_ZIP_FILES,
    Limits,
)
from .datasets import load_examples, load_folder
from .examples import (
    IMAGE_MARKER,
    Example,
    check_text,
    clean_text,
    example_digest,
    join_prompt,
    split_prompt,
)
from .jsonl import load_jsonl, parse_record, write_jsonl
from .labels import label_key, label_problem, normalize_label
from .studio_file import STUDIO_FILE, STUDIO_FORMAT, read_studio_meta, write_studio_meta
from .training_set import (
    DuplicateExampleWarning,
    check_labels,
    check_training_set,
    class_counts,
    find_duplicates,
    warn_duplicates,
)

__all__ = [
    "Example",
    "example_digest",
    "parse_record",
    "load_jsonl",
    "write_jsonl",
    "load_folder",
    "load_examples",
    "check_training_set",
    "check_labels",
    "class_counts",
    "IMAGE_MARKER",
    "find_duplicates",
    "warn_duplicates",
    "DuplicateExampleWarning",
    "check_text",
    "clean_text",
    "normalize_label",
    "label_key",
    "label_problem",
    "STUDIO_FILE",
    "STUDIO_FORMAT",
    "read_studio_meta",
    "write_studio_meta",
    "join_prompt",
    "split_prompt",
    "DataError",
    # re-exported: savs.images and savs.archives are their home
    "ImageLike",
    "IMAGE_SUFFIXES",
    "open_image",
    "image_digest",
    "image_size",
    "safe_extract_zip",
    "zip_folder",
    "dataset_root",
    # re-exported limits (savs.limits is their home)
    "Limits",
    "HOSTED",
    "LOCAL",
    "IMAGE_FORMATS",
    "MAX_IMAGE_PIXELS",
    "MAX_IMAGE_SIDE",
    "MAX_IMAGES_PER_EXAMPLE",
    "MAX_LABEL_CHARS",
    "MAX_LINE_BYTES",
    "MAX_META_BYTES",
    "MAX_TEXT_CHARS",
    "MAX_ZIP_BYTES",
    "MAX_ZIP_FILES",
]
