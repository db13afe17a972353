"""SAVs against simple baselines: each baseline against a brute-force version or a hand-made
case where it must win or lose. Pure tensor math, no model."""

from __future__ import annotations

import pytest
import torch

from savs.classifier import fit_activations
from savs.compare import (
    BASELINES,
    class_indices,
    compare_baselines,
    linear_probe_accuracy,
    nearest_mean_accuracy,
    nearest_neighbour_accuracy,
)
from savs.errors import DataError
from savs.heads import HeadIndex

pytestmark = pytest.mark.unit


def task(seed: int, n: int, classes: int = 3) -> tuple[torch.Tensor, list[str]]:
    """[n, 2, 3, 4] activations: class centres plus noise, heads of varying use."""
    gen = torch.Generator().manual_seed(100)  # the same centres for train and test
    centres = torch.randn(classes, 2, 3, 4, generator=gen) * torch.rand(2, 3, 1, generator=gen)
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    acts = centres[y] + 0.6 * torch.randn(n, 2, 3, 4, generator=gen)
    return acts, [f"c{int(c)}" for c in y]


def cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()))


def test_all_heads_is_savs_with_every_head():
    train, labels = task(0, 30)
    test, test_labels = task(1, 24)
    clf = fit_activations(train, labels, k=6, scoring="reference")
    savs_all = sum(p.label == t for p, t in zip(clf.predict_activations(test), test_labels)) / 24
    result = compare_baselines(train, labels, test, test_labels, clf.heads[:2])
    assert list(result) == list(BASELINES)
    assert result["all_heads"] == pytest.approx(savs_all, abs=1e-7)


def test_nearest_mean_and_neighbour_match_brute_force():
    train, labels = task(2, 18)
    test, test_labels = task(3, 15)
    heads = [HeadIndex(1, 2), HeadIndex(0, 0)]
    x, xt = (torch.cat([a[:, h.layer, h.head] for h in heads], dim=1) for a in (train, test))
    classes = ["c0", "c1", "c2"]
    means = {c: x[[i for i, lab in enumerate(labels) if lab == c]].mean(0) for c in classes}
    ncm = [max(classes, key=lambda c: cos(v, means[c])) for v in xt]
    nn = [labels[max(range(len(x)), key=lambda j: cos(v, x[j]))] for v in xt]
    expected_ncm = sum(p == t for p, t in zip(ncm, test_labels)) / len(test_labels)
    expected_nn = sum(p == t for p, t in zip(nn, test_labels)) / len(test_labels)
    result = compare_baselines(train, labels, test, test_labels, heads)
    assert result["nearest_mean"] == pytest.approx(expected_ncm, abs=1e-7)
    assert result["nearest_neighbour"] == pytest.approx(expected_nn, abs=1e-7)
    assert 0 < expected_ncm < 1 or 0 < expected_nn < 1  # the case is not trivial


def test_probe_learns_a_threshold_cosine_cannot():
    # feature (x, 1): class a has x = 1..5, class b x = 6..10. The class means (3, 1) and (8, 1)
    # point in nearly the same direction, so cosine puts 5.2 nearer b (0.9979 vs 0.9915); the
    # probe's boundary sits at 5.5 by symmetry and gets both test points right, as does 1-NN.
    x = torch.tensor([[float(v), 1.0] for v in range(1, 11)])
    y = torch.tensor([0] * 5 + [1] * 5)
    test = torch.tensor([[5.2, 1.0], [5.8, 1.0]])
    y_test = torch.tensor([0, 1])
    assert nearest_mean_accuracy(x, y, test, y_test, 2) == 0.5
    assert linear_probe_accuracy(x, y, test, y_test, 2) == 1.0
    # 1-NN: the angles of 5.2 and 5.8 are nearest those of 5 and 6 themselves
    assert nearest_neighbour_accuracy(x, y, test, y_test) == 1.0


def test_probe_is_deterministic_and_scale_free():
    train, labels = task(4, 30)
    test, test_labels = task(5, 30)
    heads = [HeadIndex(0, 1), HeadIndex(1, 0), HeadIndex(1, 1)]
    first = compare_baselines(train, labels, test, test_labels, heads)
    assert compare_baselines(train, labels, test, test_labels, heads) == first
    scaled = train.clone(), test.clone()
    for a in scaled:
        a[:, 1, 0] *= 1000.0  # one head in other units: standardising makes it no matter
    again = compare_baselines(scaled[0], labels, scaled[1], test_labels, heads)
    assert again["linear_probe"] == first["linear_probe"]
    assert first["linear_probe"] > 1 / 3  # learns something


def test_unknown_test_labels_count_as_wrong_and_bad_input_is_refused():
    classes, y, y_test = class_indices(["a", "b", "a"], ["b", "zebra"])
    assert classes == ["a", "b"] and y.tolist() == [0, 1, 0] and y_test.tolist() == [1, -1]
    with pytest.raises(DataError, match="two classes"):
        class_indices(["a", "a"], ["a"])
    train, labels = task(0, 6)
    with pytest.raises(ValueError, match="one model"):
        compare_baselines(train, labels, train[:, :1], labels, [HeadIndex(0, 0)])
    with pytest.raises(ValueError, match="one label"):
        compare_baselines(train, labels[:5], train, labels, [HeadIndex(0, 0)])
