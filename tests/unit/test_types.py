"""savs.types (issue 20): the shared types stand alone, their old homes give the same objects, and
the typed FitConfig reads as attributes while classifier.json keeps its format (old classifiers
load, new ones write the same fields)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import savs
from savs import artifact, classifier, heads, types
from savs.classifier import SAVClassifier, fit_activations
from savs.data import check_labels, check_training_set
from savs.errors import DataError
from savs.types import CONFIG_FIELDS, ClassifierData, FitConfig

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_types_imports_no_savs_module_and_no_torch():
    """Loaded from its file alone (not through the savs package, which imports everything)."""
    probe = (
        "import importlib.util, json, sys\n"
        "spec = importlib.util.spec_from_file_location('alone', sys.argv[1])\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules['alone'] = module\n"
        "spec.loader.exec_module(module)\n"
        "seen = [m for m in sys.modules if m.split('.')[0] in ('savs', 'torch')]\n"
        "print(json.dumps(sorted(seen)))\n"
    )
    argv = [sys.executable, "-c", probe, str(ROOT / "savs" / "types.py")]
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_the_old_homes_give_the_same_objects():
    assert heads.HeadIndex is types.HeadIndex is savs.HeadIndex
    for name in ("Scoring", "SCORINGS", "HeadCount", "Prediction", "KCurve", "FitConfig"):
        assert getattr(classifier, name) is getattr(types, name), name
    assert savs.Prediction is types.Prediction
    assert artifact.CONFIG_FIELDS is CONFIG_FIELDS
    assert issubclass(SAVClassifier, ClassifierData)


def _fit(**config) -> SAVClassifier:
    gen = torch.Generator().manual_seed(0)
    acts = torch.randn(6, 2, 3, 4, generator=gen)  # [N, L, H, d]
    return fit_activations(acts, ["a", "b", "c"] * 2, k=2, config=config or None)


def test_fit_config_is_typed_and_still_reads_as_the_dict_it_was():
    clf = _fit(model="m", prompt="Which?")
    cfg = clf.config
    assert isinstance(cfg, FitConfig)
    assert (cfg.model, cfg.prompt, cfg.k, cfg.scoring) == ("m", "Which?", 2, "loo")
    assert (cfg.num_layers, cfg.num_heads, cfg.head_dim) == (2, 3, 4)
    assert cfg["k"] == 2 and cfg.get("model_class") is None and "model_class" not in cfg
    assert dict(cfg) == {
        "model": "m",
        "prompt": "Which?",
        "k": 2,
        "scoring": "loo",
        "num_layers": 2,
        "num_heads": 3,
        "head_dim": 4,
        "train_accuracy": cfg.train_accuracy,
    }
    assert cfg == dict(cfg) and FitConfig.of(cfg) == cfg and FitConfig.of(cfg) is not cfg
    cfg["prompt"] = "Other?"
    assert cfg.prompt == "Other?"
    with pytest.raises(KeyError, match="'junk' is not a classifier config field"):
        cfg["junk"] = 1
    assert FitConfig.of({"model": "m", "junk": 1}) == {"model": "m"}


def test_the_callers_config_is_copied_not_changed():
    given = FitConfig(model="m")
    clf = fit_activations(torch.randn(4, 1, 2, 3), ["x", "x", "y", "y"], k=1, config=given)
    assert dict(given) == {"model": "m"} and clf.config.k == 1


def test_classifier_json_keeps_its_fields(tmp_path):
    clf = _fit(model="m", prompt="")
    written = json.loads((clf.save(tmp_path / "c") / artifact.CONFIG_FILE).read_text())
    assert written == {
        "format": artifact.FORMAT,
        "format_version": artifact.FORMAT_VERSION,
        "model": "m",
        "prompt": "",
        "k": 2,
        "scoring": "loo",
        "num_layers": 2,
        "num_heads": 3,
        "head_dim": 4,
        "train_accuracy": clf.config.train_accuracy,
        "labels": ["a", "b", "c"],
    }


def test_a_classifier_json_written_before_fit_config_loads(tmp_path):
    """The field order and extras of a file the dict-config code wrote (pipeline.fit's order,
    a null prompt, an unknown field): loaded into the typed config, the extras dropped."""
    folder = _fit(model="m").save(tmp_path / "old")
    path = folder / artifact.CONFIG_FILE
    new = json.loads(path.read_text())
    old = {
        "format": "savs-classifier",
        "format_version": 1,
        "model": "m",
        "model_class": "LlavaForConditionalGeneration",
        "prompt": None,
        "savs_version": "0.1.0",
        "torch_version": "2.5.0",
        "transformers_version": "4.46.0",
        "k": 2,
        "scoring": "loo",
        "num_layers": 2,
        "num_heads": 3,
        "head_dim": 4,
        "train_accuracy": 0.5,
        "labels": new["labels"],
        "notes": "kept by nobody",
    }
    path.write_text(json.dumps(old, indent=2))
    cfg = SAVClassifier.load(folder).config
    assert isinstance(cfg, FitConfig) and cfg.prompt is None and cfg.train_accuracy == 0.5
    assert cfg.model_class == "LlavaForConditionalGeneration" and cfg.savs_version == "0.1.0"
    assert set(cfg) == {k for k, v in old.items() if k in CONFIG_FIELDS and v is not None}


def test_artifact_alone_builds_the_class_it_is_told():
    """savs.artifact knows classifiers as types.ClassifierData; savs.classifier named
    SAVClassifier as the class it builds by default."""
    assert artifact._DEFAULT_CLASS == [SAVClassifier]


def test_one_rule_for_a_training_sets_classes():
    """The fit refuses a training set with the very message the early check gives."""
    acts = torch.randn(4, 1, 2, 3)
    for labels, loo in ((["a"] * 4, False), (["a", "a", "a", "b"], True)):
        with pytest.raises(DataError) as early:
            check_labels(labels, leave_one_out=loo)
        with pytest.raises(DataError) as fit:
            fit_activations(acts, labels, 1, "loo" if loo else "reference")
        assert str(fit.value) == str(early.value)
    examples = [savs.Example(text=f"q{i}", label=lab) for i, lab in enumerate(["a", "b"] * 2)]
    assert check_training_set(examples, leave_one_out=True) == check_labels(["a", "b"] * 2, True)


def test_one_label_encoding():
    """Classes in first-seen order, indices from `classifier.encode_labels`: the baselines, the
    head inspector and the projection number classes as the fit does, and no other module
    builds its own tensor of class indices from the labels."""
    from savs.compare import class_indices
    from savs.explanation import head_class_accuracy
    from savs.projection import head_projection

    labels = ["dog", "cat", "dog", "bird", "cat", "bird"]
    classes, y = classifier.encode_labels(labels)
    assert classes == ["dog", "cat", "bird"] and y.tolist() == [0, 1, 0, 2, 1, 2]
    assert classifier.encode_labels(["cat", "fish"], classes, unknown=-1)[1].tolist() == [1, -1]
    with pytest.raises(KeyError):
        classifier.encode_labels(["fish"], classes)
    train = class_indices(labels, ["bird", "fish"])
    assert train[0] == classes and torch.equal(train[1], y) and train[2].tolist() == [2, -1]
    acts = torch.randn(6, 1, 2, 3)
    assert list(head_class_accuracy(acts, labels, (0, 1))) == classes
    assert head_projection(acts, labels, (0, 0)).classes == classes
    clf = fit_activations(acts, labels, 1, "reference")
    assert clf.labels == classes
    # a tensor of class indices built from a label lookup: torch.tensor([index[lab] for ...])
    table = re.compile(r"tensor\(\s*\[\s*\w+(\[|\.get\(|\.index\()\s*lab")
    own = [
        p.name
        for p in sorted((ROOT / "savs").rglob("*.py"))
        if p.name != "classifier.py" and table.search(p.read_text("utf-8"))
    ]
    assert own == [], own
