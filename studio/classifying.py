"""Use the classifier: classify one input (with the explanation from the same forward pass) and
evaluate a labeled test set, with the baselines when the training activations are at hand."""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

from PIL import Image

from savs.activations import ProgressFn
from savs.baseline import zero_shot_accuracy
from savs.classifier import SAVClassifier
from savs.data import Example, clean_text, load_examples, open_image, split_prompt
from savs.errors import DataError, ModelError
from savs.explanation import explain_with_activations
from savs.limits import HOSTED_EVALUATE
from savs.models.adapter import ModelAdapter
from savs.pipeline import (
    check_compatible,
    evaluate,
    evaluate_with_baselines,
    for_classifier,
    predict,
)

from .session import Classification, Evaluation, Session, check_call_text, stored_image

MISTAKE_THUMB = 256  # evaluation keeps only its mistakes' pictures, this large


class ClassifyActions(Session):
    """Classifying and evaluating (a part of `studio.actions.Studio`)."""

    @property
    def classifier_model(self) -> str:
        """The model the classifier was made with: it always runs on that one."""
        return str(self.classifier.config.model or "") if self.classifier else ""

    def _ready(self, adapter: ModelAdapter) -> tuple[SAVClassifier, ModelAdapter]:
        """The current classifier, and the model under the resolution policy it was fitted
        with (`savs.pipeline.for_classifier`: never above the server's bound)."""
        clf = self.current_classifier()
        adapter = for_classifier(adapter, clf)
        check_compatible(clf, adapter)
        return clf, adapter

    def check_input(self, image: object, text: str | None) -> str:
        """Refuse what cannot be classified before any model work: no classifier, an out of
        date one, or no input at all. Returns the cleaned text."""
        text = clean_text(text, "the text", self.max_text_chars)
        if image is None and not text:
            raise DataError("nothing to classify: give an image and/or a text.")
        prompt = str(self.classifier.config.prompt or "") if self.classifier else ""
        check_call_text([Example(text=text)], prompt, self.max_call_chars, "This input")
        self.current_classifier()
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
        clf, adapter = self._ready(adapter)
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
            text if explain else None,
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
        clf, adapter = self._ready(adapter)
        prompt = clf.config.prompt or ""
        with tempfile.TemporaryDirectory(prefix="savs-test-") as tmp:
            examples = self._read_test_set(Path(path), prompt, confine, tmp)
            start = time.perf_counter()
            compared = None
            if baselines and self.activations is not None:
                labels = [ex.label for ex in self.training_examples()]
                report, predictions, compared = evaluate_with_baselines(
                    adapter, clf, examples, self.activations, labels, progress=progress
                )
            else:
                report, predictions = evaluate(adapter, clf, examples, progress=progress)
            seconds = time.perf_counter() - start
            baseline = (
                zero_shot_accuracy(adapter, examples, clf.labels, prompt or None, progress=progress)
                if zero_shot
                else None
            )
            wrong = set(report.mistakes)
            kept = [  # while the files exist: mistakes keep small pictures, the rest none
                _with_thumbnails(ex) if i in wrong else dataclasses.replace(ex, images=())
                for i, ex in enumerate(examples)
            ]
        self.last_evaluation = Evaluation(report, predictions, kept, seconds, baseline, compared)
        return self.last_evaluation

    def _read_test_set(self, path: Path, prompt: str, confine: bool, workdir: str) -> list:
        """A test set's examples, questions without the classifier's prompt; uploads read under
        the hosted evaluation limits (and the session's text limit)."""
        limits = dataclasses.replace(
            HOSTED_EVALUATE,
            max_text_chars=min(HOSTED_EVALUATE.max_text_chars, self.max_text_chars),
        )
        loaded = load_examples(
            path, question="", workdir=workdir, upload=confine, limits=limits if confine else None
        )
        examples = [dataclasses.replace(ex, text=split_prompt(ex.text, prompt)) for ex in loaded]
        check_call_text(examples, prompt, self.max_call_chars, "This evaluation")
        return examples


def _with_thumbnails(example: Example) -> Example:
    thumbs = []
    for im in example.images:
        img = open_image(im, example.describe()).copy()
        img.thumbnail((MISTAKE_THUMB, MISTAKE_THUMB))
        thumbs.append(img)
    return dataclasses.replace(example, images=tuple(thumbs))


__all__ = ["ClassifyActions", "MISTAKE_THUMB"]
