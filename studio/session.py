"""One person's work in the app, as plain state: classes of examples, the shared prompt, the
chosen model, the classifier and its activations, and whether that classifier is still current.

Why apart from the actions (`studio.actions`): every edit here is cheap and model-free, so it can be
tested alone, and the rule "a classifier never silently describes classes that no longer exist"
lives in one place: every edit of classes, examples or prompt bumps `revision`, and a classifier
fitted at another revision is stale until the next Extract.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from savs.classifier import HeadCount, SAVClassifier
from savs.data import Example, clean_text, label_problem, normalize_label, open_image
from savs.errors import ClassifierError, DataError
from savs.limits import (
    HOSTED,
    LOCAL_SESSION,
    MAX_LABEL_CHARS,
    MAX_TEXT_CHARS,
    MAX_TEXT_LINES_PER_ADD,
    SessionBudget,
)
from savs.text import plural
from savs.types import FitConfig

from . import budget
from .drawn import READS
from .pool import ModelInfo
from .records import (
    AblationRun,
    ClassAttentionRun,
    Classification,
    Evaluation,
    Removal,
    TrainingSet,
)

# a session, local or hosted, holds at most what one hosted upload may: keeps one browser
# session from filling the server's memory (the numbers live in savs.limits.HOSTED)
MAX_CLASSES = HOSTED.max_classes
MAX_EXAMPLES = HOSTED.max_examples
NO_CLASSIFIER = "no classifier yet: add examples and click 'Extract', or import a classifier."
MAX_RECORD = 100  # webcam frames one "record" click may add
STORED_SIDE = 1024  # images are kept (and exported) at most this large; processors use less


@dataclass
class Session:
    """A session's state. No model inside: models live in a `ModelPool`, sessions name them."""

    classes: dict[str, list[Example]] = field(default_factory=dict)
    prompt: str = ""
    k: HeadCount = 20  # or "auto": the fewest heads within one point of the best (k curve)
    scoring: str = "loo"
    model: str = ""  # the model this session extracts with (its own choice)
    model_info: ModelInfo | None = None
    # image tokens per image the next Extract uses (savs.models.image_policy; None: the
    # server's default), one of the choices the operator's bound allows
    image_tokens: int | None = None
    classifier: SAVClassifier | None = None
    # the training activations the classifier was fitted on ([N, L, H, d], in the order of
    # training_examples() at `fitted_revision`) and how the fit was made: refits read them
    activations: torch.Tensor | None = None
    fit_config: FitConfig = field(default_factory=FitConfig)
    revision: int = 0  # a new number on every edit of classes, examples or prompt
    revisions_made: int = 0  # the highest revision given: an undone edit's number is never reused
    fitted_revision: int | None = None
    change: str = ""  # what the last edit was, for the "out of date" notice
    last_removal: Removal | None = None
    last_classification: Classification | None = None
    last_evaluation: Evaluation | None = None
    task: str = ""  # bundled example task loaded last, if any (its test set can be evaluated)
    renamed: dict[str, str] = field(default_factory=dict)  # old name -> new, for pages drawn
    # before a rename (their buttons still say the old name)
    inspected: tuple[int, int] | None = None  # (layer, head) the head inspector shows
    heads_off: tuple[tuple[int, int], ...] = ()  # selected heads unticked for the re-tally
    class_attention: ClassAttentionRun | None = None  # the last "where this head looks" run
    ablation: AblationRun | None = None  # the last "switch heads off in the model" run
    # the k curve of `activations` under `curve_scoring`: the fit's own (SAVClassifier.k_curve),
    # kept by a refit with another k (it reuses the head scores), never computed per redraw
    curve: list[tuple[int, float]] | None = None
    curve_scoring: str = ""
    recording: str = ""  # the class webcam frames go into while recording
    adding_to: str = ""  # the class whose "add examples" panel stays open across redraws
    record_left: int = 0  # frames still to record
    live_frames: int = 0  # webcam frames classified live (the page counts them)
    # characters of text one model call may read (None: no cap), and of one text (a prompt, an
    # example's text, an input): the hosted app sets smaller ones (savs.limits)
    max_call_chars: int | None = None
    max_text_chars: int = MAX_TEXT_CHARS
    budget: SessionBudget = LOCAL_SESSION  # what it may hold in all (hosted: HOSTED_SESSION)
    cleared: str = ""  # why the server emptied it (idle, expired); told on its next action
    kept: dict[str, SAVClassifier] = field(default_factory=dict)  # by name (studio.comparing)

    def __getattribute__(self, name: str) -> Any:
        # while a view draws, the page's memory (studio.drawn) records the fields it reads
        reads = READS.get()
        if reads is not None:
            reads.add(name)
        return object.__getattribute__(self, name)

    # --- staleness ---------------------------------------------------------------------------

    @property
    def stale(self) -> bool:
        """Is there a classifier that no longer matches the classes, examples or prompt?"""
        return self.classifier is not None and self.fitted_revision != self.revision

    @property
    def shown_k(self) -> int:
        """The number of heads as a number (the slider's value): with k "auto", the fitted
        classifier's k (20 before any fit)."""
        if self.k == "auto":
            return self.classifier.k if self.classifier is not None else 20
        return int(self.k)

    def stale_message(self) -> str:
        if not self.stale:
            return ""
        return (
            f"{self.change or 'the classes changed'} since the last Extract: click 'Extract' "
            "to update the classifier (unchanged examples are not run again)."
        )

    def current_classifier(self) -> SAVClassifier:
        """The classifier, if it still matches the classes: the one check every action that
        uses it makes (classify, evaluate, inspect, refit), so that "none yet" and "out of date"
        are refused alike and read alike everywhere."""
        if self.classifier is None:
            raise ClassifierError(NO_CLASSIFIER)
        if self.stale:
            raise ClassifierError(self.stale_message())
        return self.classifier

    @property
    def can_refit(self) -> bool:
        """Are there training activations the current classifier was fitted on (so another k
        or scoring is a refit without the model)? Not after an import, nor once out of date."""
        return self.activations is not None and self.classifier is not None and not self.stale

    def new_revision(self) -> None:
        """A revision number never given before: a classifier fitted at an undone revision
        can never look current again after later edits."""
        self.revisions_made = max(self.revisions_made, self.revision) + 1
        self.revision = self.revisions_made

    def _edited(self, change: str) -> None:
        self.new_revision()
        self.change = change
        self.last_classification = None  # it described the old classes: the page must not show it
        self.last_removal = None

    def _fitted(self, classifier: SAVClassifier) -> None:
        self.classifier = classifier
        self.fitted_revision = self.revision
        self.last_classification = None
        self.last_evaluation = None

    # --- classes and examples ----------------------------------------------------------------

    def check_class_name(self, name: str) -> str:
        name = normalize_label(name or "")
        if not name:
            raise DataError("a class needs a name.")
        if len(name) > MAX_LABEL_CHARS:
            raise DataError(
                f"class name is {len(name)} characters long; the limit is {MAX_LABEL_CHARS}."
            )
        problem = label_problem(name)
        if problem:
            raise DataError(f"class name {name!r} {problem}.")
        return name

    def _check_new_name(self, name: str, renaming: str | None = None) -> str:
        name = self.check_class_name(name)
        for other in self.classes:
            if other != renaming and other.casefold() == name.casefold():
                raise DataError(f"there is already a class named {other!r}; pick another name.")
        return name

    def add_class(self, name: str | None = None) -> str:
        """Add an empty class; without a name it gets the next free 'Class N'."""
        if len(self.classes) >= MAX_CLASSES:
            raise DataError(f"a session can hold at most {MAX_CLASSES} classes.")
        if name is None:
            n = len(self.classes) + 1
            while any(f"class {n}" == c.casefold() for c in self.classes):
                n += 1
            name = f"Class {n}"
        name = self._check_new_name(name)
        self.classes[name] = []
        self._edited(f"class {name!r} was added")
        return name

    def rename_class(self, old: str, new: str) -> str:
        """Rename a class, keeping its position and examples."""
        if old not in self.classes:
            raise DataError(f"no class named {old!r}.")
        new = self._check_new_name(new, renaming=old)
        if new == old:
            return new
        self.classes = {
            (new if k == old else k): [_relabel(ex, new) for ex in v] if k == old else v
            for k, v in self.classes.items()
        }
        self.renamed = {k: (new if v == old else v) for k, v in self.renamed.items()}
        self.renamed[old] = new
        self._edited(f"class {old!r} was renamed to {new!r}")
        return new

    def delete_class(self, name: str) -> None:
        """Delete a class and its examples; `undo()` brings them back."""
        if name not in self.classes:
            raise DataError(f"no class named {name!r}.")
        before, position = self.revision, list(self.classes).index(name)
        examples = self.classes.pop(name)
        self._edited(f"class {name!r} was deleted")
        self.last_removal = Removal(
            f"class {name!r}", position, name, examples, True, before, self.revision
        )

    def remove_example(self, name: str, index: int) -> None:
        """Delete one example (0-based index within its class); `undo()` brings it back."""
        if name not in self.classes or not 0 <= index < len(self.classes[name]):
            raise DataError(f"class {name!r} has no example #{index + 1}.")
        before = self.revision
        example = self.classes[name].pop(index)
        self._edited(f"an example of {name!r} was deleted")
        self.last_removal = Removal(
            f"example {index + 1} of {name!r}", index, name, [example], False, before, self.revision
        )

    def undo(self) -> str:
        """Undo the last delete or replace; returns what came back. If nothing else changed
        since, the classifier is current again (it was fitted on exactly this)."""
        r = self.last_removal
        if r is None:
            raise DataError("nothing to undo.")
        if r.replaced is not None:
            self._restore(r.replaced)
        elif r.whole_class:
            if len(self.classes) >= MAX_CLASSES or r.name in self.classes:
                raise DataError(
                    f"cannot restore class {r.name!r}: a class of that name exists "
                    "or the session is full."
                )
            items = list(self.classes.items())
            items.insert(min(r.position, len(items)), (r.name, r.examples))
            self.classes = dict(items)
        else:
            if r.name not in self.classes:
                raise DataError(f"cannot restore the example: class {r.name!r} is gone.")
            self.classes[r.name].insert(min(r.position, len(self.classes[r.name])), r.examples[0])
        undone_cleanly = self.revision == r.revision_after
        self._edited(f"{r.what} came back")
        if undone_cleanly:
            self.revision = r.revision_before
        return r.what

    def _restore(self, saved: TrainingSet) -> None:
        self.classes, self.prompt, self.task = saved.classes, saved.prompt, saved.task
        self.k, self.scoring = saved.k, saved.scoring

    def current_name(self, name: str) -> str:
        """The class's name now, following renames made since a page drew `name`."""
        return name if name in self.classes else self.renamed.get(name, name)

    def num_examples(self) -> int:
        return sum(len(v) for v in self.classes.values())

    @property
    def max_examples(self) -> int:
        cap = self.budget.max_examples
        return MAX_EXAMPLES if cap is None else min(cap, MAX_EXAMPLES)

    def stored_pixels(self) -> int:
        """Pixels of every example image in the classes: what the pixel budget counts."""
        return budget.held_pixels(im for ex in self.training_examples() for im in ex.images)

    def memory_bytes(self) -> int:
        """About what the session holds in memory: its images (the classes, an undoable
        delete, the last input and evaluation mistakes), its training activations and the last
        input's head vectors."""
        held = [im for ex in self.training_examples() for im in ex.images]
        if self.last_removal is not None:
            held += [im for ex in self.last_removal.held_examples() for im in ex.images]
        if self.last_evaluation is not None:
            held += [im for ex in self.last_evaluation.examples for im in ex.images]
        if self.last_classification is not None and self.last_classification.image is not None:
            held.append(self.last_classification.image)
        acts = self.activations.nbytes if self.activations is not None else 0
        last = self.last_classification
        if last is not None and last.vectors is not None:  # the last input's head vectors
            acts += last.vectors.nbytes
        kept = sum(budget.classifier_bytes(c) for c in self.kept.values())
        return budget.image_bytes(held) + acts + kept

    def check_room(self, images: Sequence, what: str) -> None:
        """Refuse, before anything is decoded, examples past the session's budget."""
        budget.check_examples(self.num_examples(), max(1, len(images)), self.max_examples)
        if images and self.budget.max_pixels is not None:
            adding = budget.incoming_pixels(images, STORED_SIDE)
            budget.check_pixels(self.stored_pixels(), adding, self.budget.max_pixels, what)

    def add_examples(
        self, name: str, images: Sequence[str | Path | Image.Image] = (), text: str = ""
    ) -> int:
        """Add one example per image (each with `text`), or one text-only example when there are
        no images. Every image is opened first: one bad file adds nothing and names the file."""
        if name not in self.classes:
            raise DataError(f"no class named {name!r}; add the class first.")
        text = clean_text(text, "the text", self.max_text_chars)
        self.check_room(images, f"adding {plural(max(1, len(images)), 'example')}")
        opened = [stored_image(im) for im in images]
        if not opened and not text:
            raise DataError("nothing to add: give images and/or a text.")
        first = len(self.classes[name]) + 1
        new = (
            [
                Example(text=text, label=name, images=(im,), source=f"{name} #{i}")
                for i, im in enumerate(opened, first)
            ]
            if opened
            else [Example(text=text, label=name, source=f"{name} #{first}")]
        )
        self.classes[name].extend(new)
        self._edited(f"{len(new)} example{'s' * (len(new) != 1)} added to {name!r}")
        return len(new)

    def add_text_examples(self, name: str, text: str) -> int:
        """Each non-empty line of `text` becomes one text-only example (a pasted list), at most
        MAX_TEXT_LINES_PER_ADD at once; every line is checked first: a bad one adds nothing."""
        if name not in self.classes:
            raise DataError(f"no class named {name!r}; add the class first.")
        lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
        if not lines:
            raise DataError("nothing to add: type a text (one example per line).")
        if len(lines) > MAX_TEXT_LINES_PER_ADD:
            raise DataError(
                f"{len(lines):,} lines at once; at most {MAX_TEXT_LINES_PER_ADD} examples "
                "(one per line) per add."
            )
        for i, line in enumerate(lines, 1):
            clean_text(line, f"line {i}", self.max_text_chars)
        budget.check_examples(self.num_examples(), len(lines), self.max_examples)
        first = len(self.classes[name]) + 1
        self.classes[name].extend(
            Example(text=line, label=name, source=f"{name} #{i}")
            for i, line in enumerate(lines, first)
        )
        self._edited(f"{plural(len(lines), 'example')} added to {name!r}")
        return len(lines)

    def start_recording(self, name: str, frames: int) -> None:
        """The next `frames` webcam frames become examples of class `name` (hold-to-record)."""
        if name not in self.classes:
            raise DataError(f"no class named {name!r}; add the class first.")
        if not 1 <= int(frames) <= MAX_RECORD:
            raise DataError(f"record between 1 and {MAX_RECORD} frames at a time.")
        budget.check_examples(self.num_examples(), 1, self.max_examples)
        budget.check_pixels(self.stored_pixels(), 1, self.budget.max_pixels, "recording")
        self.recording, self.record_left = name, int(frames)

    def stop_recording(self) -> None:
        self.recording, self.record_left = "", 0

    def record_frame(self, frame: str | Path | Image.Image) -> bool:
        """While recording, add one frame to the class; False when not recording (or done)."""
        if not self.recording or self.record_left <= 0:
            return False
        if self.recording not in self.classes:  # deleted meanwhile
            self.stop_recording()
            return False
        self.add_examples(self.recording, [frame])
        self.record_left -= 1
        if self.record_left == 0:
            self.recording = ""
        return True

    def set_prompt(self, prompt: str) -> None:
        prompt = clean_text(prompt, "the prompt", self.max_text_chars)
        if prompt != self.prompt:
            self.prompt = prompt
            self._edited("the prompt changed")

    def replace_all(
        self,
        classes: dict[str, list[Example]],
        prompt: str,
        change: str,
        k: HeadCount | None = None,
        scoring: str | None = None,
    ) -> None:
        """Swap in a whole new set of classes (an import or an example task), and k / scoring
        when given. What it replaced (classes, prompt, k, scoring, task) comes back with
        `undo()`, when there was anything to lose."""
        saved = TrainingSet(self.classes, self.prompt, self.k, self.scoring, self.task)
        before = self.revision
        self.classes, self.prompt, self.task = classes, prompt, ""
        self.k = self.k if k is None else k
        self.scoring = scoring or self.scoring
        self._edited(change)
        if saved.classes or saved.prompt:
            n = len(saved.classes)
            what = f"your {plural(n, 'class')}" if n else "your prompt"
            self.last_removal = Removal(
                what, 0, "", [], False, before, self.revision, replaced=saved
            )

    def replaced_notice(self) -> str:
        """What the last replace took away and how to get it back ("" when it took nothing)."""
        r = self.last_removal
        if r is None or r.replaced is None:
            return ""
        them = "it" if r.what in ("your 1 class", "your prompt") else "them"
        return f"It replaced {r.what} — Undo brings {them} back."

    def training_examples(self) -> list[Example]:
        return [ex for examples in self.classes.values() for ex in examples]

    def summary(self) -> str:
        n = self.num_examples()
        parts = [f"{plural(len(self.classes), 'class')}, {plural(n, 'example')}"]
        if self.classifier is not None:
            acc = self.classifier.config.train_accuracy
            parts.append(
                f"classifier: top {plural(self.classifier.k, 'head')}"
                + (f", fit accuracy {acc:.0%}" if isinstance(acc, float) else "")
                + (" (out of date)" if self.stale else "")
            )
        return "; ".join(parts)


def check_call_text(examples: Sequence[Example], prompt: str, limit: int | None, what: str) -> None:
    """Refuse, before any model work, a call whose text (each example's own, plus the shared
    prompt once per example) is more than `limit` characters: it would hold the model too long."""
    if limit is None:
        return
    total = sum(len(prompt) + len(ex.text) for ex in examples)
    if total > limit:
        raise DataError(
            f"{what} would make the model read {total:,} characters of text (the prompt counts "
            f"once per example); the limit on this server is {limit:,}. Use shorter texts, a "
            "shorter prompt or fewer examples."
        )


def _relabel(example: Example, label: str) -> Example:
    return Example(text=example.text, label=label, images=example.images, source=example.source)


def stored_image(image: str | Path | Image.Image, where: str = "") -> Image.Image:
    """Open (and so validate) an image now, as RGB at most STORED_SIDE: the session keeps
    pixels, not paths into temporary upload folders that may be cleaned away."""
    name = where or (Path(image).name if not isinstance(image, Image.Image) else "image")
    img = open_image(image, name)
    if max(img.size) > STORED_SIDE:
        img = img.copy()
        img.thumbnail((STORED_SIDE, STORED_SIDE))
    return img


__all__ = [
    "check_call_text",
    "Session",
    "Classification",
    "Evaluation",
    "Removal",
    "TrainingSet",
    "MAX_CLASSES",
    "MAX_EXAMPLES",
    "MAX_RECORD",
    "NO_CLASSIFIER",
    "STORED_SIDE",
    "stored_image",
]
