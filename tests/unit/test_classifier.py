"""Head scoring, head selection and voting on small hand-computed cases. Never loads a model."""

from __future__ import annotations

import math

import pytest
import torch

from savs.classifier import SAVClassifier, fit_activations, score_heads, select_heads, vote
from savs.errors import DataError
from savs.heads import HeadIndex

pytestmark = pytest.mark.unit

SQRT2 = math.sqrt(2)


def one_head(*vectors: tuple[float, ...]) -> torch.Tensor:
    """Activations of one layer with one head: [N, 1, 1, d]."""
    return torch.tensor(vectors, dtype=torch.float32)[:, None, None, :]


# Class A: a1 = (1, 0), a2 = (0, 1); class B: b1 = b2 = (4, 3) (norm 5).
#  reference: A's mean (0.5, 0.5) points at 45 degrees, B's at (4, 3).
#   a1: cos(a1, A) = 1/sqrt2 = 0.7071 < cos(a1, B) = 0.8   -> wrong,  margin 1/sqrt2 - 0.8
#   a2: cos(a2, A) = 0.7071 > cos(a2, B) = 0.6             -> right,  margin 1/sqrt2 - 0.6
#   b:  cos(b, B) = 1 > cos(b, A) = 7 / (5 sqrt2) = 0.98995 -> right, margin 1 - 7/(5 sqrt2)
#   score 3/4.
#  leave-one-out: a1's own mean is a2 (cos 0 < 0.8, wrong), a2's is a1 (cos 0 < 0.6, wrong),
#   b1's is b2 (cos 1, right): score 2/4.
DISAGREE = one_head((1, 0), (0, 1), (4, 3), (4, 3))
DISAGREE_Y = torch.tensor([0, 0, 1, 1])


def test_reference_scoring_hand_computed():
    score, margin = score_heads(DISAGREE, DISAGREE_Y, 2, "reference")
    assert score.shape == (1, 1) and margin.shape == (1, 1)
    assert score.item() == pytest.approx(0.75)
    expected_margin = ((1 / SQRT2 - 0.8) + (1 / SQRT2 - 0.6) + 2 * (1 - 7 / (5 * SQRT2))) / 4
    assert margin.item() == pytest.approx(expected_margin, abs=1e-6)


def test_loo_scoring_hand_computed_differs_from_reference():
    score, margin = score_heads(DISAGREE, DISAGREE_Y, 2, "loo")
    assert score.item() == pytest.approx(0.5)
    # a1: own 0 vs B 0.8; a2: own 0 vs B 0.6; b: own 1 vs A (0.5, 0.5) -> 7 / (5 sqrt2)
    expected_margin = ((0 - 0.8) + (0 - 0.6) + 2 * (1 - 7 / (5 * SQRT2))) / 4
    assert margin.item() == pytest.approx(expected_margin, abs=1e-6)


def test_scoring_changes_which_head_is_selected():
    # head 0: the DISAGREE case (reference 3/4, loo 2/4)
    # head 1: a1=(1,0), a2=(1,0.2)... every example nearest its own class under both scorings,
    #         except b2, which sits on A's side: 3/4 under both.
    head1 = torch.tensor([(1, 0), (1, 0.2), (0, 1), (0.9, 0.1)], dtype=torch.float32)
    acts = torch.stack([DISAGREE[:, 0, 0], head1], dim=1)[:, None]  # [4, 1, 2, 2]
    ref_score, ref_margin = score_heads(acts, DISAGREE_Y, 2, "reference")
    loo_score, loo_margin = score_heads(acts, DISAGREE_Y, 2, "loo")
    assert ref_score[0].tolist() == pytest.approx([0.75, 0.75])
    assert loo_score[0].tolist() == pytest.approx([0.5, 0.75])
    assert select_heads(loo_score, loo_margin, 1) == [HeadIndex(0, 1)]
    # under reference the scores tie, so the larger mean margin decides
    winner = 0 if ref_margin[0, 0] > ref_margin[0, 1] else 1
    assert select_heads(ref_score, ref_margin, 1) == [HeadIndex(0, winner)]


def test_loo_with_identical_examples_is_perfect_and_reference_agrees():
    acts = one_head((1, 0), (1, 0), (0, 1), (0, 1))
    for scoring in ("loo", "reference"):
        score, margin = score_heads(acts, DISAGREE_Y, 2, scoring)
        assert score.item() == pytest.approx(1.0)
        assert margin.item() == pytest.approx(1.0)  # own cos 1, other cos 0


def test_unknown_scoring_is_refused():
    with pytest.raises(ValueError, match="scoring"):
        score_heads(DISAGREE, DISAGREE_Y, 2, "nearest")  # type: ignore[arg-type]


@pytest.mark.parametrize("scoring", ["loo", "reference"])
def test_uninformative_heads_score_zero_and_layout_is_kept(scoring):
    # 2 layers x 3 heads; only head (1, 2) separates the classes. Every other head gives the same
    # vector for every input: all cosines tie, so no example is "nearest its own class" there
    # (regression: rounding in the loo formula once gave such heads a perfect 1.0).
    acts = torch.ones(4, 2, 3, 2)
    acts[:, 1, 2] = torch.tensor([(1, 0), (1, 0), (0, 1), (0, 1)], dtype=torch.float32)
    score, _ = score_heads(acts, DISAGREE_Y, 2, scoring)
    assert score.shape == (2, 3)
    assert score[1, 2].item() == pytest.approx(1.0)
    others = [score[i, j].item() for i in range(2) for j in range(3) if (i, j) != (1, 2)]
    assert others == [0.0] * 5
    assert select_heads(score, torch.zeros(2, 3), 1) == [HeadIndex(1, 2)]


def test_heads_with_nan_outputs_rank_last():
    acts = torch.tensor([(1, 0), (1, 0.1), (0, 1), (0.1, 1)], dtype=torch.float32)
    acts = acts[:, None, None, :].repeat(1, 1, 4, 1)  # [4, 1, 4, 2]: four good heads
    acts[0, 0, 0, 0] = float("nan")  # head 0 overflowed on one example: its class mean is NaN
    acts[:, 0, 1] = 1.0  # head 1 is useless (same vector for every input) but finite
    score, margin = score_heads(acts, DISAGREE_Y, 2, "loo")
    assert score[0].tolist() == [0.0, 0.0, 1.0, 1.0]
    assert margin[0, 0].item() == float("-inf")
    # NaN compares as neither smaller nor larger, which once left head 0 ahead of head 1
    assert select_heads(score, margin, 4) == [
        HeadIndex(0, 2),
        HeadIndex(0, 3),
        HeadIndex(0, 1),
        HeadIndex(0, 0),
    ]


# --- select_heads ---------------------------------------------------------------------------


def test_select_heads_breaks_ties_by_score_then_margin_then_index():
    score = torch.tensor([[0.5, 1.0], [1.0, 1.0]])
    margin = torch.tensor([[0.9, 0.1], [0.2, 0.2]])
    assert select_heads(score, margin, 4) == [
        HeadIndex(1, 0),
        HeadIndex(1, 1),
        HeadIndex(0, 1),
        HeadIndex(0, 0),
    ]
    assert select_heads(score, margin, 2) == [HeadIndex(1, 0), HeadIndex(1, 1)]


def test_select_heads_clamps_k():
    score = torch.tensor([[0.1, 0.9]])
    margin = torch.zeros(1, 2)
    assert select_heads(score, margin, 0) == [HeadIndex(0, 1)]
    assert select_heads(score, margin, 99) == [HeadIndex(0, 1), HeadIndex(0, 0)]


# --- vote -----------------------------------------------------------------------------------

UNIT2 = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]])  # [K=2, C=2, d=2]


def test_vote_majority():
    selected = torch.tensor([[[1.0, 0.1], [2.0, 0.3]], [[0.0, 1.0], [0.1, 3.0]]])  # [N=2, K=2, d]
    winner, head_votes, counts = vote(selected, UNIT2)
    assert winner.tolist() == [0, 1]
    assert head_votes.tolist() == [[0, 0], [1, 1]]
    assert counts.tolist() == [[2, 0], [0, 2]]


def test_vote_tie_goes_to_larger_summed_cosine():
    # one head each; class A summed cos = 1/sqrt(1.25) + 0 = 0.894, B = 0.447 + 1 = 1.447
    selected = torch.tensor([[[1.0, 0.5], [0.0, 1.0]]])
    winner, head_votes, counts = vote(selected, UNIT2)
    assert counts.tolist() == [[1, 1]]
    assert head_votes.tolist() == [[0, 1]]
    assert winner.tolist() == [1]
    # mirrored: A's summed cosine is larger
    winner, _, _ = vote(torch.tensor([[[1.0, 0.0], [0.5, 1.0]]]), UNIT2)
    assert winner.tolist() == [0]


def test_vote_exact_tie_goes_to_lowest_class_index():
    selected = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # A: 1 + 0, B: 0 + 1
    winner, _, counts = vote(selected, UNIT2)
    assert counts.tolist() == [[1, 1]]
    assert winner.tolist() == [0]


def test_vote_tie_break_ignores_classes_without_the_most_votes():
    # class C is close to A on head 0 and to B on head 1: largest summed cosine, but no votes
    means = torch.tensor(
        [[[1, 0, 0], [0, 1, 0], [0.9, 0, 0.1]], [[1, 0, 0], [0, 1, 0], [0, 0.9, 0.1]]],
        dtype=torch.float32,
    )
    selected = torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]]])
    winner, _, counts = vote(selected, means)
    assert counts.tolist() == [[1, 1, 0]]
    assert winner.tolist() == [0]


# --- SAVClassifier.predict_activations and fit_activations ----------------------------------


def small_classifier() -> SAVClassifier:
    heads = [HeadIndex(1, 0), HeadIndex(0, 1), HeadIndex(1, 1)]
    means = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]] * 3)  # [K=3, C=2, d=2]
    return SAVClassifier(
        labels=["cat", "dog"], heads=heads, means=means, head_scores=torch.zeros(2, 2), config={}
    )


def test_predict_activations_fields():
    clf = small_classifier()
    acts = torch.zeros(1, 2, 2, 2)  # [N, L, H, d]
    acts[0, 1, 0] = torch.tensor([1.0, 0.2])  # cat
    acts[0, 0, 1] = torch.tensor([0.1, 1.0])  # dog
    acts[0, 1, 1] = torch.tensor([0.9, 0.0])  # cat
    acts[0, 0, 0] = torch.tensor([0.0, 5.0])  # not selected: must not count
    (p,) = clf.predict_activations(acts)
    assert p.label == "cat"
    assert p.votes == {"cat": 2, "dog": 1}
    assert p.probabilities == pytest.approx({"cat": 2 / 3, "dog": 1 / 3})
    assert p.head_votes == [
        (HeadIndex(1, 0), "cat"),
        (HeadIndex(0, 1), "dog"),
        (HeadIndex(1, 1), "cat"),
    ]
    js = p.to_json()
    assert js["head_votes"] == [[1, 0, "cat"], [0, 1, "dog"], [1, 1, "cat"]]
    assert set(js) == {"label", "votes", "probabilities", "head_votes"}


def test_predict_activations_accepts_truncated_layers():
    """Early exit hands over only layers up to the deepest selected one."""
    clf = SAVClassifier(
        labels=["a", "b"],
        heads=[HeadIndex(0, 1)],
        means=torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]),
        head_scores=torch.zeros(3, 2),
        config={},
    )
    acts = torch.zeros(2, 1, 2, 2)  # only layer 0 of 3
    acts[0, 0, 1] = torch.tensor([0.0, 1.0])
    acts[1, 0, 1] = torch.tensor([1.0, 0.0])
    assert [p.label for p in clf.predict_activations(acts)] == ["b", "a"]


def test_fit_activations_means_and_config():
    # 1 layer x 2 heads, d = 2; head 1 separates the classes, head 0 does not
    acts = torch.zeros(4, 1, 2, 2)
    acts[:, 0, 0] = torch.tensor([(1, 1), (1, 1), (1, 1), (1, 1)], dtype=torch.float32)
    acts[:, 0, 1] = torch.tensor([(2, 0), (4, 2), (0, 1), (2, 3)], dtype=torch.float32)
    labels = ["yes", "yes", "no", "no"]
    clf = fit_activations(acts, labels, k=1, scoring="loo", config={"model": "m"})
    assert clf.labels == ["yes", "no"]  # first-seen order
    assert clf.heads == [HeadIndex(0, 1)]
    assert clf.means.shape == (1, 2, 2)
    assert clf.means[0, 0].tolist() == pytest.approx([3.0, 1.0])  # mean of (2,0), (4,2)
    assert clf.means[0, 1].tolist() == pytest.approx([1.0, 2.0])  # mean of (0,1), (2,3)
    assert clf.head_scores.shape == (1, 2)
    assert clf.head_scores[0, 1].item() == pytest.approx(1.0)
    assert clf.config["model"] == "m"
    assert clf.config["k"] == 1 and clf.config["scoring"] == "loo"
    assert (clf.config["num_layers"], clf.config["num_heads"], clf.config["head_dim"]) == (1, 2, 2)
    assert clf.config["train_accuracy"] == pytest.approx(1.0)


def test_fit_activations_with_all_heads_keeps_every_head_once():
    torch.manual_seed(0)
    acts = torch.randn(6, 2, 3, 4)
    clf = fit_activations(acts, ["a", "b", "c"] * 2, k=100, scoring="reference")
    assert sorted(clf.heads) == [HeadIndex(i, j) for i in range(2) for j in range(3)]
    for pos, h in enumerate(clf.heads):
        for c in range(3):
            expected = acts[[c, c + 3], h.layer, h.head].mean(0)
            assert torch.allclose(clf.means[pos, c], expected, atol=1e-6)


def test_single_example_class_under_loo_is_a_data_error():
    acts = torch.randn(3, 1, 2, 2)
    with pytest.raises(DataError, match="'lonely'.*single example"):
        fit_activations(acts, ["a", "a", "lonely"], k=1, scoring="loo")
    clf = fit_activations(acts, ["a", "a", "lonely"], k=1, scoring="reference")
    assert clf.labels == ["a", "lonely"]


def test_one_class_is_a_data_error():
    with pytest.raises(DataError, match="two classes"):
        fit_activations(torch.randn(3, 1, 2, 2), ["a", "a", "a"], k=1)


def test_activation_shape_mismatch_is_refused():
    with pytest.raises(ValueError):
        fit_activations(torch.randn(3, 2, 2), ["a", "b", "b"], k=1)
    with pytest.raises(ValueError):
        fit_activations(torch.randn(3, 1, 2, 2), ["a", "b"], k=1)
