"""The app's session logic as a plain class: classes -> examples, the shared prompt, the fitted
classifier, and everything a person does with them (add, rename, import, extract, refit,
classify, evaluate, export).

Why a library class: the Gradio app (app.py) stays a thin layer of small callbacks, and every
capability is unit-tested here without a browser. A `Studio` holds no model and no activation
tensors, only small things (examples with their images, the classifier, cache keys), so it can
live in a per-browser-session `gr.State`; the model (`SharedModel`) and the activations
(`ActivationCache`, keyed by content hash) are shared by all sessions and passed in.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
from PIL import Image

from .baseline import zero_shot_accuracy
from .activations import ActivationCache, ProgressFn, extract
from .classifier import SCORINGS, Prediction, SAVClassifier, fit_activations
from .data import (MAX_LABEL_CHARS, MAX_TEXT_CHARS, Example, _dataset_root, check_training_set,
                   load_examples, open_image, safe_extract_zip, write_jsonl, zip_folder)
from .errors import ClassifierError, DataError, ModelError
from .metrics import EvalReport, evaluation_report
from .models.adapter import ModelAdapter
from .models.registry import ASSETS, load_model
from .pipeline import check_compatible, classifier_config, predict

EXAMPLES_ENV = "SAVS_EXAMPLES"  # folder of bundled example tasks (default: assets/examples)
STUDIO_FILE = "studio.json"  # sidecar in a dataset export: prompt, empty classes, k, scoring
DATASET_FILE = "data.jsonl"
MAX_CLASSES = 50
MAX_EXAMPLES = 1000  # per session: keeps one browser session from filling the server's memory
STORED_SIDE = 1024  # images are kept (and exported) at most this large; processors use less


def examples_root() -> Path:
    """Where bundled example tasks live: $SAVS_EXAMPLES, else <assets>/examples."""
    return Path(os.environ.get(EXAMPLES_ENV) or ASSETS / "examples")


def list_example_tasks(root: Path | None = None) -> list[str]:
    """Names of the bundled example tasks: folders holding a train.jsonl."""
    root = root or examples_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "train.jsonl").is_file())


def full_text(prompt: str, text: str) -> str:
    """The text the model sees for one example, joined exactly as ModelAdapter.render joins it."""
    return "\n".join(t for t in (prompt, text) if t)


def strip_prompt(text: str, prompt: str) -> str:
    """Inverse of `full_text`: the per-example part of a question that starts with the prompt."""
    if prompt and text == prompt:
        return ""
    if prompt and text.startswith(prompt + "\n"):
        return text[len(prompt) + 1:]
    return text


# ---------------------------------------------------------------------------------------------
# The shared model


class SharedModel:
    """The one model all sessions use, loaded once; a lock serialises loads and forward passes.

    A failed load leaves the current model in place (the app keeps working on it).
    """

    def __init__(self, loader: Callable[[str], ModelAdapter] = load_model):
        self._loader = loader
        self._adapter: ModelAdapter | None = None
        self.lock = threading.RLock()
        self.last_error = ""

    @property
    def adapter(self) -> ModelAdapter:
        if self._adapter is None:
            raise ModelError("no model is loaded yet. Pick a model and click 'Load model'."
                             + (f" (Last attempt: {self.last_error})" if self.last_error else ""))
        return self._adapter

    @property
    def name(self) -> str:
        return self._adapter.name if self._adapter is not None else ""

    def load(self, name: str) -> ModelAdapter:
        """Load `name` (bundled, folder or hub id) and make it current, or raise ModelError."""
        name = (name or "").strip()
        if not name:
            raise ModelError("give a model: a bundled name, a hub id or a local folder.")
        with self.lock:
            if self._adapter is not None and self._adapter.name == name:
                return self._adapter
            try:
                adapter = self._loader(name)
            except ModelError as exc:
                self.last_error = str(exc)
                raise
            except MemoryError:
                self.last_error = f"{name}: out of memory while loading."
                raise ModelError(f"{name}: out of memory while loading. Try a smaller model. "
                                 f"The current model ({self.name or 'none'}) stays.") from None
            old, self._adapter = self._adapter, adapter
            del old
            self.last_error = ""
            return adapter

    def set(self, adapter: ModelAdapter) -> None:
        with self.lock:
            self._adapter = adapter


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class Classification:
    prediction: Prediction
    seconds: float


@dataclass
class Evaluation:
    report: EvalReport
    predictions: list[Prediction]
    examples: list[Example]
    seconds: float
    zero_shot_accuracy: float | None = None  # the model answering with a label itself

    def mistakes(self) -> list[tuple[Example, str, str]]:
        """(example, true label, predicted label) of every wrong prediction."""
        return [(self.examples[i], self.examples[i].label or "", self.predictions[i].label)
                for i in self.report.mistakes]


# ---------------------------------------------------------------------------------------------
# The session


@dataclass
class Studio:
    """One person's work: classes of examples, a prompt, a classifier. No model inside."""

    classes: dict[str, list[Example]] = field(default_factory=dict)
    prompt: str = ""
    k: int = 20
    scoring: str = "loo"
    classifier: SAVClassifier | None = None
    # what the last extraction saw: the model, and one cache key per training example (in the
    # order of `training_examples()`); refits read the activations back from the shared cache
    extracted_model: str = ""
    activation_keys: list[str] = field(default_factory=list)
    task: str = ""  # bundled example task loaded last, if any (its test set can be evaluated)

    # --- classes and examples --------------------------------------------------------------

    def _check_name(self, name: str) -> str:
        name = (name or "").strip()
        if not name:
            raise DataError("a class needs a name.")
        if len(name) > MAX_LABEL_CHARS:
            raise DataError(f"class name is {len(name)} characters long; the limit is "
                            f"{MAX_LABEL_CHARS}.")
        return name

    def add_class(self, name: str | None = None) -> str:
        """Add an empty class; without a name it gets the next free 'Class N'."""
        if len(self.classes) >= MAX_CLASSES:
            raise DataError(f"a session can hold at most {MAX_CLASSES} classes.")
        if name is None:
            n = len(self.classes) + 1
            while f"Class {n}" in self.classes:
                n += 1
            name = f"Class {n}"
        name = self._check_name(name)
        if name in self.classes:
            raise DataError(f"there is already a class named {name!r}.")
        self.classes[name] = []
        return name

    def rename_class(self, old: str, new: str) -> str:
        """Rename a class, keeping its position and examples."""
        if old not in self.classes:
            raise DataError(f"no class named {old!r}.")
        new = self._check_name(new)
        if new == old:
            return new
        if new in self.classes:
            raise DataError(f"there is already a class named {new!r}; pick another name.")
        self.classes = {(new if k == old else k): [ex if ex.label != old else _relabel(ex, new)
                                                   for ex in v]
                        for k, v in self.classes.items()}
        self._invalidate()
        return new

    def delete_class(self, name: str) -> None:
        if name not in self.classes:
            raise DataError(f"no class named {name!r}.")
        del self.classes[name]
        self._invalidate()

    def num_examples(self) -> int:
        return sum(len(v) for v in self.classes.values())

    def add_examples(self, name: str, images: Sequence[str | Path | Image.Image] = (),
                     text: str = "") -> int:
        """Add one example per image (each with `text`), or one text-only example when there are
        no images. Every image is opened first: one bad file adds nothing and names the file."""
        if name not in self.classes:
            raise DataError(f"no class named {name!r}; add the class first.")
        text = (text or "").strip()
        if len(text) > MAX_TEXT_CHARS:
            raise DataError(f"the text is {len(text)} characters long; the limit is "
                            f"{MAX_TEXT_CHARS}.")
        opened = [_stored_image(im) for im in images]
        if not opened and not text:
            raise DataError("nothing to add: give images and/or a text.")
        new = ([Example(text=text, label=name, images=(im,), source=f"{name} #{i}")
                for i, im in enumerate(opened, len(self.classes[name]) + 1)] if opened
               else [Example(text=text, label=name, source=f"{name} #{len(self.classes[name]) + 1}")])
        if self.num_examples() + len(new) > MAX_EXAMPLES:
            raise DataError(f"a session can hold at most {MAX_EXAMPLES} examples.")
        self.classes[name].extend(new)
        self._invalidate()
        return len(new)

    def remove_example(self, name: str, index: int) -> None:
        if name not in self.classes or not 0 <= index < len(self.classes[name]):
            raise DataError(f"class {name!r} has no example #{index + 1}.")
        del self.classes[name][index]
        self._invalidate()

    def set_prompt(self, prompt: str) -> None:
        prompt = (prompt or "").strip()
        if len(prompt) > MAX_TEXT_CHARS:
            raise DataError(f"the prompt is {len(prompt)} characters long; the limit is "
                            f"{MAX_TEXT_CHARS}.")
        if prompt != self.prompt:
            self.prompt = prompt
            self._invalidate()

    def training_examples(self) -> list[Example]:
        return [ex for examples in self.classes.values() for ex in examples]

    def _invalidate(self) -> None:
        """The examples or prompt changed: the extracted activations no longer match (the
        classifier stays usable for classifying until the next fit)."""
        self.activation_keys = []
        self.extracted_model = ""

    # --- importing -------------------------------------------------------------------------

    def import_dataset(self, path: str | Path, replace: bool = True) -> int:
        """Load a JSONL file, a folder of class folders, or a .zip of either (our dataset
        export included). A question shared by every example becomes the prompt.
        Returns the number of examples loaded; on any error the session is unchanged."""
        path = Path(path)
        with tempfile.TemporaryDirectory(prefix="savs-import-") as tmp:
            root, confine = path, None
            if path.is_file() and path.suffix.lower() == ".zip":
                safe_extract_zip(path, tmp)
                # image paths in an uploaded zip's JSONL must stay inside it (no ../ or /etc)
                root, confine = _dataset_root(Path(tmp)), Path(tmp)
            meta = _read_meta(root / STUDIO_FILE if root.is_dir() else path.parent / STUDIO_FILE)
            loaded = load_examples(root, question="", confine_to=confine)  # folders: no text
            # keep pixels, not paths: the extracted files go away with the temporary folder
            examples = [Example(text=ex.text, label=ex.label, source=ex.source,
                                images=tuple(_stored_image(im, ex.describe()) for im in ex.images))
                        for ex in loaded]
        questions = {ex.text for ex in examples}
        if meta:
            prompt = str(meta.get("prompt", ""))
        elif questions == {""}:
            prompt = self.prompt  # class folders carry no question: keep the session's prompt
        else:
            prompt = questions.pop() if len(questions) == 1 else ""
        classes: dict[str, list[Example]] = {} if replace else {k: list(v) for k, v in
                                                                self.classes.items()}
        for name in meta.get("classes", []):
            if isinstance(name, str) and name.strip():
                classes.setdefault(name.strip(), [])
        for ex in examples:
            classes.setdefault(ex.label, []).append(
                Example(text=strip_prompt(ex.text, prompt), label=ex.label, images=ex.images,
                        source=ex.source))
        if len(classes) > MAX_CLASSES or sum(len(v) for v in classes.values()) > MAX_EXAMPLES:
            raise DataError(f"{path.name}: too large for one session (at most {MAX_CLASSES} "
                            f"classes and {MAX_EXAMPLES} examples).")
        self.classes = classes
        self.prompt = prompt
        if isinstance(meta.get("k"), int) and meta["k"] > 0:
            self.k = meta["k"]
        if meta.get("scoring") in SCORINGS:
            self.scoring = meta["scoring"]
        self.task = ""
        self._invalidate()
        return len(examples)

    def load_example_task(self, name: str, root: Path | None = None) -> int:
        """Replace the session with a bundled example task's training set."""
        root = root or examples_root()
        folder = root / name
        if name not in list_example_tasks(root):
            raise DataError(f"no example task {name!r} in {root}; available: "
                            f"{', '.join(list_example_tasks(root)) or 'none'}.")
        n = self.import_dataset(folder / "train.jsonl")
        self.task = name
        return n

    def task_test_set(self, root: Path | None = None) -> Path | None:
        """The loaded example task's test.jsonl, if it has one."""
        if not self.task:
            return None
        path = (root or examples_root()) / self.task / "test.jsonl"
        return path if path.is_file() else None

    # --- fitting ---------------------------------------------------------------------------

    def extract_and_fit(self, adapter: ModelAdapter, cache: ActivationCache,
                        progress: ProgressFn | None = None, batch_size: int = 8) -> SAVClassifier:
        """Run the model on every training example (cached by content), then fit."""
        examples = self._checked_training_set()
        acts = extract(adapter, examples, self.prompt or None, batch_size, cache, progress)
        self.activation_keys = [ActivationCache.key(adapter, self.prompt or None, ex)
                                for ex in examples]
        self.extracted_model = adapter.name
        return self._fit(adapter, acts, examples)

    def refit(self, adapter: ModelAdapter, cache: ActivationCache, k: int | None = None,
              scoring: str | None = None) -> SAVClassifier:
        """Refit with another k / scoring from the cached activations, without the model."""
        if k is not None:
            self.k = max(1, int(k))
        if scoring is not None:
            if scoring not in SCORINGS:
                raise DataError(f"scoring must be one of {', '.join(SCORINGS)}, got {scoring!r}.")
            self.scoring = scoring
        if not self.activation_keys or self.extracted_model != adapter.name:
            raise DataError("the examples, prompt or model changed since the last extraction: "
                            "click 'Extract' first.")
        examples = self._checked_training_set()
        values = [cache.get(key) for key in self.activation_keys]
        if len(values) != len(examples) or any(v is None for v in values):
            self.activation_keys = []
            raise DataError("the cached activations were dropped to free memory: click 'Extract' "
                            "again.")
        return self._fit(adapter, torch.stack(values), examples)  # [N, L, H, d]

    def _checked_training_set(self) -> list[Example]:
        empty = [name for name, v in self.classes.items() if not v]
        if empty:
            raise DataError(f"class {empty[0]!r} has no examples. Add some, or delete the class.")
        examples = self.training_examples()
        check_training_set(examples, leave_one_out=self.scoring == "loo")
        return examples

    def _fit(self, adapter: ModelAdapter, acts: torch.Tensor,
             examples: list[Example]) -> SAVClassifier:
        k = min(self.k, adapter.num_layers * adapter.num_heads)
        self.classifier = fit_activations(acts, [ex.label for ex in examples], k, self.scoring,
                                          classifier_config(adapter, self.prompt or None))
        return self.classifier

    # --- using the classifier --------------------------------------------------------------

    def _ready(self, adapter: ModelAdapter) -> SAVClassifier:
        if self.classifier is None:
            raise ClassifierError("no classifier yet: add examples and click 'Extract', or import "
                                  "a classifier.")
        check_compatible(self.classifier, adapter)
        return self.classifier

    def classify(self, adapter: ModelAdapter, image: str | Path | Image.Image | None = None,
                 text: str = "") -> Classification:
        """Classify one input (an image and/or text) with the current classifier."""
        clf = self._ready(adapter)
        text = (text or "").strip()
        images = (open_image(image, Path(image).name if not isinstance(image, Image.Image)
                             else "image"),) if image is not None else ()
        if not images and not text and not clf.config.get("prompt"):
            raise DataError("nothing to classify: give an image and/or a text.")
        start = time.perf_counter()
        prediction = predict(adapter, clf, [Example(text=text, images=images, source="input")])[0]
        return Classification(prediction, time.perf_counter() - start)

    def evaluate(self, adapter: ModelAdapter, path: str | Path,
                 progress: ProgressFn | None = None, zero_shot: bool = False) -> Evaluation:
        """Classify a labeled test set (JSONL, class folders or .zip of either) and compare.
        With `zero_shot`, also score the zero-shot baseline (label log-likelihood) on it."""
        clf = self._ready(adapter)
        prompt = clf.config.get("prompt") or ""
        loaded = load_examples(path, question="", workdir=tempfile.mkdtemp(prefix="savs-test-"))
        unlabeled = [ex.describe() for ex in loaded if ex.label is None]
        if unlabeled:
            raise DataError(f"{unlabeled[0]}: test example without a label.")
        examples = [Example(text=strip_prompt(ex.text, prompt), label=ex.label, images=ex.images,
                            source=ex.source) for ex in loaded]
        start = time.perf_counter()
        predictions = predict(adapter, clf, examples, progress=progress)
        report = evaluation_report([ex.label for ex in examples], [p.label for p in predictions],
                                   clf.labels)
        seconds = time.perf_counter() - start
        baseline = (zero_shot_accuracy(adapter, examples, clf.labels, prompt or None,
                                       progress=progress) if zero_shot else None)
        return Evaluation(report, predictions, examples, seconds, baseline)

    # --- keeping and sharing ---------------------------------------------------------------

    def export_classifier(self, archive: str | Path) -> Path:
        if self.classifier is None:
            raise ClassifierError("no classifier to export yet: click 'Extract' first.")
        return self.classifier.save(Path(archive))

    def import_classifier(self, path: str | Path, adapter: ModelAdapter | None = None) -> SAVClassifier:
        """Load a classifier .zip; with an adapter, refuse one made with another model."""
        clf = SAVClassifier.load(path)
        if adapter is not None:
            check_compatible(clf, adapter)
        self.classifier = clf
        self.k = clf.k
        if clf.config.get("scoring") in SCORINGS:
            self.scoring = clf.config["scoring"]
        return clf

    def export_dataset(self, archive: str | Path) -> Path:
        """Labeled examples -> .zip of data.jsonl + images/ + studio.json (prompt, classes, k).
        Questions hold the full text, so the JSONL also works with `savs fit` alone."""
        examples = self.training_examples()
        if not examples and not self.classes:
            raise DataError("nothing to export: the session has no classes.")
        full = [Example(text=full_text(self.prompt, ex.text), label=ex.label, images=ex.images,
                        source=ex.source) for ex in examples]
        with tempfile.TemporaryDirectory(prefix="savs-export-") as tmp:
            write_jsonl(full, tmp, DATASET_FILE)
            meta = {"format": "savs-studio", "prompt": self.prompt, "classes": list(self.classes),
                    "k": self.k, "scoring": self.scoring}
            Path(tmp, STUDIO_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False),
                                              encoding="utf-8")
            return zip_folder(tmp, archive)

    # --- for display -----------------------------------------------------------------------

    def summary(self) -> str:
        n = self.num_examples()
        parts = [f"{len(self.classes)} classes, {n} examples"]
        if self.classifier is not None:
            acc = self.classifier.config.get("train_accuracy")
            parts.append(f"classifier: top {self.classifier.k} heads"
                         + (f", fit accuracy {acc:.0%}" if isinstance(acc, float) else ""))
        return "; ".join(parts)


def _relabel(example: Example, label: str) -> Example:
    return Example(text=example.text, label=label, images=example.images, source=example.source)


def _stored_image(image: str | Path | Image.Image, where: str = "") -> Image.Image:
    """Open (and so validate) an image now, as RGB at most STORED_SIDE: the session keeps
    pixels, not paths into temporary upload folders that may be cleaned away."""
    name = where or (Path(image).name if not isinstance(image, Image.Image) else "image")
    img = open_image(image, name)
    if max(img.size) > STORED_SIDE:
        img = img.copy()
        img.thumbnail((STORED_SIDE, STORED_SIDE))
    return img


def _read_meta(path: Path) -> dict:
    """The optional studio.json of a dataset export; {} when absent."""
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path.name}: not valid JSON ({exc}).") from None
    if not isinstance(meta, dict) or meta.get("format") != "savs-studio":
        raise DataError(f"{path.name}: not a SAVs Studio file (no \"format\": \"savs-studio\").")
    if not isinstance(meta.get("prompt", ""), str):
        raise DataError(f"{path.name}: field 'prompt' must be a string.")
    return meta


__all__ = ["Studio", "SharedModel", "Classification", "Evaluation", "examples_root",
           "list_example_tasks", "full_text", "strip_prompt", "EXAMPLES_ENV"]
