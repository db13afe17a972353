"""The lesson views (issue 23) on the tiny random LLaVA: any head opens in the inspector with why
it was or was not kept, the inspected head's vector map, the vote re-tallied without unticked
heads, where a head looks per class and the model's own answer with heads switched off; the
callbacks called in-process and the two model runs through gradio_client (the browser test
clicks them)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gradio as gr
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

import studio_fixtures as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # app.py, also under bare `pytest`
from savs.ablation import ablation_effect
from savs.class_attention import class_attention
from savs.explanation import head_class_accuracy
from savs.projection import head_projection
from studio import lesson, views
from studio.actions import Studio
from studio.steps.inspect import ablated_answer_cb, any_head_cb, class_attention_cb, retally_cb

pytestmark = pytest.mark.app

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def task_image(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("query") / "query.png"
    sf.colour_image(sf.TASK_COLOURS["blue"], 1).save(path)
    return path


def shown(studio: Studio) -> dict:
    """The redrawn page as {PAGE name: value}."""
    return dict(zip(views.PAGE, views.whole_page(studio)))


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
    for ticked in (heads, heads[1:], heads[::2], heads[-1:], [h for h in heads if h != heads[2]]):
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


def test_where_a_head_looks_per_class_runs_on_demand_and_follows_the_inspected_head(
    app_module, monkeypatch
):
    studio = sf.app_fitted_studio(app_module)
    clf = studio.classifier
    layer, head = unselected_heads(studio)[0]  # any head: not a selected one
    studio.inspected = (layer, head)
    page = shown(studio)
    assert [t for t in page["class_attention"].data] == []  # nothing ran yet
    assert "12 here (at most 8 per class)" in page["class_attention_line"]

    monkeypatch.setattr("studio.lesson.CLASS_ATTENTION_PER_CLASS", 3)  # the cap is applied
    seen: list = []
    out = class_attention_cb(studio, f"{layer},{head}", lambda *a, **k: seen.append(k))
    studio, figure, line = out
    assert any("Reading 9/9" in k.get("desc", "") for k in seen)  # progress per example
    assert f"Layer {layer}, head {head}, averaged over 9 training examples" in line
    assert "at most 3 per class" in line
    examples = [ex for c in clf.labels for ex in studio.classes[c][:3]]
    with app_module.POOL.use(studio.classifier_model) as adapter:
        expected = class_attention(adapter, examples, (layer, head), clf.config.prompt)
    assert list(studio.class_attention.per_class) == clf.labels
    for label, got in studio.class_attention.per_class.items():
        torch.testing.assert_close(torch.tensor(got.grid), torch.tensor(expected[label].grid))
        assert got.tokens == expected[label].tokens
    # one patch grid and one token strip per class, values on hover, two colour scales
    grids, strips = figure.data[0::2], figure.data[1::2]
    assert [t.name for t in grids] == clf.labels == [t.name for t in strips]
    for t, c in zip(grids, clf.labels):
        torch.testing.assert_close(torch.tensor(t.z), torch.tensor(expected[c].grid))
    assert "mean weight" in grids[0].hovertemplate and "mean weight" in strips[0].hovertemplate
    assert figure.layout.coloraxis.colorbar.title.text == "patch"
    assert figure.layout.coloraxis2.colorbar.title.text == "token"
    assert shown(studio)["class_attention"] is figure  # the redraw shows what the run kept

    studio.inspected = (clf.heads[0].layer, clf.heads[0].head)  # another head: not its run
    assert shown(studio)["class_attention"].data == ()
    studio.inspected = (layer, head)
    assert shown(studio)["class_attention"] is figure
    studio.add_examples("red", [sf.colour_image(sf.TASK_COLOURS["red"], 3)])  # out of date
    assert shown(studio)["class_attention"].data == ()
    with pytest.raises(gr.Error, match="Extract"):
        class_attention_cb(studio, f"{layer},{head}", sf.no_progress)


def test_the_models_own_answer_without_the_selected_heads_beside_random_ones(
    app_module, task_image
):
    studio = sf.app_fitted_studio(app_module)
    clf = studio.classifier
    assert shown(studio)["ablation_table"] == []
    with pytest.raises(gr.Error, match="classify an input in this tab first"):
        ablated_answer_cb(studio, sf.no_progress)
    app_module.classify_cb(studio, sf.upload(task_image), "")
    studio, rows, line = ablated_answer_cb(studio, sf.no_progress)
    example = studio.last_classification.example()
    assert example.images and example.text == ""
    with app_module.POOL.use(studio.classifier_model) as adapter:
        expected = ablation_effect(adapter, clf, example, seed=0)
    effect = studio.ablation.effect
    assert effect.heads == clf.heads and effect.control_heads == expected.control_heads
    assert [r[0] for r in rows] == clf.labels
    for row in rows:
        values = [float(v.split()[0]) for v in row[1:]]
        want = [expected.full[row[0]], expected.ablated[row[0]], expected.control[row[0]]]
        assert values == pytest.approx(want, abs=1e-3)
    answers = expected.answers()
    for col, answer in enumerate(answers, 1):  # each column marks its own answer
        assert [r[0] for r in rows if r[col].endswith("◀")] == [answer]
    assert f"The model's own answer: **{answers[0]}**" in line
    assert f"with the {clf.k} selected heads off: **{answers[1]}**" in line and "draw 1" in line
    assert shown(studio)["ablation_table"] == rows
    # again on the same input: another random draw (seed 1)
    studio, rows2, line2 = ablated_answer_cb(studio, sf.no_progress)
    assert "draw 2" in line2 and studio.ablation.seed == 1
    assert [r[1:3] for r in rows2] == [r[1:3] for r in rows]  # as is, selected off: the same
    # a new input: the last run no longer describes what the page shows
    app_module.classify_cb(studio, sf.upload(task_image), "")
    assert shown(studio)["ablation_table"] == []
    assert "Click the button" in shown(studio)["ablation_line"]
    # every head selected: no head is left for the control, and the line says so
    app_module.refit_cb(studio, 12, "loo")
    assert "Classify an input" in shown(studio)["ablation_line"]  # a refit drops the input
    app_module.classify_cb(studio, sf.upload(task_image), "")
    studio, rows, line = ablated_answer_cb(studio, sf.no_progress)
    assert studio.ablation.effect.control_heads == [] and "every head is selected" in line
    assert [r[1] for r in rows] == [r[3] for r in rows]  # nothing off in the control


def test_the_lesson_runs_through_the_client(served, task_image):
    client = Client(served, verbose=False)
    client.predict("colours", api_name="/load_example_task")
    client.predict(sf.TASK_QUESTION, 4, "loo", api_name="/extract")
    plot, line = client.predict("1,2", api_name="/class_attention")
    data = json.loads(plot["plot"])["data"]
    assert [t["name"] for t in data[0::2]] == list(sf.TASK_COLOURS)
    assert "Layer 1, head 2, averaged over 12 training examples" in line
    with pytest.raises(AppError, match="classify an input"):
        client.predict(api_name="/ablated_answer")
    client.predict(handle_file(task_image), "", api_name="/classify")
    table, line = client.predict(api_name="/ablated_answer")
    assert [r[0] for r in table["data"]] == list(sf.TASK_COLOURS)
    assert "selected heads off" in line and "random heads off" in line
