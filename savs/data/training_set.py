"""What a training set must be before a classifier is fitted on it: every example labeled, at
least two classes (two examples each for leave-one-out scoring), and repeated inputs told.

Duplicates are warned about, not refused: oversampling can be deliberate, but a copy with
another label is almost surely a mistake, and every copy weighs its class mean.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterable, Sequence

from ..errors import DataError
from ..types import class_order
from .examples import Example, example_digest


def class_counts(examples: Iterable[Example]) -> Counter:
    return Counter(ex.label for ex in examples)


class DuplicateExampleWarning(UserWarning):
    """The same input (images and text) appears more than once in a training set."""


def find_duplicates(examples: Sequence[Example]) -> list[tuple[Example, Example]]:
    """(first occurrence, later copy) for every example whose inputs repeat an earlier one.
    Examples whose image files cannot be read are skipped (loading reports those)."""
    first: dict[str, Example] = {}
    pairs = []
    for ex in examples:
        try:
            key = example_digest(ex)
        except OSError:
            continue
        if key in first:
            pairs.append((first[key], ex))
        else:
            first[key] = ex
    return pairs


def warn_duplicates(examples: Sequence[Example]) -> list[tuple[Example, Example]]:
    """Duplicates are allowed (oversampling can be deliberate) but never silent: same-label
    copies weigh their class mean, and a copy with another label is almost surely a mistake."""
    pairs = find_duplicates(examples)
    conflicts = [(a, b) for a, b in pairs if a.label != b.label]
    if conflicts:
        a, b = conflicts[0]
        warnings.warn(
            f"{len(conflicts)} example(s) repeat an earlier input with another label, "
            f"e.g. {b.describe()} ({b.label!r}) = {a.describe()} ({a.label!r}); one of "
            "each pair is probably mislabeled.",
            DuplicateExampleWarning,
            stacklevel=3,
        )
    same = len(pairs) - len(conflicts)
    if same:
        a, b = next((a, b) for a, b in pairs if a.label == b.label)
        warnings.warn(
            f"{same} duplicate example(s) (same images and text as an earlier one, "
            f"e.g. {b.describe()} = {a.describe()}); each copy counts again in its "
            "class mean.",
            DuplicateExampleWarning,
            stacklevel=3,
        )
    return pairs


def check_training_set(examples: Sequence[Example], leave_one_out: bool) -> list[str]:
    """Validate a training set (warning about duplicates); returns its labels in first-seen
    order."""
    missing = [ex.describe() for ex in examples if ex.label is None]
    if missing:
        raise DataError(f"{missing[0]}: training example without a label.")
    warn_duplicates(examples)
    return check_labels([ex.label for ex in examples], leave_one_out)


def check_labels(labels: Sequence[str], leave_one_out: bool) -> list[str]:
    """The rule for a training set's labels, in one place (`check_training_set` before a model
    runs, `classifier.fit_activations` on the activations): at least two classes, and with
    leave-one-out scoring at least two examples in each. Returns the classes in first-seen
    order."""
    counts = Counter(labels)
    if len(counts) < 2:
        only = next(iter(counts), None)
        raise DataError(
            f"need at least two classes to train a classifier, got "
            f"{len(counts)}{f' ({only!r})' if only else ''}. Add examples of another "
            "class."
        )
    if leave_one_out:
        single = [label for label, n in counts.items() if n < 2]
        if single:
            raise DataError(
                f"class {single[0]!r} has a single example; leave-one-out scoring "
                "needs at least two per class. Add an example, or use scoring "
                "'reference'."
            )
    return class_order(labels)


__all__ = [
    "class_counts",
    "DuplicateExampleWarning",
    "find_duplicates",
    "warn_duplicates",
    "check_training_set",
    "check_labels",
]
