"""Compare tasks in a session (`studio.comparing`): up to four fitted classifiers kept by name,
of one model grid, counted in the session's memory, drawn on one grid with their overlaps.
Model-free: classifiers fitted on random activations stand for fitted tasks."""

from __future__ import annotations

import pytest
import torch

from savs import ClassifierError, DataError, fit_activations
from savs.limits import MAX_KEPT_CLASSIFIERS
from savs.overlap import head_overlap
from studio.actions import Studio
from studio.budget import classifier_bytes
from studio.comparing import NONE_KEPT, compare_parts

pytestmark = pytest.mark.unit


def fitted(
    seed: int, grid: tuple[int, int] = (4, 5), model: str = "tiny", task: str = ""
) -> Studio:
    """A studio whose current classifier was fitted on random activations [12, L, H, 3]."""
    g = torch.Generator().manual_seed(seed)
    acts = torch.randn(12, *grid, 3, generator=g)
    clf = fit_activations(acts, ["a", "b", "c"] * 4, k=6, config={"model": model})
    studio = Studio()
    studio.import_classifier_object(clf)
    studio.task = task
    return studio


def refit(studio: Studio, seed: int, **kw) -> None:
    """The session's classifier becomes another task's (as loading and fitting it would)."""
    other = fitted(seed, **kw)
    studio.import_classifier_object(other.classifier)
    studio.task = other.task


def test_a_second_task_is_kept_beside_the_first_and_the_overlap_is_head_overlaps():
    studio = fitted(0, task="colour")
    assert compare_parts(studio)[0] == NONE_KEPT
    assert studio.keep_classifier() == "Kept 'colour' (6 heads)."  # the task's name
    first = studio.classifier
    refit(studio, 1, task="shape")
    studio.keep_classifier("my shapes")  # the user's own name
    assert list(studio.kept) == ["colour", "my shapes"]
    assert studio.kept["colour"].heads == first.heads  # the first one stayed as it was
    line, fig, rows, names = compare_parts(studio)
    assert names == ["colour", "my shapes"] and "**colour** (6)" in line
    assert rows == [
        ["colour", "my shapes", len(p["shared"]), round(p["jaccard"], 3), rows[0][4]]
        for p in head_overlap(studio.kept)["pairs"]
    ]
    assert [t.name for t in fig.data[1:3]] == ["colour (6)", "my shapes (6)"]


def test_a_fifth_is_refused_the_same_name_replaces_and_remove_frees_a_place():
    studio = fitted(0)
    for i in range(MAX_KEPT_CLASSIFIERS):
        refit(studio, i)
        studio.keep_classifier(f"t{i}")
    refit(studio, 9)
    with pytest.raises(DataError, match=r"at most 4 classifiers .* remove one first"):
        studio.keep_classifier("fifth")
    assert studio.keep_classifier("t2") == "Replaced 't2' (6 heads)."
    assert studio.kept["t2"].heads == studio.classifier.heads and len(studio.kept) == 4
    studio.remove_kept("t0")
    studio.keep_classifier("fifth")
    assert list(studio.kept) == ["t1", "t2", "t3", "fifth"]
    with pytest.raises(DataError, match="no kept classifier named 'nope'"):
        studio.remove_kept("nope")
    with pytest.raises(DataError, match="at most 4"):  # unnamed, it is a fifth all the same
        studio.keep_classifier("")


def test_an_unnamed_classifier_without_a_task_gets_a_free_number():
    studio = fitted(0)
    studio.keep_classifier()
    refit(studio, 1)
    studio.keep_classifier("classifier 2")
    refit(studio, 2)
    studio.keep_classifier()
    assert list(studio.kept) == ["classifier 1", "classifier 2", "classifier 3"]


def test_another_model_grid_is_refused_and_the_page_says_why():
    studio = fitted(0, model="tiny", task="colour")
    studio.keep_classifier()
    refit(studio, 1, grid=(3, 5), model="smollm2")
    with pytest.raises(DataError, match=r"read tiny \(4 layers x 5 heads\).*smollm2 \(3 l"):
        studio.keep_classifier("safety")
    line = compare_parts(studio)[0]
    assert "another model grid" in line and "smollm2 \\(3 layers x 5 heads\\)" in line


def test_an_out_of_date_classifier_or_none_cannot_be_kept():
    with pytest.raises(ClassifierError, match="no classifier yet"):
        Studio().keep_classifier("x")
    studio = fitted(0)
    studio.add_class("new")  # the classes changed since the fit
    with pytest.raises(ClassifierError, match="since the last Extract"):
        studio.keep_classifier("x")


def test_kept_classifiers_count_in_memory_hold_no_activations_and_go_with_the_session():
    studio = fitted(0)
    before = studio.memory_bytes()
    studio.keep_classifier("a")
    kept = studio.kept["a"]
    assert kept.k_curve is None and kept.head_margins is None
    assert classifier_bytes(kept) == kept.means.nbytes + kept.head_scores.nbytes > 0
    assert studio.memory_bytes() == before + classifier_bytes(kept)
    studio.close()
    assert studio.kept == {} and compare_parts(studio)[0] == NONE_KEPT


def test_visitor_names_are_escaped_and_too_long_ones_refused():
    studio = fitted(0)
    studio.keep_classifier("<img src=x onerror=alert(1)>")
    line = compare_parts(studio)[0]
    assert "<img" in line and line.count("<img") == line.count("\\<img")  # as text (savs.markup)
    with pytest.raises(DataError, match="characters long"):
        studio.keep_classifier("x" * 201)
