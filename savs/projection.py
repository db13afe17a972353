"""A head's output vectors on a plane: the picture behind SAVs (a good head's vectors cluster by
class).

`head_projection` fits a 2-D PCA on one head's training activations and places every training
example, each class mean and (optionally) new inputs in it. PCA, not t-SNE or UMAP: it is
deterministic, needs no extra package, and distances along its axes are real distances.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .classifier import encode_labels
from .errors import SavsError
from .heads import HeadIndex


@dataclass
class HeadProjection:
    """One head's training activations in its own 2-D PCA plane.

    points: [N, 2], one per training example; labels: theirs; classes: in first-seen order;
    means: [C, 2], each class mean's place; center [d] and axes [2, d] turn any activation of this
    head into the plane (`place`); explained: the share of variance each axis carries.
    """

    head: HeadIndex
    points: torch.Tensor
    labels: list[str]
    classes: list[str]
    means: torch.Tensor
    center: torch.Tensor
    axes: torch.Tensor
    explained: tuple[float, float]

    def place(self, vectors: torch.Tensor) -> torch.Tensor:
        """[M, d] activations of this head (or [M, L, H, d] whole activations) -> [M, 2]."""
        if vectors.ndim == 4:
            vectors = vectors[:, self.head.layer, self.head.head]
        return (vectors.float() - self.center) @ self.axes.T


def head_projection(
    acts: torch.Tensor, labels: Sequence[str], head: HeadIndex | tuple[int, int]
) -> HeadProjection:
    """PCA of head `head`'s vectors over the training set. acts: [N, L, H, d]; labels: N."""
    if acts.ndim != 4 or acts.shape[0] != len(labels):
        raise SavsError(
            f"need activations [N, L, H, d] with N = {len(labels)} labels, got {list(acts.shape)}"
        )
    layer, h = int(head[0]), int(head[1])
    if not (0 <= layer < acts.shape[1] and 0 <= h < acts.shape[2]):
        raise SavsError(f"head ({layer}, {h}) is outside {acts.shape[1]} x {acts.shape[2]} heads")
    x = acts[:, layer, h].float()  # [N, d]
    center = x.mean(0)
    # thin SVD of the centred [N, d] matrix: right singular vectors are the principal axes
    _, s, vh = torch.linalg.svd(x - center, full_matrices=False)
    axes = torch.zeros(2, x.shape[1])
    axes[: min(2, vh.shape[0])] = vh[:2]
    # a sign convention, so the same data always draws the same way round
    flip = torch.sign(axes[torch.arange(2), axes.abs().argmax(1)])
    axes = axes * torch.where(flip == 0, torch.ones_like(flip), flip)[:, None]
    variance = s.square()
    total = float(variance.sum()) or 1.0
    explained = tuple(float(v) / total for v in torch.cat([variance, torch.zeros(2)])[:2])
    classes, index = encode_labels(labels)  # index: [N]
    points = (x - center) @ axes.T  # [N, 2]
    means = torch.stack([points[index == c].mean(0) for c in range(len(classes))])  # [C, 2]
    return HeadProjection(
        head=HeadIndex(layer, h),
        points=points,
        labels=list(labels),
        classes=classes,
        means=means,
        center=center,
        axes=axes,
        explained=explained,
    )
