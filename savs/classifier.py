"""The SAVs classifier: score heads, keep the top k, vote.

Everything here works on activation tensors, never on a model, so it is fast (refitting with
another k or scoring takes milliseconds) and unit-testable on hand-made numbers. Saving and
loading a classifier (safetensors + JSON) is savs.artifact's job.

Shapes: N examples, L layers, H heads per layer, d = head_dim, C classes, K selected heads,
M = L * H heads in all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import artifact
from .artifact import CONFIG_FILE, FORMAT, FORMAT_VERSION, TENSORS_FILE  # their old home
from .data import check_labels
from .limits import Limits
from .types import (
    SCORINGS,
    ClassifierData,
    FitConfig,
    HeadCount,
    HeadIndex,
    KCurve,
    Prediction,
    Scoring,
    class_order,
)

_EPS = 1e-12
# A head gets credit for an example only when the own class is nearer by more than float noise:
# an uninformative head (same vector for every input) has all cosines equal up to rounding, and
# rounding in the leave-one-out formula favours the own class, which made such heads score 1.0.
_TIE_TOL = 1e-5


# ---------------------------------------------------------------------------------------------
# Head scoring


def class_sums(
    acts: torch.Tensor, y: torch.Tensor, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class sums [C, *acts.shape[1:]] and counts [C] (a mean's direction is its sum's)."""
    # one matrix product with the one-hot labels [C, N]: a single pass over the activations,
    # several times faster on a CPU than index_add_ (which scatters row by row)
    one_hot = torch.nn.functional.one_hot(y, num_classes).T.to(acts.dtype)  # [C, N]
    sums = (one_hot @ acts.reshape(acts.shape[0], -1)).reshape(num_classes, *acts.shape[1:])
    counts = torch.bincount(y, minlength=num_classes)
    return sums, counts


def class_cosines(
    acts: torch.Tensor, y: torch.Tensor, num_classes: int, scoring: Scoring = "loo"
) -> torch.Tensor:
    """Cosine of every example with every class mean, per head: [N, M, C] from acts [N, M, d].

    With "loo" the example's own class mean leaves the example out (computed from dot products,
    without copying the activations); with "reference" it stays in, as in the published code.
    """
    if scoring not in SCORINGS:
        raise ValueError(f"scoring must be one of {SCORINGS}, got {scoring!r}")
    sums, _ = class_sums(acts, y, num_classes)  # [C, M, d]
    a_norm = acts.norm(dim=-1)  # [N, M]
    s_norm = sums.norm(dim=-1)  # [C, M]
    dots = torch.einsum("nmd,cmd->nmc", acts, sums)  # [N, M, C]
    cos = dots / (a_norm[..., None] * s_norm.T[None]).clamp_min(_EPS)
    if scoring == "loo":
        idx = y[:, None, None].expand(-1, acts.shape[1], 1)  # [N, M, 1]
        own_dot = dots.gather(2, idx).squeeze(2)  # a . S_own  [N, M]
        own_s_norm = s_norm.T[None].expand_as(dots).gather(2, idx).squeeze(2)  # [N, M]
        loo_dot = own_dot - a_norm**2  # a . (S_own - a)
        loo_norm = (own_s_norm**2 - 2 * own_dot + a_norm**2).clamp_min(0).sqrt()
        loo_cos = loo_dot / (a_norm * loo_norm).clamp_min(_EPS)
        cos = cos.scatter(2, idx, loo_cos[..., None])
    return cos


def example_margins(
    acts: torch.Tensor, y: torch.Tensor, num_classes: int, scoring: Scoring = "loo"
) -> torch.Tensor:
    """Per example and head, its own class's cosine minus the best other class's: [N, M] from
    acts [N, M, d]. See `counts_as_correct`."""
    return margins_from_cosines(class_cosines(acts, y, num_classes, scoring), y)  # [N, M]


def margins_from_cosines(cos: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Own-class cosine minus the best other class's, [N, M], from cosines [N, M, C]."""
    own = cos.gather(2, y[:, None, None].expand(-1, cos.shape[1], 1)).squeeze(2)  # [N, M]
    others = cos.scatter(2, y[:, None, None].expand(-1, cos.shape[1], 1), float("-inf"))
    return own - others.amax(dim=2)  # [N, M]


def counts_as_correct(margin: torch.Tensor) -> torch.Tensor:
    """Where a head gets an example right: its own class mean strictly nearest, by more than
    float noise (bool, same shape as `margin`). A head's score is the mean over examples."""
    return margin > _TIE_TOL


def score_heads(
    acts: torch.Tensor, y: torch.Tensor, num_classes: int, scoring: Scoring = "loo"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Score every head: the fraction of examples whose nearest class mean (cosine) is their own
    class, and the mean margin (own cosine minus the best other), for tie-breaks. A tie (within
    float noise) counts as wrong, so a head that cannot tell the classes apart scores 0.

    acts: [N, L, H, d]; y: [N] class indices. Returns (score [L, H], margin [L, H]).
    """
    n, num_layers, num_heads, d = acts.shape
    flat = acts.reshape(n, num_layers * num_heads, d).float()  # [N, M, d]
    cos = class_cosines(flat, y, num_classes, scoring)  # [N, M, C]
    score, margin = _scores_from_cosines(cos, y)  # [M], [M]
    return score.reshape(num_layers, num_heads), margin.reshape(num_layers, num_heads)


def _scores_from_cosines(cos: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`score_heads` from the cosines [N, M, C] it computed: (score [M], mean margin [M])."""
    margin = margins_from_cosines(cos, y)  # [N, M]
    correct = counts_as_correct(margin).float()  # [N, M]: own class strictly nearest
    # a head with NaN / inf outputs (fp16 overflow) ranks last, not at a random place in the sort
    mean_margin = margin.mean(0).nan_to_num(nan=float("-inf"))
    return correct.mean(0), mean_margin


def select_heads(score: torch.Tensor, margin: torch.Tensor, k: int) -> list[HeadIndex]:
    """Top-k heads: by score, then mean margin, then (layer, head) index. Deterministic."""
    num_layers, num_heads = score.shape
    k = max(1, min(int(k), num_layers * num_heads))
    s, m = score.flatten().tolist(), margin.flatten().tolist()
    order = sorted(range(len(s)), key=lambda j: (-s[j], -m[j], j))[:k]
    return [HeadIndex(j // num_heads, j % num_heads) for j in order]


def gather_heads(acts: torch.Tensor, heads: Sequence[HeadIndex]) -> torch.Tensor:
    """[N, L', H, d] -> the listed heads' activations [N, K, d]. index_select over the flattened
    heads (a view of contiguous acts) reads only K rows per example: much faster than advanced
    indexing acts[:, layers, heads] on a large tensor."""
    flat = torch.tensor([h.layer * acts.shape[2] + h.head for h in heads])  # [K]
    return acts.flatten(1, 2).index_select(1, flat)


# ---------------------------------------------------------------------------------------------
# Voting


def head_cosines(selected: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """Cosine of each selected head's activation with each of its class means: [N, K, C] from
    selected [N, K, d] and means [K, C, d]. A head votes for its largest."""
    selected = selected.float()
    cos = torch.einsum("nkd,kcd->nkc", selected, means)  # [N, K, C]
    return cos / (selected.norm(dim=-1)[..., None] * means.norm(dim=-1)[None]).clamp_min(_EPS)


def vote(
    selected: torch.Tensor, means: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Majority vote of the selected heads.

    selected: [N, K, d] activations of the K heads; means: [K, C, d] class means.
    Returns (winner [N], head_votes [N, K], votes per class [N, C]). A vote tie goes to the class
    with the larger summed cosine over all K heads, then to the lower class index.
    """
    cos = head_cosines(selected, means)  # [N, K, C]
    head_votes = cos.argmax(dim=2)  # [N, K]
    num_classes = means.shape[1]
    counts = torch.nn.functional.one_hot(head_votes, num_classes).sum(1)  # [N, C]
    tied = counts == counts.amax(dim=1, keepdim=True)  # [N, C]
    tie_break = cos.sum(1).masked_fill(~tied, float("-inf"))  # [N, C]
    return tie_break.argmax(dim=1), head_votes, counts


# ---------------------------------------------------------------------------------------------
# How many heads: training accuracy for every k at once

AUTO_TOLERANCE = 0.01  # "auto" keeps the fewest heads within one point of the best accuracy
_CURVE_CHUNK = 1 << 20  # cosines per chunk of examples: a few MB, so each step stays in cache


def _curve_from_cosines(cos: torch.Tensor, y: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Accuracy [M] of the vote of the first k heads of `order`, for k = 1 .. M, from every
    head's cosine with every class mean [N, M, C]: each head votes for its nearest class, votes
    add up over k, ties go to the larger summed cosine, then the lower class index (as `vote`).
    One pass of cumulative sums over the ranked heads instead of M separate votes."""
    n, m, c = cos.shape
    correct = torch.zeros(m, dtype=torch.int64, device=cos.device)
    count_dtype = torch.int16 if m < 2**15 else torch.int32  # vote counts up to M
    step = max(1, _CURVE_CHUNK // max(1, m * c))
    for start in range(0, n, step):
        ranked = cos[start : start + step].index_select(1, order)  # [n', M, C]
        ballots = torch.zeros_like(ranked, dtype=count_dtype)
        ballots.scatter_(2, ranked.argmax(dim=2, keepdim=True), 1)  # [n', M, C] one vote a head
        counts = ballots.cumsum(dim=1, dtype=count_dtype)  # [n', M, C]: votes of the first k
        behind = counts < counts.amax(dim=2, keepdim=True)  # not among the most voted
        summed = ranked.cumsum(dim=1).masked_fill_(behind, float("-inf"))  # [n', M, C]
        winner = summed.argmax(dim=2)  # [n', M]
        correct += (winner == y[start : start + step, None]).sum(0)
    return correct.float() / n  # float32, as the fit's train_accuracy


def _ranked_curve(
    acts: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    scoring: Scoring,
    scores: tuple[torch.Tensor, torch.Tensor] | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(accuracy for k = 1 .. M [M], score [L, H], margin [L, H]); the cosines are computed once
    and serve both the head scores (unless given) and the curve."""
    n, num_layers, num_heads, d = acts.shape
    flat = acts.reshape(n, num_layers * num_heads, d).float()  # [N, M, d]
    cos = class_cosines(flat, y, num_classes, scoring)  # [N, M, C]
    if scores is None:
        score, margin = (t.reshape(num_layers, num_heads) for t in _scores_from_cosines(cos, y))
    else:
        score, margin = scores
    heads = select_heads(score, margin, num_layers * num_heads)  # every head, best first
    order = torch.tensor([h.layer * num_heads + h.head for h in heads], device=cos.device)  # [M]
    return _curve_from_cosines(cos, y, order), score, margin


def k_curve(
    acts: torch.Tensor,
    labels: Sequence[str],
    scoring: Scoring = "loo",
    scores: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> list[tuple[int, float]]:
    """Training accuracy of the classifier `fit_activations` would make with k heads, for every
    k from 1 to L * H: [(k, accuracy), ...]. With "loo" each example is classified by class means
    that leave it out (leave-one-out accuracy); with "reference" by the full means (the
    `train_accuracy` a fit reports). Heads are taken in `select_heads` order, ranked on every
    example as the fit ranks them (only the class means leave the example out), so the curve
    shows what choosing k costs or gains. `scores` as in `fit_activations`.

    acts: [N, L, H, d]; labels: one per example.
    """
    classes, y = _class_indices(acts, labels, scoring, scores)
    accuracy, _, _ = _ranked_curve(acts, y, len(classes), scoring, scores)
    return _as_curve(accuracy)


def _as_curve(accuracy: torch.Tensor) -> KCurve:
    """[(k, accuracy), ...] from the accuracy of k = 1 .. M heads [M]."""
    return list(enumerate(accuracy.tolist(), start=1))


def auto_k(curve: Sequence[tuple[int, float]], tolerance: float = AUTO_TOLERANCE) -> int:
    """The smallest k whose accuracy is within `tolerance` of the best on the curve: fewer heads
    (faster, easier to read) for at most one point of training accuracy."""
    if not curve:
        raise ValueError("the k curve is empty")
    best = max(acc for _, acc in curve)
    return min(k for k, acc in curve if acc >= best - tolerance - 1e-9)


# ---------------------------------------------------------------------------------------------
# The classifier


@artifact.builds_by_default
@dataclass
class SAVClassifier(ClassifierData):
    """Class means of the selected heads, plus what is needed to use and explain them (the
    fields: `types.ClassifierData`; `config` is a typed `types.FitConfig`). Not saved, what
    the fit knew: `k_curve`, the k curve from its own cosines as `k_curve()` returns it (None
    after a refit from given scores); `head_margins` [L, H], every head's mean margin, so that
    (head_scores, head_margins) are the `scores` a refit with another k reuses. Both are None
    for a loaded classifier."""

    k_curve: KCurve | None = field(default=None, compare=False, repr=False)
    head_margins: torch.Tensor | None = field(default=None, compare=False, repr=False)

    def selected_activations(self, acts: torch.Tensor) -> torch.Tensor:
        """The selected heads' activations: [N, L', H, d] (L' may stop after the deepest
        selected layer) -> [N, K, d], in the order of `heads` and `means`."""
        return gather_heads(acts, self.heads)

    def predict_activations(self, acts: torch.Tensor) -> list[Prediction]:
        """Classify from activations [N, L', H, d]."""
        winner, head_votes, counts = vote(self.selected_activations(acts), self.means)
        total = max(self.k, 1)
        out = []
        # plain lists: indexing a tensor per (example, class) took 45 s for 2,000 x 1,000 classes
        winner, head_votes, counts = winner.tolist(), head_votes.tolist(), counts.tolist()
        for i in range(acts.shape[0]):
            votes = dict(zip(self.labels, counts[i]))
            out.append(
                Prediction(
                    label=self.labels[winner[i]],
                    votes=votes,
                    probabilities={lab: v / total for lab, v in votes.items()},
                    head_votes=[(h, self.labels[c]) for h, c in zip(self.heads, head_votes[i])],
                )
            )
        return out

    # --- saving and loading: savs.artifact (safetensors + JSON only, never pickle) ----------
    # savs.artifact knows only types.ClassifierData; `builds_by_default` names this class to it

    def save(self, path: str | Path) -> Path:
        """Save to a folder, or to a .zip when `path` ends in .zip (`artifact.save_classifier`)."""
        return artifact.save_classifier(self, path)

    @staticmethod
    def check_save_target(path: str | Path) -> Path:
        """Refuse, before any work, a place `save` could not write (`artifact.check_save_target`).
        Returns the path."""
        return artifact.check_save_target(path)

    @classmethod
    def load(
        cls, path: str | Path, limits: Limits | None = None, require_model: bool = False
    ) -> SAVClassifier:
        """Load a folder or .zip written by `save`, validating every field and shape
        (`artifact.load_classifier`: what `limits` and `require_model` bound)."""
        return artifact.load_classifier(path, limits, require_model, cls=cls)


def encode_labels(
    labels: Sequence[str], classes: Sequence[str] | None = None, unknown: int | None = None
) -> tuple[list[str], torch.Tensor]:
    """The one label-to-index encoding (fit, k curve, baselines, explanations, projections):
    the classes (given, else `types.class_order(labels)`) and each label's class index [N].
    A label outside the classes is a KeyError, or gets index `unknown` when one is given."""
    classes = class_order(labels) if classes is None else list(classes)
    index = {c: i for i, c in enumerate(classes)}
    if unknown is None:
        codes = [index[lab] for lab in labels]
    else:
        codes = [index.get(lab, unknown) for lab in labels]
    return classes, torch.tensor(codes, dtype=torch.int64)


def _class_indices(
    acts: torch.Tensor,
    labels: Sequence[str],
    scoring: Scoring,
    scores: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[list[str], torch.Tensor]:
    """Classes in order of first appearance and each example's class index [N], after checking
    that the activations, labels and reused scores fit together and that the scoring can use
    them (`data.check_labels`: the training-set rule the app and the CLI check early)."""
    if acts.ndim != 4 or acts.shape[0] != len(labels):
        raise ValueError(
            f"need activations [N, L, H, d] with N = {len(labels)} labels, got {list(acts.shape)}"
        )
    if scores is not None and tuple(scores[0].shape) != tuple(acts.shape[1:3]):
        raise ValueError(
            f"scores have shape {list(scores[0].shape)}, expected [L, H] = {list(acts.shape[1:3])}"
        )
    check_labels(labels, leave_one_out=scoring == "loo")
    return encode_labels(labels)


def fit_activations(
    acts: torch.Tensor,
    labels: Sequence[str],
    k: HeadCount = 20,
    scoring: Scoring = "loo",
    config: FitConfig | dict | None = None,
    scores: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> SAVClassifier:
    """Fit from activations [N, L, H, d] and one label per example. No model is run.

    Head scores do not depend on k, and computing them reads every activation (a full pass over
    N * L * H * d numbers: seconds for a 7B-sized model on a CPU). To refit with another k, pass
    `scores`: the (score, margin) that `score_heads` returned for these same activations, labels
    (classes numbered in order of first appearance) and scoring; only the top-k heads are then
    read (milliseconds).

    k="auto" keeps the fewest heads whose training accuracy (leave-one-out with "loo") is within
    one point of the best over every k (`k_curve`, `auto_k`).

    The classifier's `k_curve` is the k curve (as `k_curve()` returns it) from the cosines the
    head scores came from: one pass over the activations gives both. With `scores` and a fixed
    k no cosines are computed, and `k_curve` is None.
    """
    classes, y = _class_indices(acts, labels, scoring, scores)
    curve: KCurve | None = None
    auto = isinstance(k, str) and k == "auto"
    if scores is None or auto:
        accuracy, score, margin = _ranked_curve(acts, y, len(classes), scoring, scores)
        curve = _as_curve(accuracy)
    else:
        score, margin = scores
    if auto:
        k = auto_k(curve)
    heads = select_heads(score, margin, k)
    _, num_layers, num_heads, d = acts.shape
    selected = gather_heads(acts, heads).float()  # [N, K, d]
    sums, counts = class_sums(selected, y, len(classes))  # [C, K, d]
    means = (sums / counts[:, None, None]).transpose(0, 1).contiguous()  # [K, C, d]
    config = FitConfig.of(config)  # a copy: the caller's stays as it was
    config.k, config.scoring = len(heads), scoring
    config.num_layers, config.num_heads, config.head_dim = num_layers, num_heads, d
    winner, _, _ = vote(selected, means)  # [N]; no Prediction objects: N can be thousands
    config.train_accuracy = float((winner == y).float().mean())
    return SAVClassifier(
        labels=classes,
        heads=heads,
        means=means,
        head_scores=score,
        config=config,
        k_curve=curve,
        head_margins=margin,
    )


__all__ = [
    "Scoring",
    "SCORINGS",
    "HeadCount",
    "KCurve",
    "FitConfig",
    "FORMAT",
    "FORMAT_VERSION",
    "TENSORS_FILE",
    "CONFIG_FILE",
    "SAVClassifier",
    "Prediction",
    "class_cosines",
    "score_heads",
    "select_heads",
    "vote",
    "k_curve",
    "encode_labels",
    "auto_k",
    "fit_activations",
    "head_cosines",
    "example_margins",
    "counts_as_correct",
]
