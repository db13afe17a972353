"""Inspect any head of the classifier, selected or not (a part of `studio.actions.Studio`):
its rank among all heads, its accuracy per class on the kept training activations, its vectors'
PCA plane, and the last input's cosines with its class means. Model-free: it reads what extract
and classify kept.

What comes from the training activations alone (a head's accuracy per class, its PCA plane) is
computed once per activations and head (`training_memo`), not on every redraw: the page draws
the inspector and the head map again after each classify, and recomputing them took about half
of that redraw's callback time in a server's profile (benchmarks/RESULTS.md, 7 Dec 2026 night).
What is kept per session is small: at most 16 results (at 1,000 examples of 128 dims, 8 planes
and 8 accuracies measured 0.3 MiB; SECURITY.md).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import torch

from savs.classifier import class_sums, encode_labels, head_cosines
from savs.errors import ClassifierError
from savs.explanation import head_class_accuracy
from savs.projection import HeadProjection, head_projection

from .session import NO_CLASSIFIER, Session

Head = tuple[int, int]
T = TypeVar("T")

MEMO_PER_ACTIVATIONS = 16  # results kept per activations tensor (the heads looked at last)
# id(activations) -> (key -> result), least recently used first; an entry goes with its tensor
_MEMOS: dict[int, OrderedDict[tuple, Any]] = {}
_MEMOS_LOCK = threading.Lock()


def training_memo(acts: torch.Tensor, key: tuple, compute: Callable[[], T]) -> T:
    """`compute()`, a function of `acts` and `key` only, computed once per (acts, key) while the
    tensor lives (its last MEMO_PER_ACTIVATIONS keys). Results must not hold views of `acts`
    (they would keep it alive). Sessions never share an activations tensor."""
    with _MEMOS_LOCK:
        memo = _MEMOS.get(id(acts))
        if memo is None:
            memo = _MEMOS[id(acts)] = OrderedDict()
            weakref.finalize(acts, _MEMOS.pop, id(acts), None)
        if key in memo:
            memo.move_to_end(key)
            return memo[key]
    value = compute()  # outside the lock: another session's lookups go on meanwhile
    with _MEMOS_LOCK:
        memo[key] = value
        while len(memo) > MEMO_PER_ACTIVATIONS:
            memo.popitem(last=False)
    return value


class InspectActions(Session):
    """The head inspector's numbers."""

    def explanations(self) -> list:
        """The last classification's head explanations ([] when there are none)."""
        last = self.last_classification
        return list(last.explanations or []) if last is not None else []

    def ranking(self) -> list[Head]:
        """Every head, best first: the selected heads in the classifier's order (its tie-breaks),
        then the others by score, ties by index."""
        clf = self.classifier
        if clf is None:
            return []
        kept = [(h.layer, h.head) for h in clf.heads]
        scores, taken = clf.head_scores.float().tolist(), set(kept)
        others = [
            (layer, head)
            for layer, row in enumerate(scores)
            for head in range(len(row))
            if (layer, head) not in taken
        ]
        return kept + sorted(others, key=lambda lh: (-scores[lh[0]][lh[1]], lh))

    def training_labels(self) -> list[str] | None:
        """The labels of the kept training activations, None when there are none current."""
        return [ex.label for ex in self.training_examples()] if self.can_refit else None

    def training_projection(self, layer: int, head: int) -> HeadProjection | None:
        """The head's training vectors on their PCA plane (`savs.head_projection`), None
        without current training activations."""
        return self._from_training(head_projection, layer, head)

    def training_accuracy(self, layer: int, head: int, scoring: str) -> dict[str, float] | None:
        """The head's accuracy per class on the training activations (`head_class_accuracy`),
        None without current training activations."""
        return self._from_training(head_class_accuracy, layer, head, scoring)

    def _from_training(
        self, compute: Callable[..., T], layer: int, head: int, *args: Any
    ) -> T | None:
        """compute(activations, labels, (layer, head), *args), memoized (`training_memo`)."""
        labels = self.training_labels()
        if labels is None:
            return None
        acts, index = self.activations, (int(layer), int(head))
        return training_memo(
            acts,
            (compute, index, tuple(labels), *args),
            lambda: compute(acts, labels, index, *args),
        )

    def input_vector(self, layer: int, head: int) -> torch.Tensor | None:
        """The last classified input's vector [d] at this head, when its pass read that layer."""
        last = self.last_classification
        vectors = last.vectors if last is not None else None
        if vectors is None or layer >= vectors.shape[0]:
            return None
        return vectors[layer, head]

    def input_cosines(self, layer: int, head: int) -> dict[str, float] | None:
        """Cosine of the last input's vector at this head with each class mean: a selected head's
        from the classify itself; any other head's from the training activations' class means."""
        expl = next((e for e in self.explanations() if (e.layer, e.head) == (layer, head)), None)
        if expl is not None:
            return expl.cosines
        labels, vec = self.training_labels(), self.input_vector(layer, head)
        if labels is None or vec is None:
            return None
        classes, y = encode_labels(labels, self.classifier.labels)
        sums, counts = class_sums(self.activations[:, layer, head].float(), y, len(classes))
        means = sums / counts[:, None]  # [C, d]
        cos = head_cosines(vec.float()[None, None], means[None])[0, 0]  # [C]
        return dict(zip(classes, cos.tolist()))

    def head_report(self, layer: int, head: int) -> dict:
        """What the inspector shows for any head: score, rank among all heads, kept or not, the
        k-th head's score, accuracy per class on the training set (None without current
        training activations), and the last input's cosines and vote (its nearest mean; None
        when its pass did not read that layer)."""
        clf = self.classifier
        if clf is None:
            raise ClassifierError(NO_CLASSIFIER)
        layer, head = int(layer), int(head)
        accuracy = self.training_accuracy(layer, head, clf.config.scoring or self.scoring)
        cosines = self.input_cosines(layer, head)
        kth, order = clf.heads[-1] if clf.heads else None, self.ranking()
        score = float(clf.head_scores[layer, head])
        return {
            "layer": layer,
            "head": head,
            "rank": order.index((layer, head)) + 1,
            "heads": len(order),
            # a k that surely keeps it: every head scoring at least as high (ties included)
            "k_to_keep": int((clf.head_scores.float() >= score).sum()),
            "selected": any((h.layer, h.head) == (layer, head) for h in clf.heads),
            "k": clf.k,
            "score": score,
            "kth_score": float(clf.head_scores[kth.layer, kth.head]) if kth else None,
            "class_accuracy": accuracy,
            "cosines": cosines,
            "vote": max(cosines, key=cosines.get) if cosines else None,
        }


__all__ = ["InspectActions", "Head", "training_memo"]
