"""What the page shows, drawn from one session's state after every action ("the page never
lies"). Every string a visitor or a shared file supplied passes through `studio.markup.md` here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr
from PIL import Image

from savs import plots
from savs.compare import DISPLAY_NAMES
from savs.limits import MAX_KEPT_CLASSIFIERS
from savs.markup import md
from savs.text import plural

from . import lesson
from .actions import Studio
from .comparing import compare_parts
from .drawn import memory_of
from .session import MAX_RECORD


def status_line(studio: Studio) -> str:
    info = studio.model_info
    if info is None:
        return "**No model loaded.** Pick one and click 'Load model'."
    kind = "vision-language" if info.is_vlm else "text-only"
    line = (
        f"Model: **{md(info.name)}** ({kind}, {info.num_layers} layers x {info.num_heads} "
        f"heads, {info.device})"
    )
    if studio.image_tokens is not None and info.is_vlm:
        line += f" · images: at most {studio.image_tokens} tokens from the next Extract"
    return line


def k_update(studio: Studio) -> Any:
    """The k slider: with k "auto", the k the fit resolved to."""
    top = studio.model_info.num_all_heads if studio.model_info else max(studio.shown_k, 64)
    return gr.update(minimum=1, maximum=top, value=min(studio.shown_k, top))


def session_summary(studio: Studio) -> str:
    return md(studio.summary(), limit=500)


def recorded(studio: Studio) -> int:
    """Frames the current recording has added so far (0 when not recording)."""
    return MAX_RECORD - studio.record_left if studio.recording else 0


def capture_line(studio: Studio) -> str:
    """Under the webcam: the frames arriving while a card's "Hold to record" is held."""
    if studio.recording:
        return f"● Recording into **{md(studio.recording)}**: {plural(recorded(studio), 'frame')}"
    return CAPTURE_HINT


CAPTURE_HINT = (
    "Start the webcam, then on a card press and hold **Hold to record** (frames go into that "
    "class while you hold it) or click **Snap** (one frame)."
)


def cards_key(studio: Studio) -> str:
    """Changes exactly when the class cards must be drawn again (classes, examples, model kind)."""
    is_vlm = studio.model_info.is_vlm if studio.model_info else True
    return f"{studio.revision}|{len(studio.classes)}|{studio.num_examples()}|{int(is_vlm)}"


def fit_views(studio: Studio) -> tuple:
    """Heatmap, top-heads table and fit line for the session's classifier."""
    return (heatmap_view(studio), *fit_summary(studio))


def heatmap_view(studio: Studio) -> Any:
    """Every head's score, the selected ones marked (and the last input's votes)."""
    clf, last = studio.classifier, studio.last_classification
    if clf is None:
        return plots.empty_figure("Click 'Extract' to score every attention head")
    return plots.classifier_heatmap(clf, last.prediction if last else None)


def fit_summary(studio: Studio) -> tuple[list, str]:
    """The top-heads table and the fit line."""
    clf = studio.classifier
    if clf is None:
        return [], "No classifier yet."
    rows = [
        [rank, h.layer, h.head, round(float(clf.head_scores[h.layer, h.head]), 3)]
        for rank, h in enumerate(clf.heads, 1)
    ]
    acc = clf.config.train_accuracy
    auto = " (auto: the fewest within one point of the best)" if studio.k == "auto" else ""
    line = (
        f"**{plural(clf.k, 'head')}** selected{auto} ({md(clf.config.scoring or '?')} "
        f"scoring) on `{md(studio.classifier_model or '?')}`"
        + (f" · fit accuracy **{acc:.0%}**" if isinstance(acc, float) else "")
    )
    if studio.stale:
        line = f"⚠️ **Out of date**: {md(studio.stale_message(), 400)}\n\n{line}"
    elif studio.model and studio.classifier_model and studio.model != studio.classifier_model:
        line += (
            f"\n\nThe classifier runs on `{md(studio.classifier_model)}`; click 'Extract' "
            f"to fit one on `{md(studio.model)}`."
        )
    return rows, line


def prediction_views(studio: Studio, bars: bool = True) -> tuple:
    """Prediction label, vote bars (None without `bars`) and timing line of the session's last
    classification."""
    last, clf = studio.last_classification, studio.classifier
    if last is None or clf is None:
        empty = plots.empty_figure("Classify an input to see the votes", height=200)
        return None, empty if bars else None, ""
    p = last.prediction
    label = {lab: p.probabilities[lab] for lab in clf.labels}
    timing = (
        f"{md(p.label)} · {max(p.votes.values())}/{clf.k} head votes · {last.seconds * 1000:.0f} ms"
    )
    return label, plots.probability_bars(p, clf.labels) if bars else None, timing


def evaluation_views(studio: Studio) -> tuple:
    ev = studio.last_evaluation
    if ev is None:
        return "", [], plots.empty_figure("Evaluate to see the confusion matrix", height=260), []
    r = ev.report
    rows = [
        [lab, round(v["precision"], 3), round(v["recall"], 3), int(v["support"])]
        for lab, v in r.per_class.items()
    ]
    mistakes = [
        (ex.images[0], f"true {true} → {pred}") for ex, true, pred in ev.mistakes() if ex.images
    ][:60]
    line = (
        f"Accuracy **{r.accuracy:.1%}** on {plural(len(ev.examples), 'example')} "
        f"({plural(len(r.mistakes), 'mistake')}) · {ev.seconds:.1f} s"
    )
    if ev.zero_shot_accuracy is not None:
        line += f" · zero-shot baseline **{ev.zero_shot_accuracy:.1%}**"
    return line, rows, plots.confusion_heatmap(r), mistakes


def undo_update(studio: Studio) -> Any:
    r = studio.last_removal
    return gr.update(visible=r is not None, value=f"Undo: restore {r.what}" if r else "Undo")


def _vlm_only(studio: Studio) -> tuple:
    """The image inputs (query image, its replace button, webcam box, Live tab): shown for
    vision-language models only. (A tab's visible=False leaves its button in gradio 6.31;
    "hidden" removes it.)"""
    is_vlm = studio.model_info.is_vlm if studio.model_info else True
    return (
        gr.update(visible=is_vlm),
        gr.update(visible=is_vlm),
        gr.update(visible=is_vlm),
        gr.update(visible=is_vlm or "hidden"),
    )


REMOVE = "Remove "  # a kept classifier's remove button: REMOVE + its name
REMOVE_BUTTONS = tuple(f"remove_kept_{i}" for i in range(MAX_KEPT_CLASSIFIERS))


def compare_views(studio: Studio) -> tuple:
    """Compare tasks (studio.steps.compare): line, overlay, overlap rows, remove buttons."""
    line, figure, rows, names = compare_parts(studio)
    buttons = [
        gr.update(visible=i < len(names), value=REMOVE + names[i] if i < len(names) else REMOVE)
        for i in range(MAX_KEPT_CLASSIFIERS)
    ]
    return (line, figure, rows, *buttons)


# Everything the page shows: each view draws some of the page's components (by name) from the
# session's state. `page` draws them in PAGE's order, the outputs of the redraw after each event.
VIEWS: tuple[tuple[tuple[str, ...], Callable[[Studio], tuple]], ...] = (
    (("status",), lambda s: (status_line(s),)),
    (("k",), lambda s: (k_update(s),)),
    (("scoring",), lambda s: (s.scoring,)),
    (("summary",), lambda s: (session_summary(s),)),
    (("undo",), lambda s: (undo_update(s),)),
    (("key",), lambda s: (cards_key(s),)),
    (("task_key",), lambda s: (s.task,)),  # the Classify tab's test inputs follow it
    (("image", "replace_image", "cam_box", "live_tab"), _vlm_only),
    (("heatmap",), lambda s: (heatmap_view(s),)),
    (("top_heads", "fit_line"), fit_summary),
    (("predicted", "bars", "timing"), prediction_views),
    (("eval_line", "per_class", "confusion", "mistakes"), evaluation_views),
    (("any_head",), lambda s: (any_head_picker(s),)),
    (("head_map",), lambda s: (head_map_view(s),)),
    (("vote_heads",), lambda s: (vote_heads_update(s),)),
    (("retally", "retally_bars"), lambda s: retally_views(s)),
    (("class_attention", "class_attention_line"), lambda s: class_attention_views(s)),
    (("ablation_table", "ablation_line"), lambda s: lesson.ablation_views(s)),
    (("auto",), lambda s: (s.k == "auto",)),
    (("k_curve",), lambda s: (curve_view(s),)),
    (("baselines",), lambda s: (baselines_view(s),)),
    (("picker",), lambda s: (head_picker(s),)),
    (("overlay", "tokens", "inspector", "per_class_head"), lambda s: attention_views(s)),
    (("capture",), lambda s: (capture_line(s),)),
    (("compare_line", "tasks_overlay", "overlap_table", *REMOVE_BUTTONS), compare_views),
)
PAGE: tuple[str, ...] = tuple(name for names, _ in VIEWS for name in names)


def page(studio: Studio, sent: frozenset[str] = frozenset()) -> tuple:
    """Everything the page shows, in PAGE's order. Components in `sent` (the event before this
    redraw has just sent them, from the same state) are not sent again (gr.skip()), and a view
    whose components were all sent is not drawn: each output is computed once per action. Nor
    is a view whose inputs did not change since this page last drew it (`studio.drawn`): the
    page shows it already."""
    out: list[Any] = []
    memory = memory_of(studio)
    with memory.lock:
        for i, (names, draw) in enumerate(VIEWS):
            if sent.intersection(names):
                memory.forget(i)  # the event drew it
            if set(names) <= sent or memory.unchanged(i, studio):
                out.extend(gr.skip() for _ in names)
                continue
            values = memory.draw(i, studio, draw)
            out.extend(gr.skip() if n in sent else v for n, v in zip(names, values))
    return tuple(out)


def whole_page(studio: Studio) -> tuple:
    """Everything the page shows, every view drawn from the session's state (what a new page
    shows; tests read the page through it), with no memory of what was drawn before."""
    return tuple(v for _, draw in VIEWS for v in draw(studio))


def forget_views(studio: Studio, names: frozenset[str]) -> None:
    """The page shows what an event sent to `names` (not a redraw): draw their views again."""
    memory = memory_of(studio)
    with memory.lock:
        for i, (view_names, _) in enumerate(VIEWS):
            if names.intersection(view_names):
                memory.forget(i)


# --- why these heads: k curve, baselines, attention and the head inspector --------------------


def curve_view(studio: Studio) -> Any:
    """Training accuracy for every k, the classifier's k marked (from the kept activations)."""
    curve = studio.k_curve()
    if curve is None:
        why = (
            "Click 'Extract' to see the accuracy for every k"
            if studio.classifier is None or studio.stale
            else "No training activations (imported classifier): Extract"
        )
        return plots.empty_figure(why, height=220)
    return plots.k_curve_figure(curve, studio.classifier.k, studio.scoring)


def baselines_view(studio: Studio) -> list[list]:
    """[method, accuracy] rows: SAVs, then each baseline of the last evaluation that has one."""
    ev = studio.last_evaluation
    if ev is None or (ev.baselines is None and ev.zero_shot_accuracy is None):
        return []
    k = studio.classifier.k if studio.classifier else "?"
    rows = [[f"SAVs (top {k} heads vote)", round(ev.report.accuracy, 3)]]
    if ev.zero_shot_accuracy is not None:
        rows.append([DISPLAY_NAMES["zero_shot"], round(ev.zero_shot_accuracy, 3)])
    for name, acc in (ev.baselines or {}).items():
        rows.append([DISPLAY_NAMES.get(name, name), round(acc, 3)])
    return rows


def inspected_head(studio: Studio) -> tuple[int, int] | None:
    """The head the inspector shows: the one chosen (any head of the model), else the top head."""
    clf, size = studio.classifier, lesson.grid(studio)
    if clf is None or not clf.heads:
        return None
    chosen = studio.inspected
    if chosen is not None and all(0 <= x < n for x, n in zip(chosen, size)):
        return chosen
    return (clf.heads[0].layer, clf.heads[0].head)


def head_value(layer: int, head: int) -> str:
    return f"{layer},{head}"


def head_picker(studio: Studio) -> Any:
    """The selected heads, "L3 H5 (votes red)" once an input was explained."""
    chosen, clf = inspected_head(studio), studio.classifier
    if chosen is None:
        return gr.update(choices=[], value=None)
    votes = {(e.layer, e.head): e.vote for e in studio.explanations()}
    choices = [
        (
            f"L{h.layer} H{h.head}"
            + (
                f" (votes {votes[h.layer, h.head]})"
                if (h.layer, h.head) in votes
                else f" (rank {rank})"
            ),
            head_value(h.layer, h.head),
        )
        for rank, h in enumerate(clf.heads, 1)
    ]
    value = head_value(*chosen) if any((h.layer, h.head) == chosen for h in clf.heads) else None
    return gr.update(choices=choices, value=value)


def any_head_picker(studio: Studio) -> Any:
    """Every head of the model, best first: "L2 H3 · score 0.93 · rank 1, kept"."""
    chosen, clf = inspected_head(studio), studio.classifier
    if chosen is None:
        return gr.update(choices=[], value=None)
    kept = {(h.layer, h.head) for h in clf.heads}
    choices = [
        (
            f"L{layer} H{head} · score {float(clf.head_scores[layer, head]):.3f} · rank {rank}"
            + (", kept" if (layer, head) in kept else ""),
            head_value(layer, head),
        )
        for rank, (layer, head) in enumerate(lesson.ranking(studio), 1)
    ]
    return gr.update(choices=choices, value=head_value(*chosen))


def class_attention_views(studio: Studio) -> tuple[Any, str]:
    """Where the inspected head looks, per class (`lesson.class_attention_views`)."""
    return lesson.class_attention_views(studio, inspected_head(studio))


def head_map_view(studio: Studio) -> Any:
    """The inspected head's training vectors on a plane (`lesson.head_map`)."""
    chosen = inspected_head(studio)
    if chosen is None:
        return plots.empty_figure("Click 'Extract' to see a head's vectors", height=320)
    return lesson.head_map(studio, *chosen)


def ticked_heads(studio: Studio) -> list[tuple[int, int]]:
    """The selected heads the re-tally counts: all but those the visitor unticked."""
    clf = studio.classifier
    heads = [(h.layer, h.head) for h in clf.heads] if clf is not None else []
    return [h for h in heads if h not in set(studio.heads_off)]


def vote_heads_update(studio: Studio) -> Any:
    """One box per selected head ("L2 H3 (red)": its vote on the last input), ticked unless the
    visitor unticked it."""
    clf, votes = studio.classifier, {(e.layer, e.head): e.vote for e in studio.explanations()}
    if clf is None:
        return gr.update(choices=[], value=[])
    choices = [
        (
            f"L{h.layer} H{h.head}"
            + (f" ({votes[h.layer, h.head]})" if (h.layer, h.head) in votes else ""),
            head_value(h.layer, h.head),
        )
        for h in clf.heads
    ]
    return gr.update(choices=choices, value=[head_value(*h) for h in ticked_heads(studio)])


def retally_views(studio: Studio) -> tuple:
    """(re-tally line, re-tallied vote bars) of the last input, by the ticked heads."""
    ticked = ticked_heads(studio)
    p = lesson.retally(studio, ticked)
    bars = (
        plots.probability_bars(p, studio.classifier.labels)
        if p is not None
        else plots.empty_figure("Classify an input, then untick heads", height=200)
    )
    return lesson.retally_line(studio, ticked, p), bars


def attention_views(studio: Studio) -> tuple:
    """(overlay image, highlighted tokens, inspector line, inspector rows) for the chosen head."""
    chosen = inspected_head(studio)
    if chosen is None:
        return None, [], "Extract, then classify an input to see where its heads looked.", []
    report = lesson.head_report(studio, *chosen)
    expl = next((e for e in studio.explanations() if (e.layer, e.head) == chosen), None)
    last = studio.last_classification
    overlay = None
    if expl is not None and last.image is not None:
        try:
            overlay = _shown_large(plots.attention_overlay(last.image, expl))
        except ValueError:  # this model's image tokens do not map to patches
            overlay = None
    tokens = (
        [(t, round(w, 3)) for t, w in plots.attention_highlights(expl)] if expl is not None else []
    )
    return overlay, tokens, inspector_line(studio, report), inspector_rows(report)


def _shown_large(image: Image.Image, side: int = 256) -> Image.Image:
    """A small picture scaled up by a whole factor (nearest: patches stay sharp blocks), so a
    webcam thumbnail's heat overlay is not drawn as a few pixels."""
    factor = side // max(image.size)
    return (
        image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
        if factor > 1
        else image
    )


def inspector_line(studio: Studio, report: dict) -> str:
    head = f"**Layer {report['layer']}, head {report['head']}**"
    if report["selected"]:
        line = f"{head} · rank {report['rank']} of {report['k']} · score {report['score']:.3f}"
        if report["vote"] is not None:
            line += f" · votes **{md(report['vote'])}** for this input"
    else:
        line = f"{head} · not selected · score {report['score']:.3f}"
        if report["vote"] is not None:
            line += f" · nearest class mean for this input: **{md(report['vote'])}**"
    line += f"\n\n{lesson.why_line(report)}"
    last = studio.last_classification
    if last is not None and last.explain_error:
        line += f"\n\nNo attention for this input: {md(last.explain_error, 300)}"
    elif last is None:
        line += "\n\nClassify an input to see where this head looked and how it voted."
    elif report["cosines"] is None and last.vectors is None:
        line += "\n\nClassify an input in this tab to compare this head with it."
    elif report["cosines"] is None and report["layer"] >= last.vectors.shape[0]:
        line += (
            "\n\nClassify stops after the deepest selected layer, so this input was never "
            "run through this head's layer: no cosines for it."
        )
    if last is not None and not report["selected"]:
        line += "\n\nWhere a head looked is read for the selected heads only."
    if report["class_accuracy"] is None:
        line += (
            "\n\nNo training accuracies: the classifier was imported or is out of date; "
            "click 'Extract'."
        )
    return line


def inspector_rows(report: dict) -> list[list]:
    """[class, training accuracy, cosine with its mean for this input, vote mark] per class."""
    accuracy, cosines = report["class_accuracy"] or {}, report["cosines"] or {}
    classes = list(dict.fromkeys([*accuracy, *cosines]))
    return [
        [
            c,
            round(accuracy[c], 3) if c in accuracy else "–",
            round(cosines[c], 3) if c in cosines else "–",
            ("◀ vote" if report["selected"] else "◀ nearest") if c == report["vote"] else "",
        ]
        for c in classes
    ]
