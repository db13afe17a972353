"""A lesson in one page (issue 23): inspect any head, selected or not, see its vectors on a plane,
re-tally the last vote without some heads, see where a head looks per class, and switch heads
off inside the model. Plain functions over a `Studio`: the views read the kept training
activations, the classifier and the last classification; the two model runs
(`run_class_attention`, `run_ablation`) take a lent adapter and keep their result in the
session, so the page shows them until what they ran on changes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from savs import plots
from savs.ablation import ablation_effect
from savs.activations import ProgressFn
from savs.class_attention import class_attention
from savs.classifier import Prediction, vote
from savs.data import Example
from savs.errors import DataError
from savs.heads import HeadIndex
from savs.limits import CLASS_ATTENTION_EXAMPLES, CLASS_ATTENTION_PER_CLASS
from savs.markup import md
from savs.models.adapter import ModelAdapter
from savs.pipeline import check_compatible
from savs.text import plural

from .actions import Studio
from .inspecting import Head
from .records import AblationRun, ClassAttentionRun
from .session import check_call_text

# the inspector's numbers are Studio's (studio.inspecting); named here as the page reads them
ranking = Studio.ranking
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
    "heatmap": (
        "One cell per attention head (layer down, head across): its colour is the head's "
        "**score**, how well its output alone sorts the training examples. Ringed cells are "
        "the k heads that vote; click any cell to inspect that head."
    ),
    "k_curve": (
        "Accuracy on the training examples if the best k heads voted, for every k (with *loo* "
        "each example is left out of its own class mean). Past the knee, more heads add little."
    ),
    "attention": (
        "Where the chosen head looked from the last prompt token for this input: brighter "
        "patches and tokens got more of its attention (its weights sum to 1)."
    ),
    "vote_bars": (
        "Each bar is a class's **vote share**: the fraction of the k selected heads whose "
        "output was nearest to that class's mean (11 of 20 heads: 55%). The longest bar is the "
        "answer. It is not a calibrated confidence: a close split means the heads disagree."
    ),
    "compare": (
        "Each kept task's selected heads sit in their own corner of a cell (its colour and "
        "shape); a cell's grey counts the tasks that keep that head, and an outline marks heads "
        "two or more tasks share. **Jaccard** = shared heads / heads kept by either task of the "
        "pair."
    ),
    "class_attention": (
        "The chosen head's attention from the last prompt token, averaged over each class's "
        "training examples: does it look at different places for different classes? Hover for "
        "the mean weights."
    ),
    "ablation": (
        "The model's own answer (each label's log-probability as its reply, no SAVs) to the "
        "last input, as is, with the selected heads switched off inside the model, and with as "
        "many random heads off: if the model relies on the selected heads, only the middle "
        "column moves much."
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
    proj = studio.training_projection(layer, head)
    if proj is None:
        why = (
            "Click 'Extract' to see this head's vectors"
            if studio.classifier is None or studio.stale
            else "No training activations (imported classifier): Extract"
        )
        return plots.empty_figure(why, height=320)
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
    if len(keep) == len(clf.heads):  # every head ticked (as after each classify): its own vote
        return last.prediction
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


def retally_line(studio: Studio, ticked: Sequence[Head], p: Prediction | None) -> str:
    """One line: the re-tallied vote `p` (`retally(studio, ticked)`) beside the full one."""
    clf, last = studio.classifier, studio.last_classification
    if clf is None or last is None:
        return "Classify an input to re-tally its vote here."
    if last.vectors is None:
        return "This input's head vectors were not kept (no explained classify): Classify again."
    if p is None:
        return "Tick at least one head to count a vote."
    full = last.prediction
    line = (
        f"Without the {clf.k - len(p.head_votes)} unticked heads: **{md(p.label)}** "
        f"({p.votes[p.label]}/{len(p.head_votes)} votes); with all {clf.k}: "
        f"**{md(full.label)}** ({full.votes[full.label]}/{clf.k})"
    )
    return line + (" · the answer changed" if p.label != full.label else "")


# --- the model runs: where a head looks per class, and the answer without some heads ----------


def class_attention_examples(studio: Studio) -> tuple[list[Example], int]:
    """The training examples a class attention run averages (the first of each class, at most
    CLASS_ATTENTION_PER_CLASS each and CLASS_ATTENTION_EXAMPLES in all), and that cap."""
    by_class: dict[str, list[Example]] = {}
    for ex in studio.training_examples():
        by_class.setdefault(ex.label, []).append(ex)
    cap = max(1, min(CLASS_ATTENTION_PER_CLASS, CLASS_ATTENTION_EXAMPLES // max(len(by_class), 1)))
    return [ex for examples in by_class.values() for ex in examples[:cap]], cap


def _run_key(studio: Studio) -> tuple:
    """What a class attention run depends on besides its head: the training set and prompt the
    classifier was fitted at, and the model."""
    clf = studio.classifier
    return (studio.fitted_revision, studio.classifier_model, clf.config.prompt if clf else None)


def run_class_attention(
    studio: Studio, adapter: ModelAdapter, head: Head, progress: ProgressFn | None = None
) -> ClassAttentionRun:
    """Where `head` looks, per class: its attention averaged over (capped) training examples of
    each class, one forward pass each, kept in the session with its figure."""
    clf = studio.current_classifier()
    check_compatible(clf, adapter)
    examples, cap = class_attention_examples(studio)
    if not examples:
        raise DataError("no training examples to average: add some and click 'Extract'.")
    prompt = clf.config.prompt or None
    check_call_text(examples, prompt or "", studio.max_call_chars, "Class attention")
    start = time.perf_counter()
    per_class = class_attention(adapter, examples, head, prompt, progress)
    figure = plots.class_attention_figure(per_class)
    studio.class_attention = ClassAttentionRun(
        tuple(head), _run_key(studio), per_class, figure, cap, time.perf_counter() - start
    )
    return studio.class_attention


def class_attention_views(studio: Studio, chosen: Head | None) -> tuple[Any, str]:
    """(figure, line) of the last class attention run, when it is of the chosen head and of
    the current classifier's training set; else an empty figure saying what to click."""
    run = studio.class_attention
    if chosen is None or studio.classifier is None or studio.stale:
        return plots.empty_figure("Extract first", height=120), ""
    if run is None or run.head != tuple(chosen) or run.key != _run_key(studio):
        examples, cap = class_attention_examples(studio)
        return (
            plots.empty_figure("Click 'Where this head looks, per class'", height=120),
            f"Layer {chosen[0]}, head {chosen[1]}: the button runs the model once per "
            f"training example averaged, {len(examples)} here (at most {cap} per class).",
        )
    n = sum(a.examples for a in run.per_class.values())
    line = (
        f"Layer {run.head[0]}, head {run.head[1]}, averaged over "
        f"{plural(n, 'training example')} (at most {run.per_class_cap} per class) · "
        f"{run.seconds:.1f} s"
    )
    if not any(a.grid is not None for a in run.per_class.values()):
        line += " · tokens only (no image, or this model's image tokens do not map to patches)"
    return run.figure, line


def run_ablation(studio: Studio, adapter: ModelAdapter) -> AblationRun:
    """The model's own answer to the last classified input with the selected heads switched
    off (zeros) and with as many random heads off; another click on the same input draws
    another set of random heads (the seed counts the clicks)."""
    clf = studio.current_classifier()
    check_compatible(clf, adapter)
    last = studio.last_classification
    example = last.example() if last is not None else None
    if example is None:
        raise DataError("classify an input in this tab first: its answer is what is compared.")
    prev = studio.ablation
    seed = prev.seed + 1 if prev is not None and prev.classification is last else 0
    start = time.perf_counter()
    effect = ablation_effect(adapter, clf, example, mode="zero", seed=seed)
    studio.ablation = AblationRun(effect, last, time.perf_counter() - start, seed)
    return studio.ablation


def _heads_text(heads: Sequence[HeadIndex], most: int = 6) -> str:
    shown = ", ".join(f"L{a} H{b}" for a, b in heads[:most])
    return shown + (f" and {len(heads) - most} more" if len(heads) > most else "")


def ablation_views(studio: Studio) -> tuple[list[list], str]:
    """(table rows [label, as is, selected off, random off], line) of the last ablation run,
    while it is of the last input and the classifier's heads; else no rows and a hint."""
    run, clf, last = studio.ablation, studio.classifier, studio.last_classification
    if clf is None or last is None or studio.stale:
        return [], "Classify an input, then see the model's own answer without these heads."
    if run is None or run.classification is not last or run.effect.heads != list(clf.heads):
        return [], "Click the button to run the model on the last input with heads switched off."
    e = run.effect
    answers = e.answers()
    columns = (e.full, e.ablated, e.control)
    rows = [
        [label]
        + [f"{s[label]:.3f}" + (" ◀" if label == a else "") for s, a in zip(columns, answers)]
        for label in e.full
    ]
    k, n = len(e.heads), len(e.control_heads)

    def moved(answer: str) -> str:
        return f"**{md(answer)}**" + (" (changed)" if answer != answers[0] else " (same)")

    line = (
        f"The model's own answer: **{md(answers[0])}**; with the {k} selected heads off: "
        f"{moved(answers[1])}; "
    )
    if n:
        line += (
            f"with {plural(n, 'random head')} off ({_heads_text(e.control_heads)}, draw "
            f"{run.seed + 1}): {moved(answers[2])} · {run.seconds:.1f} s. Click again for "
            "another random draw."
        )
    else:
        line += f"no random heads to compare: every head is selected · {run.seconds:.1f} s."
    return rows, line
