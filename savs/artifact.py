"""A classifier as safetensors + JSON: writing it, and reading a stranger's copy strictly.

A saved classifier is a folder (or a .zip of one) holding two files: classifier.safetensors
(means [K, C, d], heads [K, 2] int64, head_scores [L, H]) and classifier.json (labels, shapes,
model, prompt, k, scoring, ...). Never pickle: a classifier may come from anyone (an app upload),
so loading checks every field and shape before anything uses it, and fails naming the field.

`SAVClassifier.save` / `load` / `check_save_target` call the functions here. This module knows
classifiers only as `types.ClassifierData` (savs.classifier imports it, not the other way round);
`load_classifier` builds the class `builds_by_default` named: SAVClassifier.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import TypeVar

import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from .data import label_key, label_problem
from .errors import ClassifierError
from .limits import (
    LOCAL,
    MAX_ARTIFACT_BYTES,
    MAX_CLASSIFIER_LABELS,
    MAX_IMAGE_TOKENS_RECORDED,
    Limits,
    max_config_bytes,
)
from .safejson import JSON_ERRORS, json_reason, strict_json
from .safezip import open_zip, read_member
from .types import CONFIG_FIELDS, SCORINGS, ClassifierData, FitConfig, HeadIndex

Loaded = TypeVar("Loaded", bound=ClassifierData)
# the class `load_classifier` builds when not told: savs.classifier sits above this module (its
# SAVClassifier saves and loads through it), so it names its class here (`builds_by_default`)
_DEFAULT_CLASS: list[type[ClassifierData]] = [ClassifierData]


def builds_by_default(cls: type[Loaded]) -> type[Loaded]:
    """Class decorator: `load_classifier` builds `cls` when no class is given."""
    _DEFAULT_CLASS[0] = cls
    return cls


FORMAT = "savs-classifier"
FORMAT_VERSION = 1
TENSORS_FILE = "classifier.safetensors"
CONFIG_FILE = "classifier.json"
# CONFIG_FIELDS (savs.types, re-exported): the config fields a classifier keeps, the fields of
# FitConfig; anything else in a classifier.json is dropped on load, never kept in memory
_NOTE_FIELDS = ("model_class", "savs_version", "torch_version", "transformers_version")
_NOTE_CHARS = 200


# ---------------------------------------------------------------------------------------------
# Writing


def artifact_files(classifier: ClassifierData) -> tuple[bytes, bytes]:
    """The two files of a saved classifier: (safetensors bytes, JSON bytes)."""
    tensors = {
        "means": classifier.means.float().contiguous(),  # [K, C, d]
        "heads": torch.tensor(
            [[h.layer, h.head] for h in classifier.heads], dtype=torch.int64
        ),  # [K, 2]
        "head_scores": classifier.head_scores.float().contiguous(),  # [L, H]
    }
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **classifier.config,
        "labels": classifier.labels,
        "k": classifier.k,
    }
    return (
        save_safetensors_bytes(tensors),
        json.dumps(config, indent=2, ensure_ascii=False).encode("utf-8"),
    )


def save_classifier(classifier: ClassifierData, path: str | Path) -> Path:
    """Save to a folder, or to a .zip when `path` ends in .zip. Returns the path."""
    path = Path(path)
    tensors, config = artifact_files(classifier)
    if path.suffix.lower() == ".zip":
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(TENSORS_FILE, tensors)
            zf.writestr(CONFIG_FILE, config)
    else:
        path.mkdir(parents=True, exist_ok=True)
        (path / TENSORS_FILE).write_bytes(tensors)
        (path / CONFIG_FILE).write_bytes(config)
    return path


def check_save_target(path: str | Path) -> Path:
    """Refuse, before any work, a place `save_classifier` could not write: a missing or
    unwritable folder, a folder where a .zip goes, a file where a folder goes. Returns the path."""
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        problem = "is not a folder" if parent.exists() else "does not exist"
        raise ClassifierError(
            f"cannot save the classifier to '{path}': folder '{parent}' "
            f"{problem}. Create it first, or pick another --out."
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ClassifierError(
            f"cannot save the classifier to '{path}': folder '{parent}' is not writable."
        )
    is_zip = path.suffix.lower() == ".zip"
    if path.exists() and (path.is_dir() if is_zip else not path.is_dir()):
        kind = "a folder" if path.is_dir() else "a file"
        wanted = "a .zip file" if is_zip else "a folder"
        raise ClassifierError(
            f"cannot save the classifier to '{path}': it is {kind}; a "
            f"classifier is saved as {wanted} there."
        )
    return path


# ---------------------------------------------------------------------------------------------
# Reading


def load_classifier(
    path: str | Path,
    limits: Limits | None = None,
    require_model: bool = False,
    *,
    cls: type[Loaded] | None = None,
) -> Loaded:
    """Load a folder or .zip written by `save_classifier`, validating every field and shape.

    `limits` bounds the labels (count: max_classes, else MAX_CLASSIFIER_LABELS; length:
    max_label_chars) and the prompt (max_text_chars); `require_model` refuses a classifier
    that does not name its model (an upload must: it is checked against the model in use).
    `cls` is the class built (SAVClassifier.load passes its own, for subclasses); by default
    the one `builds_by_default` named (SAVClassifier, once savs.classifier is imported).
    """
    limits = limits or LOCAL
    tensors_bytes, config_bytes = _read_artifact(Path(path), max_config_bytes(limits))
    name = Path(path).name
    try:
        config = strict_json(config_bytes.decode("utf-8"))
    except JSON_ERRORS as exc:  # UnicodeDecodeError is a ValueError
        raise ClassifierError(
            f"{name}: {CONFIG_FILE} is not valid JSON ({json_reason(exc)})."
        ) from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ClassifierError(
            f'{name}: {CONFIG_FILE} is not a SAVs classifier (no "format": "{FORMAT}").'
        )
    if config.get("format_version") != FORMAT_VERSION:
        version = json.dumps(config.get("format_version"))[:20]
        raise ClassifierError(
            f"{name}: classifier format version {version}; this savs "
            f"reads version {FORMAT_VERSION}."
        )
    _check_config(config, name, limits, require_model)
    try:
        tensors = load_safetensors_bytes(tensors_bytes)
    except Exception as exc:
        raise ClassifierError(
            f"{name}: {TENSORS_FILE} is not a valid safetensors file ({exc})."
        ) from None
    return _from_parts(cls or _DEFAULT_CLASS[0], tensors, config, name)


def _from_parts(cls: type[Loaded], tensors: dict, config: dict, name: str) -> Loaded:
    """The classifier from its checked config and its tensors, each checked against the config."""

    def fail(msg: str) -> ClassifierError:
        return ClassifierError(f"{name}: {msg}")

    missing = {"means", "heads", "head_scores"} - set(tensors)
    if missing:
        raise fail(f"tensors missing: {sorted(missing)}.")
    labels = config["labels"]  # checked by _check_config
    num_layers, num_heads, d = config["num_layers"], config["num_heads"], config["head_dim"]
    means, heads, scores = tensors["means"], tensors["heads"], tensors["head_scores"]
    k = heads.shape[0] if heads.ndim == 2 else -1
    if heads.ndim != 2 or heads.shape[1] != 2 or k < 1 or heads.dtype != torch.int64:
        raise fail(f"tensor 'heads' must be int64 [K, 2], got {heads.dtype} {list(heads.shape)}.")
    if tuple(means.shape) != (k, len(labels), d):
        raise fail(
            f"tensor 'means' has shape {list(means.shape)}, expected [{k}, "
            f"{len(labels)}, {d}] (heads, classes, head_dim)."
        )
    if tuple(scores.shape) != (num_layers, num_heads):
        raise fail(
            f"tensor 'head_scores' has shape {list(scores.shape)}, expected "
            f"[{num_layers}, {num_heads}]."
        )
    if (
        (heads[:, 0] < 0).any()
        or (heads[:, 0] >= num_layers).any()
        or (heads[:, 1] < 0).any()
        or (heads[:, 1] >= num_heads).any()
    ):
        raise fail("a head index is out of range for the model's layers and heads.")
    pairs = [(int(a), int(b)) for a, b in heads.tolist()]
    if len(set(pairs)) != k:
        repeated = next(p for i, p in enumerate(pairs) if p in pairs[:i])
        raise fail(
            f"head (layer {repeated[0]}, head {repeated[1]}) is listed twice; each "
            "selected head votes once."
        )
    if "k" in config and config["k"] != k:
        raise fail(f"'k' is {config['k']} but {k} heads are stored.")
    if not means.is_floating_point():
        raise fail(f"tensor 'means' must hold floats, got {means.dtype}.")
    if not torch.isfinite(means).all():
        raise fail("tensor 'means' holds NaN or infinite values.")
    if not scores.is_floating_point() or not torch.isfinite(scores).all():
        raise fail(f"tensor 'head_scores' must hold finite floats, got {scores.dtype} values.")
    # labels live in their own field; the known fields keep the config as it was before saving
    return cls(
        labels=list(labels),
        heads=[HeadIndex(a, b) for a, b in pairs],
        means=means.float(),
        head_scores=scores.float(),
        config=FitConfig.of(config),  # the known fields only
    )


def _positive_int(value: object) -> bool:
    return type(value) is int and value > 0  # not bool: True is an int to isinstance


def _check_labels(labels: object, limits: Limits, fail) -> None:
    """classifier.json's labels: two or more distinct, non-empty, within the limits, and no two
    that are one class (case or Unicode form)."""
    max_labels = limits.max_classes or MAX_CLASSIFIER_LABELS
    if (
        not isinstance(labels, list)
        or len(labels) < 2
        or not all(isinstance(x, str) and x for x in labels)
    ):
        raise fail("'labels' must be a list of at least two non-empty strings.")
    if len(labels) > max_labels:
        raise fail(f"{len(labels):,} labels; the limit is {max_labels:,}.")
    long = next((x for x in labels if len(x) > limits.max_label_chars), None)
    if long is not None:
        raise fail(
            f"label {long[:40]!r}... is {len(long):,} characters long; the limit is "
            f"{limits.max_label_chars}."
        )
    for i, label in enumerate(labels):
        problem = label_problem(label)
        if problem:
            raise fail(f"labels[{i}] {label!r} {problem}.")
    if len(set(labels)) != len(labels):
        raise fail("'labels' holds the same class name twice.")
    keys: dict[str, str] = {}
    for label in labels:
        other = keys.setdefault(label_key(label), label)
        if other != label:
            raise fail(f"labels {other!r} and {label!r} differ only by case or Unicode form.")


def _check_config(config: dict, name: str, limits: Limits, require_model: bool) -> None:
    """Every field of classifier.json that is used later, checked before the tensors are read:
    a bad one fails here, naming the field, not in every later classify."""

    def fail(msg: str) -> ClassifierError:
        return ClassifierError(f"{name}: {msg}")

    _check_labels(config.get("labels"), limits, fail)
    for key in ("num_layers", "num_heads", "head_dim"):
        if not _positive_int(config.get(key)):
            raise fail(
                f"'{key}' must be a positive integer, got {json.dumps(config.get(key))[:40]}."
            )
    if "k" in config and not _positive_int(config["k"]):
        raise fail(f"'k' must be a positive integer, got {json.dumps(config['k'])[:40]}.")
    model = config.get("model")
    if ("model" in config or require_model) and (not isinstance(model, str) or not model.strip()):
        raise fail(
            f"'model' must name the model the classifier was made with, got "
            f"{json.dumps(model)[:60]}."
        )
    prompt = config.get("prompt")
    if prompt is not None:
        if not isinstance(prompt, str):
            raise fail(f"'prompt' must be a string, got {type(prompt).__name__}.")
        if len(prompt) > limits.max_text_chars:
            raise fail(
                f"'prompt' is {len(prompt):,} characters long; the limit is "
                f"{limits.max_text_chars:,}."
            )
    accuracy = config.get("train_accuracy")
    if "train_accuracy" in config and (
        type(accuracy) not in (int, float) or not 0 <= accuracy <= 1
    ):
        raise fail(
            f"'train_accuracy' must be a number from 0 to 1, got {json.dumps(accuracy)[:40]}."
        )
    for key in _NOTE_FIELDS:
        if key in config and (not isinstance(config[key], str) or len(config[key]) > _NOTE_CHARS):
            raise fail(f"'{key}' must be a string of at most {_NOTE_CHARS} characters.")
    if "scoring" in config and config["scoring"] not in SCORINGS:
        raise fail(
            f"'scoring' must be one of {', '.join(SCORINGS)}, got "
            f"{json.dumps(config['scoring'])[:40]}."
        )
    tokens = config.get("max_image_tokens")
    if tokens is not None and (
        type(tokens) is not int or not 0 <= tokens <= MAX_IMAGE_TOKENS_RECORDED
    ):
        raise fail(
            f"'max_image_tokens' must be null or a whole number from 0 to "
            f"{MAX_IMAGE_TOKENS_RECORDED:,}, got {json.dumps(tokens)[:40]}."
        )


def _read_artifact(path: Path, config_limit: int) -> tuple[bytes, bytes]:
    """(tensors bytes, config bytes) from a classifier folder or .zip, each size-checked before
    it is read (the config against `config_limit`, the tensors against MAX_ARTIFACT_BYTES)."""
    limit = {TENSORS_FILE: MAX_ARTIFACT_BYTES, CONFIG_FILE: config_limit}
    if path.is_dir():
        files = {n: path / n for n in (TENSORS_FILE, CONFIG_FILE)}
        for n, p in files.items():
            if not p.is_file():
                raise ClassifierError(
                    f"{path.name}: {n} not found; a classifier folder holds "
                    f"{TENSORS_FILE} and {CONFIG_FILE}."
                )
            if p.stat().st_size > limit[n]:
                raise ClassifierError(
                    f"{path.name}: {n} is larger than {limit[n]:,} bytes; a classifier's is "
                    "smaller."
                )
        return files[TENSORS_FILE].read_bytes(), files[CONFIG_FILE].read_bytes()
    if not path.is_file():
        raise ClassifierError(f"{path}: classifier not found.")
    with open_zip(path, ClassifierError, what="a classifier folder or .zip archive") as zf:
        names = {Path(i.filename).name: i for i in zf.infolist() if not i.is_dir()}
        for n in (TENSORS_FILE, CONFIG_FILE):
            if n not in names:
                raise ClassifierError(
                    f"{path.name}: {n} not found in the archive; a "
                    f"classifier .zip holds {TENSORS_FILE} and {CONFIG_FILE}."
                )
        config = read_member(
            zf, names[CONFIG_FILE], config_limit, ClassifierError, "a classifier's"
        )  # first: the small one, refused before the tensors are read
        return read_member(
            zf, names[TENSORS_FILE], MAX_ARTIFACT_BYTES, ClassifierError, "a classifier's"
        ), config


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "TENSORS_FILE",
    "CONFIG_FILE",
    "CONFIG_FIELDS",
    "artifact_files",
    "save_classifier",
    "check_save_target",
    "load_classifier",
]
