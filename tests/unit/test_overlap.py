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


def test_the_overlay_puts_each_task_in_its_own_corner_and_rings_shared_heads():
    from savs.plots import overlap_rows, tasks_figure
    from savs.plots.tasks import CORNERS

    clfs = {"one": classifier(0, 8), "two": classifier(1, 8), "<b>three</b>": classifier(2, 6)}
    fig = tasks_figure(clfs)
    cells, *marks = fig.data
    assert fig.layout.height and tuple(fig.layout.yaxis.range) == (3.5, -0.5)
    sets = {n: {(h.layer, h.head) for h in c.heads} for n, c in clfs.items()}
    counts = [[sum((lay, h) in s for s in sets.values()) for h in range(5)] for lay in range(4)]
    assert [list(row) for row in cells.z] == counts  # the grey counts the tasks keeping a head
    for i, clf in enumerate(clfs.values()):
        dx, dy = CORNERS[i]
        assert list(marks[i].x) == pytest.approx([h.head + dx for h in clf.heads])
        assert list(marks[i].y) == pytest.approx([h.layer + dy for h in clf.heads])
        assert marks[i].marker.symbol != marks[(i + 1) % 3].marker.symbol
        assert marks[i].marker.color != marks[(i + 1) % 3].marker.color
    assert marks[2].name == "&lt;b&gt;three&lt;/b&gt; (6)"  # a visitor's name is never markup
    shared = {
        cell
        for cell in sets["one"] | sets["two"] | sets["<b>three</b>"]
        if counts[cell[0]][cell[1]] > 1
    }
    rings = marks[3] if shared else None
    # one outline a shared cell: 4 corners, back to the first, a gap; centred on the cell
    squares = [list(zip(rings.x, rings.y))[i : i + 6] for i in range(0, len(rings.x), 6)]
    assert all(sq[-1] == (None, None) and sq[0] == sq[4] for sq in squares)
    centres = {
        (round((sq[0][1] + sq[2][1]) / 2), round((sq[0][0] + sq[2][0]) / 2)) for sq in squares
    }
    assert shared and len(squares) == len(shared) and centres == shared
    rows = overlap_rows(head_overlap(clfs))
    assert [r[:2] for r in rows] == [
        ["one", "two"],
        ["one", "<b>three</b>"],
        ["two", "<b>three</b>"],
    ]
    first = sorted(sets["one"] & sets["two"])
    assert rows[0][2] == len(first)
    assert rows[0][4] == ", ".join(f"L{a} H{b}" for a, b in first)


def test_the_overlay_draws_one_task_and_refuses_mixed_grids_or_five():
    from savs.plots import tasks_figure

    one = tasks_figure({"only": classifier(0, 5)})
    assert len(one.data) == 2  # the cells and its marks: nothing is shared
    with pytest.raises(ClassifierError, match="different models"):
        tasks_figure({"a": classifier(0, 4), "b": classifier(0, 4, grid=(3, 5))})
    with pytest.raises(ClassifierError, match="1 to 4"):
        tasks_figure({str(i): classifier(i, 4) for i in range(5)})
