"""A lesson in one page (issue 23): inspect any head, selected or not, see its vectors on a plane,
and re-tally the last vote without some heads. Plain functions over a `Studio`, model-free: they
read the kept training activations, the classifier and the last classification's head vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from savs import plots
from savs.classifier import Prediction, vote
from savs.heads import HeadIndex
from savs.markup import md
from savs.projection import head_projection

from .actions import Studio
from .inspecting import Head

# the inspector's numbers are Studio's (studio.inspecting); named here as the page reads them
ranking, training_labels, input_cosines = (
    Studio.ranking,
    Studio.training_labels,
    Studio.input_cosines,
)
input_vector, head_report = Studio.input_vector, Studio.head_report

# "what am I looking at": one plain line under each view
HELP = {
    "inspector": (
        "A head's **score** is the share of training examples whose output from this head "
        "alone is nearest (cosine) to its own class's mean; with *loo* the example is left "
        "out of that mean. The k best-scoring heads vote."
    ),
    "head_map": (
        "Each dot is one training example, as this head's output vector, flattened onto the "
        "plane that spreads them most (PCA). A good head's dots cluster by class; "
        "✕ marks a class mean, ★ the last input."
    ),
    "retally": (
        "Each ticked head votes for the class mean its output is closest to; the **vote "
        "share** is a class's votes over the ticked heads. Untick heads to see the vote "
        "without them (no model run)."
    ),
}


def grid(studio: Studio) -> tuple[int, int] | None:
    """(layers, heads) of the classifier's model."""
    clf = studio.classifier
    return None if clf is None else (int(clf.head_scores.shape[0]), int(clf.head_scores.shape[1]))


def why_line(report: dict) -> str:
    """In plain words, why this head was or was not kept."""
    rank, k, score, kth = report["rank"], report["k"], report["score"], report["kth_score"]
    where = f"rank {rank} of {report['heads']} heads; k = {k}"
    if report["selected"]:
        return f"**Kept**: {where}, and the {k} best-scoring heads vote (score {score:.3f})."
    if kth is not None and score >= kth:
        return (
            f"**Not kept**: {where}. Its score {score:.3f} ties the {k}-th head's "
            f"({kth:.3f}); the tie-break (mean cosine margin, then index) went to the kept "
            f"heads. k = {report['k_to_keep']} would keep it."
        )
    return (
        f"**Not kept**: {where}. Its score {score:.3f} is below the {k}-th head's "
        f"({kth:.3f}); k = {report['k_to_keep']} would keep it."
    )


def head_map(studio: Studio, layer: int, head: int) -> Any:
    """The head's training vectors on its PCA plane, coloured by class, the input as a star."""
    labels = training_labels(studio)
    if labels is None:
        why = (
            "Click 'Extract' to see this head's vectors"
            if studio.classifier is None or studio.stale
            else "No training activations (imported classifier): Extract"
        )
        return plots.empty_figure(why, height=320)
    proj = head_projection(studio.activations, labels, (layer, head))
    vec = input_vector(studio, layer, head)
    star = proj.place(vec[None])[0] if vec is not None else None
    texts = [ex.text for ex in studio.training_examples()]
    return plots.head_map_figure(proj, texts, star, f"Layer {layer}, head {head}")


def retally(studio: Studio, ticked: Sequence[Head]) -> Prediction | None:
    """The last input's vote by the ticked selected heads only (its kept vectors and the
    classifier's class means: no model run). None without an explained input or ticked heads."""
    clf, last = studio.classifier, studio.last_classification
    if clf is None or last is None or last.vectors is None or studio.stale:
        return None
    if max(h.layer for h in clf.heads) >= last.vectors.shape[0]:  # not this classifier's pass
        return None
    keep = [i for i, h in enumerate(clf.heads) if (h.layer, h.head) in set(ticked)]
    if not keep:
        return None
    selected = clf.selected_activations(last.vectors[None])[:, keep]  # [1, K', d]
    winner, head_votes, counts = vote(selected, clf.means[keep])
    votes = dict(zip(clf.labels, counts[0].tolist()))
    heads = [HeadIndex(clf.heads[i].layer, clf.heads[i].head) for i in keep]
    return Prediction(
        label=clf.labels[int(winner[0])],
        votes=votes,
        probabilities={lab: v / len(keep) for lab, v in votes.items()},
        head_votes=[(h, clf.labels[c]) for h, c in zip(heads, head_votes[0].tolist())],
    )


def retally_line(studio: Studio, ticked: Sequence[Head]) -> str:
    """One line: the re-tallied vote beside the full one."""
    clf, last = studio.classifier, studio.last_classification
    if clf is None or last is None:
        return "Classify an input to re-tally its vote here."
    if last.vectors is None:
        return "This input's head vectors were not kept (no explained classify): Classify again."
    p = retally(studio, ticked)
    if p is None:
        return "Tick at least one head to count a vote."
    full = last.prediction
    line = (
        f"Without the {clf.k - len(p.head_votes)} unticked heads: **{md(p.label)}** "
        f"({p.votes[p.label]}/{len(p.head_votes)} votes); with all {clf.k}: "
        f"**{md(full.label)}** ({full.votes[full.label]}/{clf.k})"
    )
    return line + (" · the answer changed" if p.label != full.label else "")
