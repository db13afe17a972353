"""Inspect any head of the classifier, selected or not (a part of `studio.actions.Studio`):
its rank among all heads, its accuracy per class on the kept training activations, and the last
input's cosines with its class means. Model-free: it reads what extract and classify kept."""

from __future__ import annotations

import torch

from savs.classifier import class_sums, encode_labels, head_cosines
from savs.errors import ClassifierError
from savs.explanation import head_class_accuracy

from .session import NO_CLASSIFIER, Session

Head = tuple[int, int]


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
        labels = self.training_labels()
        accuracy = (
            head_class_accuracy(
                self.activations, labels, (layer, head), clf.config.scoring or self.scoring
            )
            if labels is not None
            else None
        )
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


__all__ = ["InspectActions", "Head"]
