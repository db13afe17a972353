"""Compare tasks: a session keeps up to MAX_KEPT_CLASSIFIERS fitted classifiers by name, so
loading a second task no longer wipes the first, and draws their selected heads on one grid
with a table of the heads each pair shares (`savs.overlap.head_overlap`).

Why apart (and model-free): the rules are the session's (a name, at most four, one model grid,
counted in its memory) and are tested without gradio; the page draws what `compare_parts`
returns. A kept classifier is small, its class means and head scores only: no activations.
"""

from __future__ import annotations

import dataclasses

from savs import plots
from savs.classifier import SAVClassifier
from savs.data import clean_text
from savs.errors import DataError
from savs.limits import MAX_KEPT_CLASSIFIERS, MAX_LABEL_CHARS
from savs.markup import md
from savs.overlap import grid_of, head_overlap
from savs.text import plural

from .session import Session

NONE_KEPT = (
    "No task kept yet: fit a classifier, then 'Keep for comparison'; load another task, "
    "fit it and keep it too."
)


def _where(clf: SAVClassifier) -> str:
    layers, heads = grid_of(clf)
    return f"{clf.config.model or '?'} ({layers} layers x {heads} heads)"


class CompareActions(Session):
    """Keeping classifiers for comparison (a part of `studio.actions.Studio`)."""

    def keep_classifier(self, name: str = "") -> str:
        """Keep the current classifier under `name` (default: the loaded task's name); the same
        name again replaces that one. Refused: a fifth, or one of another model grid than the
        kept ones (their heads would name different heads). Returns what happened, in words."""
        clf = self.current_classifier()
        name = clean_text(name, "the name", MAX_LABEL_CHARS) or self.task or self._next_name()
        kept = self.kept
        if kept:
            first = next(iter(kept.values()))
            if grid_of(first) != grid_of(clf):
                raise DataError(
                    f"the kept classifiers read {_where(first)}; this one reads {_where(clf)}. "
                    "Heads of different models cannot be compared: remove the kept ones first."
                )
        if name not in kept and len(kept) >= MAX_KEPT_CLASSIFIERS:
            raise DataError(
                f"at most {MAX_KEPT_CLASSIFIERS} classifiers are kept for comparison "
                f"({', '.join(map(repr, kept))}): remove one first."
            )
        replaced = name in kept
        # the means and scores only: the k curve and margins belong to refits of the session
        self.kept = {**kept, name: dataclasses.replace(clf, k_curve=None, head_margins=None)}
        return f"{'Replaced' if replaced else 'Kept'} {name!r} ({plural(clf.k, 'head')})."

    def remove_kept(self, name: str) -> str:
        if name not in self.kept:
            raise DataError(f"no kept classifier named {name!r}.")
        self.kept = {n: c for n, c in self.kept.items() if n != name}
        return f"Removed {name!r}."

    def _next_name(self) -> str:
        n = len(self.kept) + 1
        while f"classifier {n}" in self.kept:
            n += 1
        return f"classifier {n}"


def compare_parts(session: CompareActions) -> tuple[str, object, list[list], list[str]]:
    """(line, overlay figure, overlap rows, kept names) of the session's kept classifiers."""
    kept = session.kept
    if not kept:
        return NONE_KEPT, plots.empty_figure("Keep two fitted tasks to compare their heads"), [], []
    names = ", ".join(f"**{md(n)}** ({c.k})" for n, c in kept.items())
    line = f"Kept: {names} · all on {md(_where(next(iter(kept.values()))))}."
    clf = session.classifier
    if clf is not None and grid_of(clf) != grid_of(next(iter(kept.values()))):
        line += (
            f"\n\nThe current classifier reads {md(_where(clf))}: another model grid, so it cannot "
            "join them (remove them all to compare tasks of this model)."
        )
    rows = plots.overlap_rows(head_overlap(kept)) if len(kept) > 1 else []
    if len(kept) == 1:
        line += " Keep another task to see the heads they share."
    return line, plots.tasks_figure(kept, "Heads each kept task selects"), rows, list(kept)


__all__ = ["CompareActions", "compare_parts", "NONE_KEPT"]
