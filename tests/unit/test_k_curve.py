"""How many heads: the k curve (training accuracy for every k in one vectorised pass) agrees
with fitting at each k and measuring the accuracy the slow way; `auto_k` and k="auto"."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from savs.classifier import auto_k, encode_labels, fit_activations, k_curve, score_heads
from savs.errors import DataError

pytestmark = pytest.mark.unit


def random_task(
    seed: int, n_per_class: int = 5, classes: int = 3, layers: int = 3, heads: int = 4, d: int = 6
) -> tuple[torch.Tensor, list[str]]:
    """Activations [N, L, H, d] where each head separates the classes to its own degree (some
    not at all), so the accuracy moves with k, and even k gives vote ties."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(classes).repeat_interleave(n_per_class)  # [N]
    centres = torch.randn(classes, layers, heads, d, generator=gen)  # [C, L, H, d]
    strength = torch.rand(layers, heads, 1, generator=gen) * 2  # [L, H, 1]
    acts = torch.randn(len(y), layers, heads, d, generator=gen) + strength * centres[y]
    perm = torch.randperm(len(y), generator=gen)
    return acts[perm], [f"c{int(c)}" for c in y[perm]]


def slow_accuracy(acts: torch.Tensor, labels: list[str], k: int, scoring: str) -> float:
    """Fit with k heads and count right answers on the training set: with "reference" the fit's
    own accuracy; with "loo" refit without each example in turn (same heads) and classify it."""
    if scoring == "reference":
        return fit_activations(acts, labels, k, "reference").config["train_accuracy"]
    classes = list(dict.fromkeys(labels))
    y = torch.tensor([classes.index(lab) for lab in labels])
    scores = score_heads(acts, y, len(classes), "loo")  # heads ranked on every example
    right = 0
    for i in range(len(labels)):
        keep = [j for j in range(len(labels)) if j != i]
        clf = fit_activations(acts[keep], [labels[j] for j in keep], k, "reference", scores=scores)
        right += clf.predict_activations(acts[i : i + 1])[0].label == labels[i]
    return float(torch.tensor(right).float() / len(labels))  # float32, as fit's train_accuracy


@pytest.mark.parametrize("scoring", ["loo", "reference"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_k_curve_agrees_with_fitting_each_k(seed, scoring):
    acts, labels = random_task(seed)
    curve = k_curve(acts, labels, scoring)
    assert [k for k, _ in curve] == list(range(1, 13))  # every k from 1 to L * H
    for k in (1, 2, 3, 4, 7, 12):
        assert curve[k - 1][1] == slow_accuracy(acts, labels, k, scoring), k


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    classes=st.integers(2, 4),
    k=st.integers(1, 12),
    scoring=st.sampled_from(["loo", "reference"]),
)
def test_k_curve_property(seed, classes, k, scoring):
    acts, labels = random_task(seed, n_per_class=3, classes=classes)
    assert k_curve(acts, labels, scoring)[k - 1][1] == slow_accuracy(acts, labels, k, scoring)


def test_k_curve_reuses_given_scores():
    acts, labels = random_task(5)
    y = torch.tensor([int(lab[1:]) for lab in labels])
    scores = score_heads(acts, y, 3, "reference")
    assert k_curve(acts, labels, "reference", scores=scores) == k_curve(acts, labels, "reference")
    # reversed scores rank the worst heads first: the curve follows the ranking it is given
    flipped = (-scores[0], -scores[1])
    curve = k_curve(acts, labels, "reference", scores=flipped)
    for k in (1, 3):
        fitted = fit_activations(acts, labels, k, "reference", scores=flipped)
        assert curve[k - 1][1] == fitted.config["train_accuracy"]
    assert curve[0][1] < k_curve(acts, labels, "reference")[0][1]


def test_k_curve_chunks_give_the_same_curve(monkeypatch):
    from savs import classifier

    acts, labels = random_task(3)
    whole = k_curve(acts, labels)
    monkeypatch.setattr(classifier, "_CURVE_CHUNK", 30)  # a couple of examples per chunk
    assert k_curve(acts, labels) == whole


def test_k_curve_vote_tie_goes_to_the_larger_summed_cosine():
    # 1 layer x 2 heads, d = 2, classes a (2 examples) and b (3). Head 0 separates perfectly.
    # Head 1 puts b3 = (1, 0.2) nearer a's mean (cos 0.98 vs 0.59). With k = 2, b3's votes tie
    # 1-1 and the summed cosine must decide: b (1 + 0.59) beats a (0 + 0.98), so accuracy 1.0;
    # giving the tie to the lower class index would make it 0.8.
    acts = torch.zeros(5, 1, 2, 2)
    acts[:, 0, 0] = torch.tensor([(1, 0), (1, 0), (0, 1), (0, 1), (0, 1)])
    acts[:, 0, 1] = torch.tensor([(1, 0), (1, 0), (0, 1), (0, 1), (1, 0.2)])
    labels = ["a", "a", "b", "b", "b"]
    assert k_curve(acts, labels, "reference") == [(1, 1.0), (2, 1.0)]
    assert fit_activations(acts, labels, 2, "reference").config["train_accuracy"] == 1.0


def test_k_curve_refuses_what_fitting_refuses():
    acts, labels = random_task(0)
    with pytest.raises(DataError, match="single example"):
        k_curve(acts[:4], ["x", "x", "y", "z"], "loo")
    with pytest.raises(ValueError, match="N = 3 labels"):
        k_curve(acts, labels[:3])


def test_auto_k_takes_the_fewest_heads_within_one_point():
    curve = [(1, 0.50), (2, 0.80), (3, 0.985), (4, 0.99), (5, 1.0), (6, 1.0)]
    assert auto_k(curve) == 4  # 0.99 is within one point of 1.0; 0.985 is not
    assert auto_k(curve, tolerance=0.02) == 3
    assert auto_k(curve, tolerance=0.0) == 5
    assert auto_k([(1, 0.7), (2, 0.6)]) == 1
    with pytest.raises(ValueError):
        auto_k([])


@pytest.mark.parametrize("scoring", ["loo", "reference"])
def test_fit_auto_uses_the_curve(scoring):
    acts, labels = random_task(4, n_per_class=6)
    curve = k_curve(acts, labels, scoring)
    clf = fit_activations(acts, labels, "auto", scoring)
    assert clf.k == auto_k(curve) and clf.config["k"] == clf.k
    manual = fit_activations(acts, labels, clf.k, scoring)
    assert clf.heads == manual.heads
    assert torch.equal(clf.means, manual.means) and torch.equal(clf.head_scores, manual.head_scores)
    best = max(acc for _, acc in curve)
    assert curve[clf.k - 1][1] >= best - 0.01
    assert all(acc < best - 0.01 for _, acc in curve[: clf.k - 1])


def test_k_curve_figure_marks_the_chosen_k():
    from savs.plots import k_curve_figure

    curve = [(1, 0.5), (2, 0.75), (3, 1.0), (4, 1.0)]
    fig = k_curve_figure(curve, chosen_k=3)
    line, mark = fig.data
    assert list(line.x) == [1, 2, 3, 4] and list(line.y) == [0.5, 0.75, 1.0, 1.0]
    assert list(mark.x) == [3] and list(mark.y) == [1.0]
    assert "k = %{x}" in line.hovertemplate and fig.layout.height
    assert "leave-one-out" in fig.layout.title.text
    assert len(k_curve_figure(curve, chosen_k=None, scoring="reference").data) == 1


# --- the fit's own curve (issue 20): one cosine pass gives the head scores and the curve -------


@pytest.mark.parametrize("scoring", ["loo", "reference"])
@pytest.mark.parametrize("k", [3, "auto"])
def test_the_fit_returns_the_curve_k_curve_computes(scoring, k):
    acts, labels = random_task(5, n_per_class=6)
    clf = fit_activations(acts, labels, k, scoring)
    assert clf.k_curve == k_curve(acts, labels, scoring) and len(clf.k_curve) == 3 * 4
    again = fit_activations(acts, labels, 2, scoring, scores=score_heads_of(acts, labels, scoring))
    assert again.k_curve is None  # a refit from given scores computes no cosines: no curve
    auto = fit_activations(
        acts, labels, "auto", scoring, scores=score_heads_of(acts, labels, scoring)
    )
    assert auto.k_curve == clf.k_curve  # k="auto" needs the curve: computed, the scores reused


def score_heads_of(acts: torch.Tensor, labels: list[str], scoring: str):
    classes, y = encode_labels(labels)
    return score_heads(acts, y, len(classes), scoring)


@pytest.mark.parametrize("k", [3, "auto"])
def test_a_fit_computes_the_cosines_once(k, monkeypatch):
    """The fit scores the heads and draws the curve from one [N, M, C] cosine pass (before
    issue 20: a fit, then `k_curve` again; with k="auto" the curve was computed twice)."""
    import savs.classifier as classifier

    calls = []
    real = classifier.class_cosines
    monkeypatch.setattr(
        classifier, "class_cosines", lambda *a, **kw: calls.append(1) or real(*a, **kw)
    )
    acts, labels = random_task(6)
    clf = fit_activations(acts, labels, k)
    assert len(calls) == 1 and clf.k_curve is not None


def test_the_k_curve_is_not_saved(tmp_path):
    from savs.classifier import SAVClassifier

    acts, labels = random_task(7)
    clf = fit_activations(acts, labels, 2, config={"model": "m"})
    loaded = SAVClassifier.load(clf.save(tmp_path / "c"))
    assert clf.k_curve and loaded.k_curve is None
    assert "curve" not in (tmp_path / "c" / "classifier.json").read_text()
