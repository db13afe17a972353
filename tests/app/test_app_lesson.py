"""The lesson views (issue 23) on the tiny random LLaVA: any head opens in the inspector with why
it was or was not kept, the inspected head's vector map, and the vote re-tallied without
unticked heads; the callbacks called in-process (the browser test clicks them)."""

from __future__ import annotations

import sys
from pathlib import Path

import gradio as gr
import pytest
import torch

import studio_fixtures as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # app.py, also under bare `pytest`
from savs.explanation import head_class_accuracy
from savs.projection import head_projection
from studio import lesson, views
from studio.actions import Studio
from studio.steps.inspect import any_head_cb, retally_cb

pytestmark = pytest.mark.app

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def task_image(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("query") / "query.png"
    sf.colour_image(sf.TASK_COLOURS["blue"], 1).save(path)
    return path


def shown(studio: Studio) -> dict:
    """The redrawn page as {PAGE name: value}."""
    return dict(zip(views.PAGE, views.page(studio)))


def unselected_heads(studio: Studio) -> list[tuple[int, int]]:
    kept = {(h.layer, h.head) for h in studio.classifier.heads}
    return [h for h in lesson.ranking(studio) if h not in kept]


def test_the_all_heads_picker_opens_an_unselected_head_and_says_why_not(app_module, task_image):
    app = app_module
    studio = sf.app_fitted_studio(app)
    clf = studio.classifier
    layers, heads = clf.head_scores.shape
    order = lesson.ranking(studio)
    # every head, the kept ones first in the classifier's order, then best score first
    assert sorted(order) == [(a, b) for a in range(layers) for b in range(heads)]
    assert order[: clf.k] == [(h.layer, h.head) for h in clf.heads]
    rest = [float(clf.head_scores[h]) for h in order[clf.k :]]
    assert rest == sorted(rest, reverse=True)
    choices = shown(studio)["any_head"]["choices"]
    assert [v for _, v in choices] == [f"{a},{b}" for a, b in order]
    assert choices[0][0].endswith(", kept") and not choices[clf.k][0].endswith("kept")

    app.classify_cb(studio, sf.upload(task_image), "")
    layer, head = unselected_heads(studio)[-1]  # the worst head
    out = any_head_cb(studio, f"{layer},{head}")
    studio, picker, overlay, tokens, line, rows, head_map = out
    assert studio.inspected == (layer, head) and picker["value"] is None  # not a selected head
    assert shown(studio)["any_head"]["value"] == f"{layer},{head}"
    score, kth = float(clf.head_scores[layer, head]), float(clf.head_scores[clf.heads[-1]])
    rank = order.index((layer, head)) + 1
    assert f"Layer {layer}, head {head}** · not selected" in line
    assert f"**Not kept**: rank {rank} of {layers * heads} heads; k = {clf.k}" in line
    assert f"{score:.3f}" in line and f"({kth:.3f})" in line
    needed = int((clf.head_scores >= score).sum())
    assert f"k = {needed} would keep it" in line
    # training accuracy per class, and this input's cosines with the class means of this head
    labels = [ex.label for ex in studio.training_examples()]
    accuracy = head_class_accuracy(studio.activations, labels, (layer, head), "loo")
    vec = studio.last_classification.vectors[layer, head]
    x = studio.activations[:, layer, head]
    cosines = {
        c: float(
            torch.nn.functional.cosine_similarity(
                vec, x[[i for i, lab in enumerate(labels) if lab == c]].mean(0), dim=0
            )
        )
        for c in clf.labels
    }
    assert [r[0] for r in rows] == clf.labels
    assert [r[1] for r in rows] == [round(accuracy[c], 3) for c in clf.labels]
    assert [r[2] for r in rows] == pytest.approx([round(cosines[c], 3) for c in clf.labels])
    nearest = max(cosines, key=cosines.get)
    assert [r[0] for r in rows if r[3]] == [nearest]
    assert f"nearest class mean for this input: **{nearest}**" in line
    # the map came with the event: the redraw after it must not draw it again
    assert len(head_map.data) == len(clf.labels) + 2  # classes, means, the input's star

    # a selected head still reads "Kept" and its rank among the k
    top = clf.heads[0]
    *_, line, _, _ = any_head_cb(studio, f"{top.layer},{top.head}")
    assert "rank 1 of 4" in line and f"**Kept**: rank 1 of {layers * heads} heads" in line

    with pytest.raises(gr.Error, match="nor any head of this model"):
        any_head_cb(studio, f"{layers},0")
    with pytest.raises(gr.Error, match="pick a head"):
        any_head_cb(studio, "three")


def test_a_head_past_the_deepest_selected_layer_has_no_cosines_and_says_why(app_module, task_image):
    studio = sf.app_fitted_studio(app_module)
    app_module.classify_cb(studio, sf.upload(task_image), "")
    last = studio.last_classification
    deepest = max(h.layer for h in studio.classifier.heads)
    assert last.vectors.shape[0] == deepest + 1  # every layer the pass ran, no more
    # as if the pass had stopped after layer 0: no head of a deeper layer was read (with 4 of
    # the 12 heads kept, some unselected head sits deeper than layer 0)
    last.vectors = last.vectors[:1]
    studio.inspected = next(h for h in unselected_heads(studio) if h[0] >= 1)
    page = shown(studio)
    assert "never run through this head's layer" in page["inspector"]
    assert [r[2] for r in page["per_class_head"]] == ["–"] * len(studio.classifier.labels)
    # and a live frame (no explained pass) keeps no vectors: the page says to classify here
    last.vectors = None
    studio.inspected = unselected_heads(studio)[0]
    assert "Classify an input in this tab" in shown(studio)["inspector"]


def test_the_head_map_has_one_point_per_training_example_and_the_input_as_a_star(
    app_module, task_image
):
    studio = sf.app_fitted_studio(app_module)
    clf = studio.classifier
    labels = [ex.label for ex in studio.training_examples()]
    head = unselected_heads(studio)[0]
    studio.inspected = head
    before = shown(studio)["head_map"]
    assert [t.name for t in before.data] == [*clf.labels, "class means"]  # no input yet
    app_module.classify_cb(studio, sf.upload(task_image), "")
    fig = shown(studio)["head_map"]
    proj = head_projection(studio.activations, labels, head)
    classes = fig.data[: len(clf.labels)]
    assert sum(len(t.x) for t in classes) == len(labels) == 12
    for t in classes:
        rows = [i for i, lab in enumerate(labels) if lab == t.name]
        assert list(t.x) == pytest.approx(proj.points[rows, 0].tolist())
        assert list(t.y) == pytest.approx(proj.points[rows, 1].tolist())
        assert set(t.text) == {t.name}  # image examples: the hover names the class
    assert list(fig.data[-2].x) == pytest.approx(proj.means[:, 0].tolist())
    star = proj.place(studio.last_classification.vectors[head[0], head[1]][None])[0]
    assert fig.data[-1].name == "this input" and fig.data[-1].marker.symbol == "star"
    assert [fig.data[-1].x[0], fig.data[-1].y[0]] == pytest.approx(star.tolist())
    assert fig.layout.height >= 340
    # out of date: no map from activations that no longer match the classes
    studio.add_examples("red", [sf.colour_image(sf.TASK_COLOURS["red"], 3)])
    assert [t.name for t in shown(studio)["head_map"].data] == []


def by_hand(studio: Studio, ticked: list[tuple[int, int]]) -> tuple[str, dict[str, int]]:
    """The vote of the ticked heads from the classify's own explanations: counts, then the
    larger summed cosine over the ticked heads."""
    expl = [e for e in studio.explanations() if (e.layer, e.head) in ticked]
    labels = studio.classifier.labels
    counts = {c: sum(e.vote == c for e in expl) for c in labels}
    best = max(counts.values())
    tied = [c for c in labels if counts[c] == best]
    winner = max(tied, key=lambda c: (sum(e.cosines[c] for e in expl), -labels.index(c)))
    return winner, counts


def test_unticking_heads_retallies_the_last_vote_without_a_model_run(
    app_module, task_image, monkeypatch
):
    studio = sf.app_fitted_studio(app_module, k=6)
    clf = studio.classifier
    before = shown(studio)
    assert "Classify an input" in before["retally"]
    app_module.classify_cb(studio, sf.upload(task_image), "")
    page = shown(studio)
    heads = [(h.layer, h.head) for h in clf.heads]
    expl = studio.explanations()
    assert [v for _, v in page["vote_heads"]["choices"]] == [f"{a},{b}" for a, b in heads]
    assert page["vote_heads"]["choices"][0][0] == f"L{heads[0][0]} H{heads[0][1]} ({expl[0].vote})"
    assert page["vote_heads"]["value"] == [f"{a},{b}" for a, b in heads]
    full = studio.last_classification.prediction
    assert f"with all 6: **{full.label}** ({full.votes[full.label]}/6)" in page["retally"]

    monkeypatch.setattr(  # the re-tally never runs the model
        "studio.server.POOL.use", lambda *a, **k: pytest.fail("the model ran")
    )
    for ticked in (heads[1:], heads[::2], heads[-1:], [h for h in heads if h != heads[2]]):
        studio, line, bars = retally_cb(studio, [f"{a},{b}" for a, b in ticked])
        winner, counts = by_hand(studio, ticked)
        assert studio.heads_off == tuple(h for h in heads if h not in ticked)
        assert f"Without the {6 - len(ticked)} unticked heads: **{winner}** " in line
        assert f"({counts[winner]}/{len(ticked)} votes)" in line
        assert ("the answer changed" in line) == (winner != full.label)
        shares = dict(zip(bars.data[0].y, bars.data[0].x))
        assert shares == pytest.approx({c: counts[c] / len(ticked) for c in clf.labels})
        # the redraw keeps the boxes as ticked, and the first view of the prediction unchanged
        assert shown(studio)["vote_heads"]["value"] == [f"{a},{b}" for a, b in ticked]
        assert studio.last_classification.prediction is full
    studio, line, bars = retally_cb(studio, [])
    assert "Tick at least one head" in line and studio.heads_off == tuple(heads)
    # a refit to fewer heads: every box ticked again but those still unticked and selected
    retally_cb(studio, [f"{a},{b}" for a, b in heads[1:]])
    app_module.refit_cb(studio, 3, "loo")
    kept = [(h.layer, h.head) for h in studio.classifier.heads]
    ticked_now = shown(studio)["vote_heads"]["value"]
    assert ticked_now == [f"{a},{b}" for a, b in kept if (a, b) != heads[0]]


def test_each_view_has_its_help_line(app_module):
    demo = app_module.build_demo()
    texts = {
        c["props"].get("elem_id"): c["props"].get("value")
        for c in demo.config["components"]
        if c.get("type") == "markdown"
    }
    for key, text in lesson.HELP.items():
        assert texts[f"help-{key.replace('_', '-')}"] == text
    assert "vote share" in lesson.HELP["retally"] and "loo" in lesson.HELP["inspector"]


def test_a_heatmap_click_opens_its_head(app_module):
    """The page's click bridge writes "layer,head,n" (n: the page's click count) into a hidden
    box; its change event opens that head, selected or not."""
    from studio.steps.inspect import HEATMAP_CLICK_JS, heatmap_click_cb

    studio = sf.app_fitted_studio(app_module)
    layer, head = unselected_heads(studio)[0]
    studio, picker, *_, line, _, head_map = heatmap_click_cb(studio, f"{layer},{head},7")
    assert studio.inspected == (layer, head) and f"Layer {layer}, head {head}" in line
    assert heatmap_click_cb(studio, "") == tuple(gr.skip() for _ in range(7))
    assert studio.inspected == (layer, head)
    with pytest.raises(gr.Error, match="nor any head"):
        heatmap_click_cb(studio, "99,0,8")
    assert "#head-heatmap" in HEATMAP_CLICK_JS and "#heatmap-click" in HEATMAP_CLICK_JS
