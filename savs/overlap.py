"""Comparing tasks by the heads they select: does colour live where shape lives?

Two classifiers fitted on the same model read the same grid of heads, so the heads they share
are a plain set intersection of their selected heads. Classifiers of models with different
layer x head grids are refused: their indices would name different heads.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations

from .classifier import SAVClassifier
from .errors import ClassifierError


def grid_of(clf: SAVClassifier) -> tuple[int, int]:
    """(layers, heads) of the model a classifier was fitted on."""
    return int(clf.config.num_layers or 0), int(clf.config.num_heads or 0)


def one_grid(classifiers: Mapping[str, SAVClassifier]) -> tuple[int, int]:
    """The one layer x head grid every classifier reads; refused when they read different
    models (their head indices would name different heads)."""
    grids = {name: grid_of(clf) for name, clf in classifiers.items()}
    if len(set(grids.values())) > 1:
        shapes = ", ".join(f"{name}: {lay} layers x {h} heads" for name, (lay, h) in grids.items())
        raise ClassifierError(
            f"these classifiers read different models ({shapes}): heads can only be compared "
            "between classifiers of one model"
        )
    return next(iter(grids.values()), (0, 0))


def head_overlap(classifiers: Mapping[str, SAVClassifier]) -> dict:
    """Shared heads of every pair and the layers each classifier reads.

    Returns {"classifiers": {name: {"k", "heads", "layers"}}, "pairs": [{"a", "b", "shared",
    "jaccard"}]}: heads as [layer, head] in the classifier's order, layers ascending, shared heads
    sorted, jaccard = |A & B| / |A | B|. Needs at least two classifiers of one model grid.
    """
    if len(classifiers) < 2:
        raise ClassifierError("compare needs at least two classifiers")
    one_grid(classifiers)
    sets = {name: {tuple(h) for h in clf.heads} for name, clf in classifiers.items()}
    pairs = []
    for a, b in combinations(classifiers, 2):
        shared = sorted(sets[a] & sets[b])
        union = sets[a] | sets[b]
        pairs.append(
            {
                "a": a,
                "b": b,
                "shared": [list(h) for h in shared],
                "jaccard": len(shared) / len(union) if union else 0.0,
            }
        )
    return {
        "classifiers": {
            name: {
                "k": clf.k,
                "heads": [[h.layer, h.head] for h in clf.heads],
                "layers": sorted({h.layer for h in clf.heads}),
            }
            for name, clf in classifiers.items()
        },
        "pairs": pairs,
    }
