"""SAVs Studio: build a few-shot classifier from a generative model in the browser, and see which
attention heads do the work.

    python app.py [--model NAME] [--host 127.0.0.1] [--port 7860]

NAME is a bundled model ("tiny", "smollm2"), a hub id or a local folder (default: $SAVS_MODEL,
else "tiny"). This file is only the UI: every capability is a method of `savs.studio.Studio`
(one per browser session, in gr.State) and every figure comes from `savs.plots`. The model and
the activation cache are module-level and shared by all sessions; a session's examples and
classifier are its own.
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import gradio as gr
import torch

from savs import plots
from savs.activations import ActivationCache, extract
from savs.errors import SavsError
from savs.models.registry import BUNDLED, HUB_SUGGESTIONS
from savs.studio import SharedModel, Studio, list_example_tasks

MODEL_ENV = "SAVS_MODEL"
MAX_CARDS = 8  # class cards shown; a session may hold more classes (listed in the summary)
GALLERY_PREVIEW = 18  # newest images shown per card
MODEL_QUEUE = "model"  # concurrency_id of every event that runs the model

MODEL = SharedModel()  # loaded once, shared by all sessions
CACHE = ActivationCache(max_bytes=int(os.environ.get("SAVS_CACHE_BYTES", 2 << 30)))

try:  # Hugging Face Spaces (ZeroGPU): GPU work runs inside spaces.GPU
    import spaces  # type: ignore[import-not-found]

    gpu = spaces.GPU(duration=120)
except ImportError:
    def gpu(fn: Callable) -> Callable:
        return fn


def user_errors(fn: Callable) -> Callable:
    """Show a user's mistake (SavsError) as a gr.Error toast; the session state is unchanged
    because Studio methods check everything before they change anything."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SavsError as exc:
            raise gr.Error(str(exc), title="Cannot do that") from None
    return wrapper


def _progress_fn(progress: Any, desc: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        progress(done / max(total, 1), desc=f"{desc} {done}/{total}")
    return report


# ---------------------------------------------------------------------------------------------
# Views of a Studio (what the components show)


def card_updates(studio: Studio) -> list:
    """For every card slot: visible?, class name, count line, gallery."""
    names = list(studio.classes)
    out: list = []
    for i in range(MAX_CARDS):
        if i < len(names):
            examples = studio.classes[names[i]]
            n_images = sum(1 for ex in examples if ex.images)
            count = f"**{len(examples)}** example{'s' * (len(examples) != 1)}" + (
                f" ({len(examples) - n_images} text-only)" if len(examples) > n_images else "")
            sheet = plots.contact_sheet([ex.images[0] for ex in examples
                                         if ex.images][-GALLERY_PREVIEW:])
            out += [gr.update(visible=True), gr.update(value=names[i]), count,
                    gr.update(value=sheet, visible=sheet is not None)]
        else:
            out += [gr.update(visible=False), gr.update(value=""), "", gr.update(value=None)]
    return out


def session_summary(studio: Studio) -> str:
    text = studio.summary()
    if len(studio.classes) > MAX_CARDS:
        hidden = ", ".join(list(studio.classes)[MAX_CARDS:])
        text += f". Only {MAX_CARDS} cards are shown; also: {hidden}"
    return text


def fit_views(studio: Studio) -> tuple:
    """Heatmap, top-heads table and fit line for the session's classifier."""
    clf = studio.classifier
    if clf is None:
        return (plots.empty_figure("Click 'Extract' to score every attention head"),
                [], "No classifier yet.")
    rows = [[rank, h.layer, h.head, round(float(clf.head_scores[h.layer, h.head]), 3)]
            for rank, h in enumerate(clf.heads, 1)]
    acc = clf.config.get("train_accuracy")
    line = (f"**{clf.k} heads** selected ({clf.config.get('scoring', '?')} scoring) on "
            f"`{clf.config.get('model', '?')}`"
            + (f" · fit accuracy **{acc:.0%}**" if isinstance(acc, float) else ""))
    return plots.classifier_heatmap(clf), rows, line


def model_status() -> str:
    if MODEL.name:
        a = MODEL.adapter
        kind = "vision-language" if a.is_vlm else "text-only"
        return (f"Model: **{a.name}** ({kind}, {a.num_layers} layers x {a.num_heads} heads, "
                f"{a.device})")
    return "**No model loaded.** " + (MODEL.last_error or "Pick one and click 'Load model'.")


def _k_max() -> int:
    return MODEL.adapter.num_layers * MODEL.adapter.num_heads if MODEL.name else 64


# ---------------------------------------------------------------------------------------------
# Callbacks: small, typed, one Studio method each


@user_errors
def load_model_cb(name: str, progress: Any = gr.Progress()) -> tuple[str, Any]:
    progress(0.1, desc=f"Loading {name} ...")
    try:
        MODEL.load(name)
    except SavsError as exc:
        keep = f" The app keeps using {MODEL.name}." if MODEL.name else ""
        raise gr.Error(f"{exc}{keep}", title="Model not loaded") from None
    return model_status(), gr.update(maximum=_k_max(), value=min(20, _k_max()))


@user_errors
def add_class_cb(studio: Studio) -> tuple:
    studio.add_class()
    return (studio, *card_updates(studio), session_summary(studio))


@user_errors
def rename_class_cb(studio: Studio, slot: int, new_name: str) -> tuple:
    names = list(studio.classes)
    if slot < len(names) and new_name.strip() != names[slot]:
        studio.rename_class(names[slot], new_name)
    return (studio, *card_updates(studio), session_summary(studio))


@user_errors
def delete_class_cb(studio: Studio, slot: int) -> tuple:
    names = list(studio.classes)
    if slot < len(names):
        studio.delete_class(names[slot])
    return (studio, *card_updates(studio), session_summary(studio))


@user_errors
def add_files_cb(studio: Studio, slot: int, files: list | None, text: str) -> tuple:
    """Uploaded images (many at once) become examples of the card's class."""
    paths = [f if isinstance(f, str) else f.name for f in files or []]
    if paths:
        studio.add_examples(list(studio.classes)[slot], paths, text)
    return (studio, None, *card_updates(studio), session_summary(studio))


@user_errors
def add_example_cb(studio: Studio, slot: int, image: str | None, text: str) -> tuple:
    """One example from the webcam / clipboard image and/or the text."""
    studio.add_examples(list(studio.classes)[slot], [image] if image else [], text)
    return (studio, None, *card_updates(studio), session_summary(studio))


@user_errors
def remove_last_cb(studio: Studio, slot: int) -> tuple:
    """Undo for the card: drop its newest example."""
    name = list(studio.classes)[slot]
    if not studio.classes[name]:
        raise gr.Error(f"Class {name!r} has no examples to remove.")
    studio.remove_example(name, len(studio.classes[name]) - 1)
    return (studio, *card_updates(studio), session_summary(studio))


@user_errors
def set_prompt_cb(studio: Studio, prompt: str) -> Studio:
    studio.set_prompt(prompt)
    return studio


@user_errors
def load_task_cb(studio: Studio, task: str) -> tuple:
    if not task:
        raise gr.Error("Pick an example task first.")
    n = studio.load_example_task(task)
    gr.Info(f"Loaded example task '{task}': {n} examples. Now click 'Extract'.")
    return (studio, studio.prompt, *card_updates(studio), session_summary(studio), *fit_views(studio))


@user_errors
def import_dataset_cb(studio: Studio, file: str | None) -> tuple:
    if not file:
        raise gr.Error("Choose a .jsonl or .zip file to import.")
    n = studio.import_dataset(file)
    gr.Info(f"Imported {n} examples in {len(studio.classes)} classes.")
    return (studio, studio.prompt, min(studio.k, _k_max()), studio.scoring,
            *card_updates(studio), session_summary(studio))


@gpu
def _extract_on_device(studio: Studio, progress: Any) -> tuple[Studio, torch.Tensor]:
    """The model-running part: returns the studio and its activations [N, L, H, d] (under
    ZeroGPU both are pickled back, so the main process refills the shared cache from them)."""
    with MODEL.lock:
        studio.extract_and_fit(MODEL.adapter, CACHE, _progress_fn(progress, "Extracting"))
        acts = [CACHE.get(key) for key in studio.activation_keys]
        if any(a is None for a in acts):  # the bounded shared cache already dropped some (a
            # session larger than it, or another session's extraction): run those again
            return studio, extract(MODEL.adapter, studio.training_examples(),
                                   studio.prompt or None, cache=CACHE)
    return studio, torch.stack(acts)


@user_errors
def extract_cb(studio: Studio, prompt: str, k: int, scoring: str,
               progress: Any = gr.Progress()) -> tuple:
    studio.set_prompt(prompt)
    studio.k, studio.scoring = int(k), scoring
    studio, acts = _extract_on_device(studio, progress)
    for key, value in zip(studio.activation_keys, acts):
        CACHE.put(key, value)
    return (studio, *fit_views(studio), session_summary(studio))


@user_errors
def refit_cb(studio: Studio, k: int, scoring: str) -> tuple:
    """k slider / scoring radio: refit from cached activations (no model run)."""
    if not studio.activation_keys:  # nothing extracted yet: just remember the choice
        studio.k, studio.scoring = int(k), scoring
        return (studio, *fit_views(studio), session_summary(studio))
    studio.refit(MODEL.adapter, CACHE, k=int(k), scoring=scoring)
    return (studio, *fit_views(studio), session_summary(studio))


@gpu
def _classify_on_device(studio: Studio, image: str | None, text: str):
    with MODEL.lock:
        return studio.classify(MODEL.adapter, image, text)


@user_errors
def classify_cb(studio: Studio, image: str | None, text: str) -> tuple:
    result = _classify_on_device(studio, image, text)
    p, clf = result.prediction, studio.classifier
    label = {lab: p.probabilities[lab] for lab in clf.labels}
    timing = f"{p.label} · {max(p.votes.values())}/{clf.k} head votes · {result.seconds * 1000:.0f} ms"
    return label, plots.probability_bars(p, clf.labels), plots.classifier_heatmap(clf, p), timing


@gpu
def _evaluate_on_device(studio: Studio, path: str, zero_shot: bool, progress: Any):
    with MODEL.lock:
        return studio.evaluate(MODEL.adapter, path, _progress_fn(progress, "Classifying"),
                               zero_shot=zero_shot)


def _evaluation_views(studio: Studio, path: str, zero_shot: bool, progress: Any) -> tuple:
    ev = _evaluate_on_device(studio, path, zero_shot, progress)
    r = ev.report
    rows = [[lab, round(v["precision"], 3), round(v["recall"], 3), int(v["support"])]
            for lab, v in r.per_class.items()]
    mistakes = [(ex.images[0], f"true {true} → {pred}") for ex, true, pred in ev.mistakes()
                if ex.images][:60]
    line = (f"Accuracy **{r.accuracy:.1%}** on {len(ev.examples)} examples "
            f"({len(r.mistakes)} mistakes) · {ev.seconds:.1f} s")
    if ev.zero_shot_accuracy is not None:
        line += f" · zero-shot baseline **{ev.zero_shot_accuracy:.1%}**"
    return line, rows, plots.confusion_heatmap(r), mistakes


@user_errors
def evaluate_cb(studio: Studio, file: str | None, zero_shot: bool = False,
                progress: Any = gr.Progress()) -> tuple:
    if not file:
        raise gr.Error("Upload a labeled test set (.jsonl or .zip) first.")
    return _evaluation_views(studio, file, zero_shot, progress)


@user_errors
def evaluate_task_cb(studio: Studio, zero_shot: bool = False,
                     progress: Any = gr.Progress()) -> tuple:
    path = studio.task_test_set()
    if path is None:
        raise gr.Error("Load a bundled example task first: its test set is evaluated here.")
    return _evaluation_views(studio, str(path), zero_shot, progress)


def _export_path(name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix="savs-out-")) / name


@user_errors
def export_classifier_cb(studio: Studio) -> str:
    return str(studio.export_classifier(_export_path("savs-classifier.zip")))


@user_errors
def export_dataset_cb(studio: Studio) -> str:
    return str(studio.export_dataset(_export_path("savs-dataset.zip")))


@user_errors
def import_classifier_cb(studio: Studio, file: str | None) -> tuple:
    if not file:
        raise gr.Error("Choose a classifier .zip to import.")
    studio.import_classifier(file, MODEL.adapter)
    gr.Info(f"Classifier imported: {len(studio.classifier.labels)} classes, "
            f"{studio.classifier.k} heads.")
    return (studio, gr.update(value=studio.k), studio.scoring, *fit_views(studio),
            session_summary(studio))


# ---------------------------------------------------------------------------------------------
# Layout

CSS = """
.card {border: 1px solid var(--border-color-primary); border-radius: 12px; padding: 8px;}
.step-title h3 {margin: 0 0 4px 0;}
#predicted-label .output-class {font-size: 1.6rem;}
footer {display: none !important;}
"""

THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="amber", radius_size="lg")


def model_choices() -> list[str]:
    """Only models that can load here (bundled files present; hub models when reachable)."""
    from savs.models.registry import available_models

    return available_models()


def build_demo() -> gr.Blocks:
    """The whole UI. Model-bound events share one concurrency slot (MODEL_QUEUE)."""
    with gr.Blocks(title="SAVs Studio", delete_cache=(3600, 7200)) as demo:
        studio = gr.State(Studio())
        gr.Markdown("# SAVs Studio\nTeach a generative model new classes from a few examples, "
                    "and see which of its attention heads do the work "
                    "([Sparse Attention Vectors](https://arxiv.org/abs/2412.00142)).")
        with gr.Row():
            model_box = gr.Dropdown(model_choices(), value=MODEL.name or None, label="Model",
                                    allow_custom_value=True, scale=3,
                                    info="bundled, a hub id, or a local folder")
            with gr.Column(scale=2, min_width=200):
                load_model_btn = gr.Button("Load model")
                status = gr.Markdown(model_status())
        with gr.Row():
            # ----- 1. data
            with gr.Column(scale=5):
                gr.Markdown("### 1 · Classes", elem_classes="step-title")
                with gr.Row():
                    task_box = gr.Dropdown(list_example_tasks(), label="Example task", scale=3,
                                           value=None)
                    load_task_btn = gr.Button("Load example task", scale=1, min_width=120)
                prompt = gr.Textbox(label="Instruction prompt (shared by every example)",
                                    placeholder="What colour is the shape?")
                cards = []
                for _slot in range(MAX_CARDS):
                    with gr.Group(visible=False, elem_classes="card",
                                  elem_id=f"class-card-{_slot}") as group:
                        with gr.Row(equal_height=True):
                            name = gr.Textbox(show_label=False, scale=4, container=False,
                                              placeholder="class name")
                            delete = gr.Button("Delete", size="sm", variant="stop", scale=1,
                                               min_width=60)
                        count = gr.Markdown()
                        gallery = gr.Image(show_label=False, interactive=False, visible=False,
                                           container=False, buttons=[], height="auto")
                        with gr.Row():
                            files = gr.UploadButton("Upload images", file_count="multiple",
                                                    file_types=["image"], size="sm", scale=3)
                            undo = gr.Button("Remove last", size="sm", scale=1, min_width=90)
                        with gr.Accordion("Webcam, paste, or text-only example", open=False):
                            shot = gr.Image(sources=["webcam", "clipboard", "upload"],
                                            type="filepath", height=180, show_label=False)
                            text = gr.Textbox(label="Text for new examples (optional)")
                            add_one = gr.Button("Add example", size="sm")
                    cards.append((group, name, count, gallery, delete, files, shot, text, add_one,
                                  undo))
                add_class_btn = gr.Button("+ Add a class")
                summary = gr.Markdown(session_summary(Studio()))
                with gr.Accordion("Import a labeled dataset", open=False):
                    dataset_in = gr.File(file_types=[".jsonl", ".zip"], label="JSONL (text or "
                                         "absolute image paths), or .zip of JSONL + images, or "
                                         ".zip with one folder per class")
            # ----- 2. extract and inspect
            with gr.Column(scale=6):
                gr.Markdown("### 2 · Extract and inspect", elem_classes="step-title")
                extract_btn = gr.Button("Extract", variant="primary")
                with gr.Row():
                    k_slider = gr.Slider(1, _k_max(), value=min(20, _k_max()), step=1,
                                         label="Heads (k)")
                    scoring = gr.Radio(["loo", "reference"], value="loo", label="Scoring",
                                       info="loo: leave-one-out class means")
                fit_line = gr.Markdown("No classifier yet.")
                heatmap = gr.Plot(plots.empty_figure("Click 'Extract' to score every attention "
                                                     "head"), show_label=False, elem_id="head-heatmap")
                top_heads = gr.Dataframe(headers=["rank", "layer", "head", "score"],
                                         label="Top heads", interactive=False, max_height=240)
            # ----- 3. try it
            with gr.Column(scale=4):
                gr.Markdown("### 3 · Classify", elem_classes="step-title")
                query_image = gr.Image(sources=["upload", "webcam", "clipboard"], type="filepath",
                                       label="Image", height=220, elem_id="query-image")
                query_text = gr.Textbox(label="Text (optional)")
                classify_btn = gr.Button("Classify", variant="primary")
                predicted = gr.Label(label="Prediction", num_top_classes=3, elem_id="predicted-label")
                timing = gr.Markdown()
                bars = gr.Plot(show_label=False, elem_id="vote-bars")
        with gr.Tab("Evaluate"):
            with gr.Row():
                test_in = gr.File(file_types=[".jsonl", ".zip"], label="Labeled test set "
                                  "(.zip of JSONL + images, or one folder per class)", scale=3,
                                  height=120)
                with gr.Column(scale=1):
                    eval_btn = gr.Button("Evaluate uploaded test set", variant="primary")
                    eval_task_btn = gr.Button("Evaluate example task's test set")
                    zero_shot = gr.Checkbox(label="Compare with zero-shot (slower)",
                                            info="the model answering with a label itself")
            eval_line = gr.Markdown()
            with gr.Row():
                per_class = gr.Dataframe(headers=["class", "precision", "recall", "support"],
                                         label="Per class", interactive=False)
                confusion = gr.Plot(plots.empty_figure("Evaluate to see the confusion matrix",
                                                       height=260), show_label=False)
            mistakes = gr.Gallery(label="Mistakes", columns=8, height=240, interactive=False)
        with gr.Tab("Save and share"):
            with gr.Row():
                with gr.Column():
                    gr.Markdown("**Classifier** (.zip: safetensors + JSON)")
                    export_clf_btn = gr.Button("Export classifier")
                    clf_out = gr.File(label="Download", interactive=False)
                    clf_in = gr.File(file_types=[".zip"], label="Import classifier")
                with gr.Column():
                    gr.Markdown("**Dataset** (.zip: JSONL + images + prompt)")
                    export_ds_btn = gr.Button("Export dataset")
                    ds_out = gr.File(label="Download", interactive=False)
                    ds_in = gr.File(file_types=[".zip", ".jsonl"], label="Import dataset")

        # ----- events
        card_outputs = [c for (group, name, count, gallery, *_rest) in cards
                        for c in (group, name, count, gallery)]
        views = [heatmap, top_heads, fit_line]
        private = dict(api_visibility="private")
        model_bound = dict(concurrency_id=MODEL_QUEUE, concurrency_limit=1)

        load_model_btn.click(load_model_cb, model_box, [status, k_slider], api_name="load_model",
                             **model_bound)
        add_class_btn.click(add_class_cb, studio, [studio, *card_outputs, summary],
                            api_name="add_class")
        for slot, (_group, name, _count, _gallery, delete, files, shot, text, add_one, undo) \
                in enumerate(cards):
            index = gr.Number(slot, visible=False, precision=0)
            name.submit(rename_class_cb, [studio, index, name], [studio, *card_outputs, summary],
                        **private)
            name.blur(rename_class_cb, [studio, index, name], [studio, *card_outputs, summary],
                      **private)
            delete.click(delete_class_cb, [studio, index], [studio, *card_outputs, summary],
                         **private)
            files.upload(add_files_cb, [studio, index, files, text],
                         [studio, files, *card_outputs, summary], **private)
            undo.click(remove_last_cb, [studio, index], [studio, *card_outputs, summary],
                       **private)
            add_one.click(add_example_cb, [studio, index, shot, text],
                          [studio, shot, *card_outputs, summary], **private)
        prompt.blur(set_prompt_cb, [studio, prompt], studio, **private)
        load_task_btn.click(load_task_cb, [studio, task_box],
                            [studio, prompt, *card_outputs, summary, *views],
                            api_name="load_example_task")
        dataset_in.upload(import_dataset_cb, [studio, dataset_in],
                          [studio, prompt, k_slider, scoring, *card_outputs, summary],
                          api_name="import_dataset")
        ds_in.upload(import_dataset_cb, [studio, ds_in],
                     [studio, prompt, k_slider, scoring, *card_outputs, summary], **private)
        extract_btn.click(extract_cb, [studio, prompt, k_slider, scoring],
                          [studio, *views, summary], api_name="extract", **model_bound)
        k_slider.release(refit_cb, [studio, k_slider, scoring], [studio, *views, summary],
                         api_name="refit")
        scoring.change(refit_cb, [studio, k_slider, scoring], [studio, *views, summary],
                       **private)
        classify_btn.click(classify_cb, [studio, query_image, query_text],
                           [predicted, bars, heatmap, timing], api_name="classify", **model_bound)
        eval_btn.click(evaluate_cb, [studio, test_in, zero_shot], [eval_line, per_class, confusion, mistakes],
                       api_name="evaluate", **model_bound)
        eval_task_btn.click(evaluate_task_cb, [studio, zero_shot], [eval_line, per_class, confusion, mistakes],
                            api_name="evaluate_task", **model_bound)
        export_clf_btn.click(export_classifier_cb, studio, clf_out, api_name="export_classifier")
        export_ds_btn.click(export_dataset_cb, studio, ds_out, api_name="export_dataset")
        clf_in.upload(import_classifier_cb, [studio, clf_in],
                      [studio, k_slider, scoring, *views, summary], api_name="import_classifier")
    demo.queue(default_concurrency_limit=8, max_size=64)
    return demo


def launch_kwargs() -> dict:
    """Settings every launch uses (the app's look and its upload limit)."""
    return dict(theme=THEME, css=CSS, max_file_size="64mb")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SAVs Studio: the browser app.")
    parser.add_argument("--model", default=os.environ.get(MODEL_ENV, "tiny"),
                        help=f"model to load at start (default: ${MODEL_ENV} or 'tiny')")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    try:
        MODEL.load(args.model)
        print(f"Loaded {MODEL.adapter}")
    except SavsError as exc:
        print(f"Warning: {exc}\nThe app starts without a model; pick one in the model box.")
    build_demo().launch(server_name=args.host, server_port=args.port, **launch_kwargs())


if __name__ == "__main__":
    main()
