"""Issue 17: persistence moved to savs.artifact, images to savs.images, archives to
savs.archives. Every old import path must still give the same object, and the thin
SAVClassifier methods must do exactly what the artifact functions do. Never loads a model."""

from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path

import pytest
import torch

from savs import archives, artifact, classifier, images
from savs.__main__ import build_parser
from savs.classifier import SCORINGS, SAVClassifier, fit_activations
from savs.errors import ClassifierError

pytestmark = pytest.mark.unit

MOVED = [
    ("savs.classifier", artifact, ["FORMAT", "FORMAT_VERSION", "TENSORS_FILE", "CONFIG_FILE"]),
    (
        "savs.data",
        images,
        ["open_image", "image_size", "image_digest", "ImageLike", "IMAGE_SUFFIXES"],
    ),
    ("savs.data", archives, ["safe_extract_zip", "zip_folder", "dataset_root"]),
]


@pytest.mark.parametrize("old, new, names", MOVED)
def test_old_import_paths_give_the_moved_objects(old, new, names):
    module = importlib.import_module(old)
    for name in names:
        namespace: dict = {}
        exec(f"from {old} import {name}", namespace)  # the statement users wrote
        assert namespace[name] is getattr(new, name) is getattr(module, name), name


def test_classifier_module_still_refuses_unknown_names():
    with pytest.raises(AttributeError, match="no attribute 'NOT_A_NAME'"):
        classifier.NOT_A_NAME  # noqa: B018
    assert not hasattr(classifier, "load_safetensors_bytes")


def _classifier() -> SAVClassifier:
    gen = torch.Generator().manual_seed(0)
    acts = torch.randn(8, 2, 3, 4, generator=gen)  # [N, L, H, d]
    acts[4:, 1, 2] += 3.0  # class b stands out in head (1, 2)
    return fit_activations(acts, ["a"] * 4 + ["b"] * 4, k=3, config={"model": "m"})


def test_methods_delegate_to_the_artifact_functions(tmp_path):
    clf = _classifier()
    folder = clf.save(tmp_path / "clf")
    tensors, config = artifact.artifact_files(clf)
    assert (folder / artifact.TENSORS_FILE).read_bytes() == tensors
    assert (folder / artifact.CONFIG_FILE).read_bytes() == config
    zipped = artifact.save_classifier(clf, tmp_path / "clf.zip")
    for loaded in (SAVClassifier.load(folder), artifact.load_classifier(zipped)):
        assert type(loaded) is SAVClassifier
        assert loaded.labels == clf.labels and loaded.heads == clf.heads
        assert torch.equal(loaded.means, clf.means) and loaded.config == clf.config
    assert SAVClassifier.check_save_target(zipped) == zipped  # overwriting a .zip is fine
    (tmp_path / "notes.txt").write_text("x")
    for check in (SAVClassifier.check_save_target, artifact.check_save_target):
        with pytest.raises(
            ClassifierError, match="it is a file; a classifier is saved as a folder there"
        ):
            check(tmp_path / "notes.txt")


def test_load_builds_the_class_it_is_called_on(tmp_path):
    class Mine(SAVClassifier):
        pass

    folder = _classifier().save(tmp_path / "clf")
    assert type(Mine.load(folder)) is Mine


def test_selected_activations_are_the_selected_heads_in_order():
    clf = _classifier()
    acts = torch.randn(5, 2, 3, 4)  # [N, L, H, d]
    selected = clf.selected_activations(acts)  # [N, K, d]
    expected = torch.stack([acts[:, h.layer, h.head] for h in clf.heads], dim=1)
    assert torch.equal(selected, expected)


def test_cli_scoring_choices_are_scorings():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    action = next(a for a in sub.choices["fit"]._actions if a.dest == "scoring")
    assert tuple(action.choices) == SCORINGS


# Issue 20: savs/data.py became the package savs/data/; every name the module offered (its
# __all__ and the public names callers used) is still importable from savs.data, and is the
# object its new home holds.
DATA_NAMES = {
    "savs.data.examples": [
        "Example",
        "example_digest",
        "check_text",
        "IMAGE_MARKER",
        "join_prompt",
        "split_prompt",
    ],
    "savs.data.labels": ["normalize_label", "label_key", "label_problem"],
    "savs.data.jsonl": ["parse_record", "load_jsonl", "write_jsonl"],
    "savs.data.datasets": ["load_folder", "load_examples"],
    "savs.data.training_set": [
        "check_training_set",
        "class_counts",
        "find_duplicates",
        "warn_duplicates",
        "DuplicateExampleWarning",
    ],
    "savs.data.studio_file": ["read_studio_meta", "STUDIO_FORMAT"],
    "savs.limits": [
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
    ],
    "savs.errors": ["DataError"],
}


@pytest.mark.parametrize("home", sorted(DATA_NAMES))
def test_every_name_of_the_old_data_module_still_imports(home):
    new = importlib.import_module(home)
    for name in DATA_NAMES[home]:
        namespace: dict = {}
        exec(f"from savs.data import {name}", namespace)
        assert namespace[name] is getattr(new, name), name


def test_the_readme_layout_names_every_data_module():
    """A newcomer finds savs.data's rooms in README's Layout: every module of the package is
    listed under data/, and every module listed there exists."""
    root = Path(__file__).resolve().parents[2]
    layout = (root / "README.md").read_text("utf-8").split("## Layout", 1)[1]
    part = layout.split("  data/ ", 1)[1].split("\n  images.py", 1)[0]
    modules = {p.name for p in (root / "savs" / "data").glob("*.py") if p.name != "__init__.py"}
    named = set(re.findall(r"^    (\w+\.py) ", part, re.M))
    assert named == modules, (sorted(modules - named), sorted(named - modules))
