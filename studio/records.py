"""What a session keeps of its actions besides its classes: the last classification and
evaluation as the page shows them, and what the last delete or replace took away (for Undo).
Plain records: `studio.session.Session` holds them, its actions fill them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from savs.classifier import HeadCount, Prediction
from savs.data import Example
from savs.metrics import EvalReport


@dataclass
class Classification:
    prediction: Prediction
    seconds: float
    # from the same forward pass (`Studio.classify(..., explain=True)`): where each selected head
    # looked, in the classifier's order; None when not asked for or the model cannot say why
    explanations: list | None = None  # [savs.explanation.HeadExplanation]
    image: Image.Image | None = None  # the input picture, for the attention overlay
    explain_error: str = ""  # why there are no explanations, when they were asked for
    # the input's vector of every head up to the deepest selected layer ([L', H, d], from the
    # explained pass; None without one): any head's cosines, the head map's star, the re-tally
    vectors: torch.Tensor | None = None
    text: str | None = None  # the input's text, kept with its picture by an explained pass

    def example(self) -> Example | None:
        """The input as the explained pass read it (picture kept at most STORED_SIDE), for
        another model run on it (the ablated answer); None without an explained pass."""
        if self.text is None:
            return None
        return Example(text=self.text, images=(self.image,) if self.image else (), source="input")


@dataclass
class ClassAttentionRun:
    """Where one head looks, per class (`savs.class_attention`), and its figure, drawn once:
    valid while the session's training set, prompt and model are the ones it ran on (`key`)."""

    head: tuple[int, int]
    key: tuple  # (fitted revision, model, prompt) at the run
    per_class: dict  # label -> savs.ClassAttention
    figure: Any
    per_class_cap: int  # examples averaged per class at most
    seconds: float


@dataclass
class AblationRun:
    """The model's own answer to the last input, with the selected heads off and random ones
    (`savs.ablation_effect`): valid for that classification and those heads only."""

    effect: Any  # savs.AblationEffect
    classification: Classification
    seconds: float
    seed: int = 0  # the random heads' draw (the clicks on this input, from 0)


@dataclass
class Evaluation:
    report: EvalReport
    predictions: list[Prediction]
    examples: list[Example]
    seconds: float
    zero_shot_accuracy: float | None = None  # the model answering with a label itself
    # savs.compare baselines on the same test activations: name -> accuracy (None: not asked,
    # or no training activations, as with an imported classifier)
    baselines: dict[str, float] | None = None

    def mistakes(self) -> list[tuple[Example, str, str]]:
        """(example, true label, predicted label) of every wrong prediction."""
        return [
            (self.examples[i], self.examples[i].label or "", self.predictions[i].label)
            for i in self.report.mistakes
        ]


@dataclass
class TrainingSet:
    """Everything a replace (an import, an example task) swaps out: kept for its undo."""

    classes: dict[str, list[Example]]
    prompt: str
    k: HeadCount
    scoring: str
    task: str

    def num_examples(self) -> int:
        return sum(len(v) for v in self.classes.values())


@dataclass
class Removal:
    """What the last delete or replace took away, so that it can be undone exactly."""

    what: str  # shown on the undo button: "class 'stripes'", "example 3 of 'red'"
    position: int  # class position, or example index within its class
    name: str  # the class
    examples: list[Example]
    whole_class: bool
    revision_before: int
    revision_after: int
    replaced: TrainingSet | None = None  # a replace: the whole training set it swapped out

    def held_examples(self) -> list[Example]:
        """Every example the undo would bring back (what the session's memory counts)."""
        extra = self.replaced.classes.values() if self.replaced is not None else ()
        return [*self.examples, *(ex for examples in extra for ex in examples)]


__all__ = [
    "Classification",
    "Evaluation",
    "TrainingSet",
    "Removal",
    "ClassAttentionRun",
    "AblationRun",
]
