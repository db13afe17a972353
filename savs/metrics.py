"""Accuracy, per-class precision / recall and the confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .types import class_order


@dataclass
class EvalReport:
    accuracy: float
    per_class: dict[str, dict[str, float]]  # label -> precision, recall, support
    labels: list[str]  # row / column order of the confusion matrix
    confusion: list[list[int]]  # [true][predicted]
    mistakes: list[int] = field(default_factory=list)  # indices of wrongly classified examples

    def to_json(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "per_class": self.per_class,
            "confusion": {"labels": self.labels, "matrix": self.confusion},
        }


def evaluation_report(
    truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str] = ()
) -> EvalReport:
    """Compare true and predicted labels. `labels` fixes the order (others are appended)."""
    if len(truth) != len(predicted) or not truth:
        raise ValueError("need as many predictions as true labels, and at least one")
    order = class_order([*labels, *truth, *predicted])
    index = {lab: i for i, lab in enumerate(order)}
    matrix = [[0] * len(order) for _ in order]
    for t, p in zip(truth, predicted):
        matrix[index[t]][index[p]] += 1
    per_class = {}
    for lab, i in index.items():
        tp = matrix[i][i]
        predicted_as = sum(row[i] for row in matrix)
        support = sum(matrix[i])
        per_class[lab] = {
            "precision": tp / predicted_as if predicted_as else 0.0,
            "recall": tp / support if support else 0.0,
            "support": support,
        }
    mistakes = [i for i, (t, p) in enumerate(zip(truth, predicted)) if t != p]
    return EvalReport(
        accuracy=1 - len(mistakes) / len(truth),
        per_class=per_class,
        labels=order,
        confusion=matrix,
        mistakes=mistakes,
    )
