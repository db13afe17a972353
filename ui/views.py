"""What the page shows, drawn from one session's state after every action ("the page never
lies"). Every string a visitor or a shared file supplied passes through `savs.markup.md` here.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from savs import plots
from savs.markup import md
from savs.studio import Studio
from savs.text import plural


def status_line(studio: Studio) -> str:
    info = studio.model_info
    if info is None:
        return "**No model loaded.** Pick one and click 'Load model'."
    kind = "vision-language" if info.is_vlm else "text-only"
    return (f"Model: **{md(info.name)}** ({kind}, {info.num_layers} layers x {info.num_heads} "
            f"heads, {info.device})")


def k_update(studio: Studio) -> Any:
    top = studio.model_info.num_all_heads if studio.model_info else max(studio.k, 64)
    return gr.update(minimum=1, maximum=top, value=min(studio.k, top))


def session_summary(studio: Studio) -> str:
    text = md(studio.summary(), limit=500)
    if studio.recording:
        text += f" · recording {plural(studio.record_left, 'frame')} into **{md(studio.recording)}**"
    return text


def cards_key(studio: Studio) -> str:
    """Changes exactly when the class cards must be drawn again (classes, examples, model kind)."""
    is_vlm = studio.model_info.is_vlm if studio.model_info else True
    return f"{studio.revision}|{len(studio.classes)}|{studio.num_examples()}|{int(is_vlm)}"


def fit_views(studio: Studio) -> tuple:
    """Heatmap, top-heads table and fit line for the session's classifier."""
    clf = studio.classifier
    if clf is None:
        return (plots.empty_figure("Click 'Extract' to score every attention head"),
                [], "No classifier yet.")
    rows = [[rank, h.layer, h.head, round(float(clf.head_scores[h.layer, h.head]), 3)]
            for rank, h in enumerate(clf.heads, 1)]
    acc = clf.config.get("train_accuracy")
    line = (f"**{plural(clf.k, 'head')}** selected ({md(clf.config.get('scoring', '?'))} "
            f"scoring) on `{md(studio.classifier_model or '?')}`"
            + (f" · fit accuracy **{acc:.0%}**" if isinstance(acc, float) else ""))
    if studio.stale:
        line = f"⚠️ **Out of date**: {md(studio.stale_message(), 400)}\n\n{line}"
    elif studio.model and studio.classifier_model and studio.model != studio.classifier_model:
        line += (f"\n\nThe classifier runs on `{md(studio.classifier_model)}`; click 'Extract' "
                 f"to fit one on `{md(studio.model)}`.")
    last = studio.last_classification
    figure = plots.classifier_heatmap(clf, last.prediction if last else None)
    return figure, rows, line


def prediction_views(studio: Studio) -> tuple:
    """Prediction label, vote bars and timing line of the session's last classification."""
    last, clf = studio.last_classification, studio.classifier
    if last is None or clf is None:
        return None, plots.empty_figure("Classify an input to see the votes", height=200), ""
    p = last.prediction
    label = {lab: p.probabilities[lab] for lab in clf.labels}
    timing = (f"{md(p.label)} · {max(p.votes.values())}/{clf.k} head votes · "
              f"{last.seconds * 1000:.0f} ms")
    return label, plots.probability_bars(p, clf.labels), timing


def evaluation_views(studio: Studio) -> tuple:
    ev = studio.last_evaluation
    if ev is None:
        return "", [], plots.empty_figure("Evaluate to see the confusion matrix", height=260), []
    r = ev.report
    rows = [[lab, round(v["precision"], 3), round(v["recall"], 3), int(v["support"])]
            for lab, v in r.per_class.items()]
    mistakes = [(ex.images[0], f"true {true} → {pred}") for ex, true, pred in ev.mistakes()
                if ex.images][:60]
    line = (f"Accuracy **{r.accuracy:.1%}** on {plural(len(ev.examples), 'example')} "
            f"({plural(len(r.mistakes), 'mistake')}) · {ev.seconds:.1f} s")
    if ev.zero_shot_accuracy is not None:
        line += f" · zero-shot baseline **{ev.zero_shot_accuracy:.1%}**"
    return line, rows, plots.confusion_heatmap(r), mistakes


def undo_update(studio: Studio) -> Any:
    r = studio.last_removal
    return gr.update(visible=r is not None,
                     value=f"Undo: restore {r.what}" if r else "Undo")


def page(studio: Studio) -> tuple:
    """Everything the page shows, in the order of `app.PAGE`."""
    is_vlm = studio.model_info.is_vlm if studio.model_info else True
    return (status_line(studio), k_update(studio), studio.scoring, session_summary(studio),
            undo_update(studio), cards_key(studio), gr.update(visible=is_vlm),
            gr.update(visible=is_vlm), *fit_views(studio), *prediction_views(studio),
            *evaluation_views(studio))
