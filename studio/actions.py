"""What a person does in the app, as plain methods: import, extract, refit, classify, evaluate,
export. The state they act on is `studio.session.Session`.

Why a library class: the Gradio app (app.py) stays a thin layer of small callbacks, and every
capability is unit-tested here without a browser. Actions that run a model take a
`ModelAdapter` (the app lends one from its `ModelPool`); the model-running work itself is
`savs.pipeline`'s, so the CLI, the library and the app share one orchestration path.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from savs.activations import ActivationCache, ProgressFn, extract
from savs.baseline import zero_shot_accuracy
from savs.classifier import SCORINGS, HeadCount, SAVClassifier, fit_activations, k_curve
from savs.compare import compare_baselines
from savs.data import (
    Example,
    dataset_root,
    join_prompt,
    load_examples,
    open_image,
    read_studio_meta,
    split_prompt,
    write_jsonl,
    zip_folder,
)
from savs.errors import ClassifierError, DataError, ModelError
from savs.explanation import explain_with_activations, head_class_accuracy
from savs.limits import HOSTED, HOSTED_EVALUATE, Limits
from savs.metrics import evaluation_report
from savs.models.adapter import ModelAdapter
from savs.models.registry import ASSETS
from savs.pipeline import (
    check_compatible,
    classifier_config,
    evaluate,
    predict,
    training_activations,
)

from .budget import check_activations, check_pixels
from .session import (
    MAX_CLASSES,
    Classification,
    Evaluation,
    Session,
    check_call_text,
    check_text,
    stored_image,
)

EXAMPLES_ENV = "SAVS_EXAMPLES"  # folder of bundled example tasks (default: assets/examples)
STUDIO_FILE = "studio.json"  # sidecar in a dataset export: prompt, empty classes, k, scoring
DATASET_FILE = "data.jsonl"
MISTAKE_THUMB = 256  # evaluation keeps only its mistakes' pictures, this large


def examples_root() -> Path:
    """Where bundled example tasks live: $SAVS_EXAMPLES, else <assets>/examples."""
    return Path(os.environ.get(EXAMPLES_ENV) or ASSETS / "examples")


def list_example_tasks(root: Path | None = None) -> list[str]:
    """Names of the bundled example tasks: folders holding a train.jsonl."""
    root = root or examples_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "train.jsonl").is_file())


@dataclass
class Studio(Session):
    """A session with its actions. `export_dir` is the one folder its downloads live in."""

    export_dir: str = field(default="", repr=False)

    # --- importing -------------------------------------------------------------------------

    def import_dataset(self, path: str | Path, replace: bool = True, confine: bool = False) -> int:
        """Load a JSONL file, a folder of class folders, or a .zip of either (our dataset
        export included). A question shared by every example becomes the prompt. With
        `confine` (uploads), image paths must stay inside the upload. Returns the number of
        examples loaded; on any error the session is unchanged."""
        path = Path(path)
        with tempfile.TemporaryDirectory(prefix="savs-import-") as tmp:
            # uploads: limits checked while reading, paths confined, messages name no server path
            loaded = load_examples(
                path,
                question="",
                workdir=tmp,
                upload=confine,
                limits=_import_limits(self, replace) if confine else None,
            )
            root = (
                dataset_root(Path(tmp))
                if path.suffix.lower() == ".zip"
                else (path if path.is_dir() else path.parent)
            )
            meta = read_studio_meta(root / STUDIO_FILE)
            # keep pixels, not paths: the extracted files go away with the temporary folder
            examples = [
                Example(
                    text=ex.text,
                    label=ex.label,
                    source=ex.source,
                    images=tuple(stored_image(im, ex.describe()) for im in ex.images),
                )
                for ex in loaded
            ]
        questions = {ex.text for ex in examples}
        if meta:
            prompt = meta.get("prompt", "")
        elif questions == {""}:
            prompt = self.prompt  # class folders carry no question: keep the session's prompt
        else:
            prompt = questions.pop() if len(questions) == 1 else ""
        classes: dict[str, list[Example]] = (
            {} if replace else {k: list(v) for k, v in self.classes.items()}
        )
        for name in meta.get("classes", []):
            classes.setdefault(name, [])
        for ex in examples:
            classes.setdefault(ex.label, []).append(
                Example(
                    text=split_prompt(ex.text, prompt),
                    label=ex.label,
                    images=ex.images,
                    source=ex.source,
                )
            )
        if len(classes) > MAX_CLASSES or sum(len(v) for v in classes.values()) > self.max_examples:
            raise DataError(
                f"{path.name}: too large for one session (at most {MAX_CLASSES} "
                f"classes and {self.max_examples} examples)."
            )
        if not confine:  # uploads were counted from their headers while reading
            held = 0 if replace else self.stored_pixels()
            pixels = sum(im.width * im.height for ex in examples for im in ex.images)
            check_pixels(held, pixels, self.budget.max_pixels, path.name)
        self.replace_all(classes, prompt, f"{path.name} was imported")
        if meta.get("k"):
            self.k = meta["k"]
        if meta.get("scoring"):
            self.scoring = meta["scoring"]
        return len(examples)

    def load_example_task(self, name: str, root: Path | None = None) -> int:
        """Replace the session with a bundled example task's training set."""
        root = root or examples_root()
        if name not in list_example_tasks(root):
            raise DataError(
                f"no example task {name!r}; available: "
                f"{', '.join(list_example_tasks(root)) or 'none'}."
            )
        n = self.import_dataset(root / name / "train.jsonl")
        self.task = name
        return n

    def task_test_set(self, root: Path | None = None) -> Path | None:
        """The loaded example task's test.jsonl, if it has one."""
        if not self.task:
            return None
        path = (root or examples_root()) / self.task / "test.jsonl"
        return path if path.is_file() else None

    # --- fitting ---------------------------------------------------------------------------

    def extract_and_fit(
        self,
        adapter: ModelAdapter,
        cache: ActivationCache | None = None,
        progress: ProgressFn | None = None,
        batch_size: int = 8,
    ) -> SAVClassifier:
        """Run the model on every training example (the shared cache skips unchanged ones),
        keep the activations for refits, and fit."""
        examples = self._checked_training_set()
        check_call_text(examples, self.prompt, self.max_call_chars, "Extract")
        shape = (adapter.num_layers, adapter.num_heads, adapter.head_dim)
        check_activations(len(examples), shape, self.budget.max_activation_bytes)
        acts = training_activations(
            adapter, examples, self.prompt or None, self.scoring, batch_size, cache, progress
        )  # [N, L, H, d]
        self.activations, self.curve = acts, None
        self.fit_config = classifier_config(adapter, self.prompt or None)
        self.fitted_revision = None  # fitted below; until then nothing is current
        return self._fit(examples)

    def refit(self, k: HeadCount | None = None, scoring: str | None = None) -> SAVClassifier:
        """Refit with another k ("auto": the fewest heads within one point of the best on the
        k curve) / scoring from the kept activations, without the model."""
        if scoring is not None and scoring not in SCORINGS:
            raise DataError(f"scoring must be one of {', '.join(SCORINGS)}, got {scoring!r}.")
        if k is not None:
            self.k = "auto" if k == "auto" else max(1, int(k))
        if scoring is not None:
            self.scoring = scoring
        if self.activations is None or self.classifier is None:
            raise DataError("nothing extracted yet: click 'Extract' first.")
        if self.stale:
            raise DataError(self.stale_message())
        return self._fit(self._checked_training_set())

    def _checked_training_set(self) -> list[Example]:
        empty = [name for name, v in self.classes.items() if not v]
        if empty:
            raise DataError(f"class {empty[0]!r} has no examples. Add some, or delete the class.")
        return self.training_examples()

    def _fit(self, examples: list[Example]) -> SAVClassifier:
        num_heads = self.activations.shape[1] * self.activations.shape[2]
        k = "auto" if self.k == "auto" else min(int(self.k), num_heads)
        self._fitted(
            fit_activations(
                self.activations, [ex.label for ex in examples], k, self.scoring, self.fit_config
            )
        )
        return self.classifier

    def k_curve(self) -> list[tuple[int, float]] | None:
        """Training accuracy (leave-one-out with "loo") for every k from 1 to L * H, from the
        kept activations: computed once per fit and scoring, then cached. None when there are
        no current activations (nothing extracted, an imported classifier, or out of date)."""
        if self.activations is None or self.classifier is None or self.stale:
            return None
        if self.curve is None or self.curve_scoring != self.scoring:
            labels = [ex.label for ex in self.training_examples()]
            self.curve = k_curve(self.activations, labels, self.scoring)
            self.curve_scoring = self.scoring
        return self.curve

    def head_report(self, layer: int, head: int) -> dict:
        """What the head inspector shows for one head: its accuracy per class on the training
        set (None without current training activations), and for the last input, when it was
        explained and the head is selected, its cosine with each class mean and its vote."""
        clf = self.classifier
        if clf is None:
            raise ClassifierError("no classifier yet: click 'Extract' first.")
        layer, head = int(layer), int(head)
        accuracy = None
        if self.activations is not None and not self.stale:
            accuracy = head_class_accuracy(
                self.activations,
                [ex.label for ex in self.training_examples()],
                (layer, head),
                clf.config.get("scoring", self.scoring),
            )
        expl = next((e for e in self.explanations() if (e.layer, e.head) == (layer, head)), None)
        rank = next(
            (i for i, h in enumerate(clf.heads, 1) if (h.layer, h.head) == (layer, head)), None
        )
        return {
            "layer": layer,
            "head": head,
            "rank": rank,
            "score": float(clf.head_scores[layer, head]),
            "class_accuracy": accuracy,
            "cosines": expl.cosines if expl else None,
            "vote": expl.vote if expl else None,
        }

    def explanations(self) -> list:
        """The last classification's head explanations ([] when there are none)."""
        last = self.last_classification
        return list(last.explanations or []) if last is not None else []

    # --- using the classifier --------------------------------------------------------------

    @property
    def classifier_model(self) -> str:
        """The model the classifier was made with: it always runs on that one."""
        return str(self.classifier.config.get("model") or "") if self.classifier else ""

    def _ready(self, adapter: ModelAdapter) -> SAVClassifier:
        if self.classifier is None:
            raise ClassifierError(
                "no classifier yet: add examples and click 'Extract', or import a classifier."
            )
        if self.stale:
            raise ClassifierError(self.stale_message())
        check_compatible(self.classifier, adapter)
        return self.classifier

    def check_input(self, image: object, text: str | None) -> str:
        """Refuse what cannot be classified before any model work: no classifier, an out of
        date one, or no input at all. Returns the cleaned text."""
        text = check_text(text, "the text", self.max_text_chars)
        if image is None and not text:
            raise DataError("nothing to classify: give an image and/or a text.")
        prompt = str(self.classifier.config.get("prompt") or "") if self.classifier else ""
        check_call_text([Example(text=text)], prompt, self.max_call_chars, "This input")
        if self.classifier is None:
            raise ClassifierError(
                "no classifier yet: add examples and click 'Extract', or import a classifier."
            )
        if self.stale:
            raise ClassifierError(self.stale_message())
        return text

    def classify(
        self,
        adapter: ModelAdapter,
        image: str | Path | Image.Image | None = None,
        text: str = "",
        explain: bool = False,
    ) -> Classification:
        """Classify one input (an image and/or text) with the current classifier. With
        `explain`, the same single forward pass also gives each selected head's attention
        (`savs.explanation.explain_with_activations`) and keeps the input's vectors of every head
        up to the deepest selected layer; a model whose attention cannot be read is
        classified all the same, and `explain_error` says why there is no explanation."""
        text = self.check_input(image, text)
        clf = self._ready(adapter)
        name = "image" if isinstance(image, Image.Image) or image is None else Path(image).name
        images = (open_image(image, name),) if image is not None else ()
        example = Example(text=text, images=images, source="input")
        start = time.perf_counter()
        explanations, vectors, why = None, None, ""
        if explain:
            try:
                prediction, explanations, vectors = explain_with_activations(adapter, clf, example)
            except ModelError as exc:
                why = str(exc)
        if explanations is None:
            prediction = predict(adapter, clf, [example])[0]
        self.last_classification = Classification(
            prediction,
            time.perf_counter() - start,
            explanations,
            stored_image(images[0], name) if images and explain else None,
            why,
            vectors,
        )
        return self.last_classification

    def evaluate(
        self,
        adapter: ModelAdapter,
        path: str | Path,
        progress: ProgressFn | None = None,
        zero_shot: bool = False,
        confine: bool = False,
        baselines: bool = False,
    ) -> Evaluation:
        """Classify a labeled test set (JSONL, class folders or .zip of either) and compare.
        With `zero_shot`, also score the zero-shot baseline (label log-likelihood) on it. With
        `baselines` and the training activations at hand, every head of the test set is read
        in one pass; the SAVs predictions and the `savs.compare` baselines all come from it.
        Its files live only during the call; the mistakes keep small copies of their images."""
        clf = self._ready(adapter)
        prompt = clf.config.get("prompt") or ""
        path = Path(path)
        with tempfile.TemporaryDirectory(prefix="savs-test-") as tmp:
            loaded = load_examples(
                path,
                question="",
                workdir=tmp,
                upload=confine,
                limits=dataclasses.replace(
                    HOSTED_EVALUATE,
                    max_text_chars=min(HOSTED_EVALUATE.max_text_chars, self.max_text_chars),
                )
                if confine
                else None,
            )
            examples = [
                Example(
                    text=split_prompt(ex.text, prompt),
                    label=ex.label,
                    images=ex.images,
                    source=ex.source,
                )
                for ex in loaded
            ]
            check_call_text(examples, prompt, self.max_call_chars, "This evaluation")
            start = time.perf_counter()
            if baselines and self.activations is not None:
                report, predictions, compared = self._evaluate_with_baselines(
                    adapter, examples, progress
                )
            else:
                (report, predictions), compared = (
                    evaluate(adapter, clf, examples, progress=progress),
                    None,
                )
            seconds = time.perf_counter() - start
            baseline = (
                zero_shot_accuracy(adapter, examples, clf.labels, prompt or None, progress=progress)
                if zero_shot
                else None
            )
            wrong = set(report.mistakes)
            kept = [  # while the files exist: mistakes keep small pictures, the rest none
                _with_thumbnails(ex) if i in wrong else Example(ex.text, ex.label, (), ex.source)
                for i, ex in enumerate(examples)
            ]
        self.last_evaluation = Evaluation(report, predictions, kept, seconds, baseline, compared)
        return self.last_evaluation

    def _evaluate_with_baselines(
        self, adapter: ModelAdapter, examples: list[Example], progress: ProgressFn | None
    ) -> tuple:
        """(report, predictions, baselines) from one extraction of every head of the test set."""
        clf = self.classifier
        unlabeled = [ex.describe() for ex in examples if ex.label is None]
        if unlabeled:
            raise DataError(f"{unlabeled[0]}: test example without a label.")
        test_acts = extract(
            adapter, examples, clf.config.get("prompt") or None, progress=progress
        )  # [N', L, H, d]
        predictions = clf.predict_activations(test_acts)
        labels = [ex.label for ex in examples]
        report = evaluation_report(labels, [p.label for p in predictions], clf.labels)
        compared = compare_baselines(
            self.activations,
            [ex.label for ex in self.training_examples()],
            test_acts,
            labels,
            clf.heads,
        )
        return report, predictions, compared

    # --- keeping and sharing ---------------------------------------------------------------

    def new_export_path(self, filename: str) -> Path:
        """Where the next download goes: the session's one export folder, emptied first."""
        self.close_files()
        self.export_dir = tempfile.mkdtemp(prefix="savs-out-")
        return Path(self.export_dir) / filename

    def close(self, why: str = "") -> None:
        """The session ended: drop everything it holds (pixels, activations, downloads). With
        `why` (the server cleared it: idle too long, or memory needed), its next action is told
        (`cleared`)."""
        self.close_files()
        self.classes, self.activations, self.classifier, self.curve = {}, None, None, None
        self.last_classification = self.last_evaluation = self.last_removal = None
        self.fitted_revision, self.task, self.recording, self.record_left = None, "", "", 0
        self.revision += 1
        self.cleared = why

    def close_files(self) -> None:
        """Delete the session's export folder (on each export, and when the session ends)."""
        if self.export_dir:
            shutil.rmtree(self.export_dir, ignore_errors=True)
            self.export_dir = ""

    def export_classifier(self, archive: str | Path) -> Path:
        if self.classifier is None:
            raise ClassifierError("no classifier to export yet: click 'Extract' first.")
        return self.classifier.save(Path(archive))

    def import_classifier(
        self, path: str | Path, adapter: ModelAdapter | None = None
    ) -> SAVClassifier:
        """Load a classifier .zip; with an adapter, refuse one made with another model. It
        stands for the session's current classes until they change."""
        return self.import_classifier_object(SAVClassifier.load(path), adapter)

    def import_classifier_object(
        self, clf: SAVClassifier, adapter: ModelAdapter | None = None
    ) -> SAVClassifier:
        """Adopt a loaded classifier (checked against `adapter`, the model it names)."""
        if adapter is not None:
            check_compatible(clf, adapter)
        self._fitted(clf)
        self.activations, self.curve = None, None  # it came without training activations
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
        full = [
            Example(
                text=join_prompt(self.prompt, ex.text),
                label=ex.label,
                images=ex.images,
                source=ex.source,
            )
            for ex in examples
        ]
        with tempfile.TemporaryDirectory(prefix="savs-export-") as tmp:
            write_jsonl(full, tmp, DATASET_FILE)
            meta = {
                "format": "savs-studio",
                "prompt": self.prompt,
                "classes": list(self.classes),
                "k": self.shown_k,
                "scoring": self.scoring,
            }
            Path(tmp, STUDIO_FILE).write_text(
                json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8"
            )
            return zip_folder(tmp, archive)


def _with_thumbnails(example: Example) -> Example:
    thumbs = []
    for im in example.images:
        img = open_image(im, example.describe()).copy()
        img.thumbnail((MISTAKE_THUMB, MISTAKE_THUMB))
        thumbs.append(img)
    return Example(example.text, example.label, tuple(thumbs), example.source)


def _import_limits(studio: Studio, replace: bool) -> Limits:
    """An upload may fill the session up to its example and pixel budgets, not past them."""
    room = studio.max_examples - (0 if replace else studio.num_examples())
    pixels = HOSTED.max_pixels
    if studio.budget.max_pixels is not None:
        held = 0 if replace else studio.stored_pixels()
        pixels = min(pixels or studio.budget.max_pixels, studio.budget.max_pixels - held)
    return dataclasses.replace(
        HOSTED,
        max_examples=max(0, min(HOSTED.max_examples or room, room)),
        max_pixels=max(0, pixels) if pixels is not None else None,
        max_text_chars=min(HOSTED.max_text_chars, studio.max_text_chars),
    )


__all__ = [
    "Studio",
    "Classification",
    "Evaluation",
    "examples_root",
    "list_example_tasks",
    "EXAMPLES_ENV",
]
