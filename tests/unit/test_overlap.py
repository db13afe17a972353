"""Comparing tasks by their heads: `savs.overlap.head_overlap` and `python -m savs compare`. The
pairs equal the intersections of the classifiers' selected heads, each classifier's layers are
those its heads sit in, and classifiers of different model grids are refused."""

from __future__ import annotations

import json

import pytest
import torch

from savs import ClassifierError, fit_activations
from savs.__main__ import main
from savs.overlap import head_overlap

pytestmark = pytest.mark.unit


def classifier(seed: int, k: int, grid: tuple[int, int] = (4, 5)):
    """A classifier fitted on random activations [12, L, H, 3]: its heads are whatever scored."""
    g = torch.Generator().manual_seed(seed)
    acts = torch.randn(12, *grid, 3, generator=g)
    labels = ["a", "b", "c"] * 4
    return fit_activations(acts, labels, k=k, config={"model": "m"})


def test_pairs_are_the_intersections_of_the_selected_heads():
    clfs = {"one": classifier(0, 8), "two": classifier(1, 8), "three": classifier(2, 12)}
    result = head_overlap(clfs)
    sets = {n: {tuple(h) for h in c.heads} for n, c in clfs.items()}
    assert [(p["a"], p["b"]) for p in result["pairs"]] == [
        ("one", "two"),
        ("one", "three"),
        ("two", "three"),
    ]
    for pair in result["pairs"]:
        expected = sets[pair["a"]] & sets[pair["b"]]
        assert pair["shared"] == [list(h) for h in sorted(expected)]
        union = sets[pair["a"]] | sets[pair["b"]]
        assert pair["jaccard"] == pytest.approx(len(expected) / len(union))
    for name, clf in clfs.items():
        info = result["classifiers"][name]
        assert info["k"] == clf.k
        assert info["layers"] == sorted({h.layer for h in clf.heads})
    same = head_overlap({"x": clfs["one"], "y": clfs["one"]})["pairs"][0]
    assert same["jaccard"] == 1.0 and len(same["shared"]) == 8


def test_classifiers_of_different_grids_or_fewer_than_two_are_refused():
    with pytest.raises(ClassifierError, match="different models"):
        head_overlap({"a": classifier(0, 4), "b": classifier(0, 4, grid=(3, 5))})
    with pytest.raises(ClassifierError, match="at least two"):
        head_overlap({"a": classifier(0, 4)})


def test_the_cli_prints_json_and_human_text_and_refuses_mixed_models(tmp_path, capsys):
    a, b = classifier(0, 8), classifier(1, 8)
    a.save(tmp_path / "colour")
    b.save(tmp_path / "shape.zip")
    assert main(["compare", str(tmp_path / "colour"), str(tmp_path / "shape.zip"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    shared = sorted({tuple(h) for h in a.heads} & {tuple(h) for h in b.heads})
    assert result["pairs"][0]["shared"] == [list(h) for h in shared]
    assert set(result["classifiers"]) == {"colour", "shape"}
    assert main(["compare", str(tmp_path / "colour"), str(tmp_path / "shape.zip")]) == 0
    text = capsys.readouterr().out
    assert f"colour & shape: {len(shared)} shared" in text
    assert "colour: 8 heads in layers" in text
    classifier(0, 4, grid=(3, 5)).save(tmp_path / "other")
    code = main(["compare", str(tmp_path / "colour"), str(tmp_path / "other")])
    assert code != 0 and "different models" in capsys.readouterr().err
