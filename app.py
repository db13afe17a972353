"""SAVs Studio: build a few-shot classifier from a generative model in the browser, and see which
attention heads do the work.

    python app.py [--model NAME] [--host 127.0.0.1] [--port 7860]

NAME is a bundled model ("tiny", "smollm2"), a hub id or a local folder (default: $SAVS_MODEL,
else "tiny"): the model every new session starts on. This file is only the UI: a session's state
and actions are `savs.studio.Studio` (one per browser session, in gr.State), its model is lent
by the shared `savs.pool.ModelPool`, and every figure comes from `savs.plots`.

Rules the callbacks keep:
- every session owns its state; `/load_model` changes the calling session's model only;
- after every action the page is redrawn from the session's state (`page`), so what it shows
  is never stale, and a successful action clears the error marks a failed one left;
- everything a visitor or a shared file supplies is escaped (`savs.markup`) before it is shown,
  and no message shows a server path.
"""

from __future__ import annotations

import argparse
import functools
import os
import threading
from pathlib import Path
from typing import Any, Callable

import gradio as gr
import torch

from savs import plots
from savs.activations import ActivationCache
from savs.classifier import SAVClassifier
from savs.errors import SavsError
from savs.limits import HOSTED
from savs.markup import hide_paths, md, plain
from savs.models.registry import BUNDLED, HUB_SUGGESTIONS, load_model
from savs.pool import ModelPool, max_models_from_env
from savs.studio import Studio, list_example_tasks
from savs.text import plural

MODEL_ENV = "SAVS_MODEL"
ALLOWED_MODELS_ENV = "SAVS_ALLOWED_MODELS"
MAX_CARDS = 8  # class cards shown; a session may hold more classes (listed in the summary)
GALLERY_PREVIEW = 18  # newest images shown per card
MODEL_QUEUE = "model"  # concurrency_id of every event that runs a model
MODEL_WORKERS = 4  # model events at once (each model still runs one at a time: the pool's lock)


def _operator_models() -> set[str]:
    raw = os.environ.get(ALLOWED_MODELS_ENV, "")
    return {a.strip() for a in raw.split(",") if a.strip()}


START = {"model": os.environ.get(MODEL_ENV, "tiny")}  # the model new sessions start on


def hosted_loader(name: str):
    """Visitors load bundled names and hub ids; a local folder only when the operator named it
    (SAVS_ALLOWED_MODELS, or `--model` at start)."""
    return load_model(name, local_folders=name in _operator_models() | {START["model"]})


POOL = ModelPool(loader=hosted_loader)
CACHE = ActivationCache(max_bytes=int(os.environ.get("SAVS_CACHE_BYTES", 2 << 30)))
SESSIONS: dict[str, Studio] = {}  # session hash -> its Studio, freed when the page closes
_SESSIONS_LOCK = threading.Lock()

try:  # Hugging Face Spaces (ZeroGPU): GPU work runs inside spaces.GPU
    import spaces  # type: ignore[import-not-found]

    gpu = spaces.GPU(duration=120)
except ImportError:
    def gpu(fn: Callable) -> Callable:
        return fn


def start_session(studio: Studio) -> None:
    """A session that has not chosen a model starts on the app's start model (pages and
    gradio_client sessions alike)."""
    if not studio.model:
        studio.model = START["model"]
        studio.model_info = POOL.info(studio.model)


def user_errors(fn: Callable) -> Callable:
    """Show a user's mistake (SavsError) as a toast, escaped and without server paths; the
    session is unchanged because Studio methods check everything before they change anything."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if args and isinstance(args[0], Studio):
            start_session(args[0])
        try:
            return fn(*args, **kwargs)
        except SavsError as exc:
            raise gr.Error(plain(hide_paths(str(exc))), title="Cannot do that") from None
    return wrapper


def _progress_fn(progress: Any, desc: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        progress(done / max(total, 1), desc=f"{desc} {done}/{total}")
    return report


def _notice(progress: Any) -> Callable[[str], None]:
    return lambda message: progress(0.0, desc=message)


def _discard_upload(path: str | None) -> None:
    """An upload is read once, then its file goes (gradio's own cache sweep is a backstop)."""
    if path:
        Path(path).unlink(missing_ok=True)



# ---------------------------------------------------------------------------------------------
# The page: every session-bound component, drawn from the session's state


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


def card_updates(studio: Studio) -> list:
    """For every card slot: visible?, class name, count line, preview."""
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
    text = md(studio.summary(), limit=500)
    if len(studio.classes) > MAX_CARDS:
        hidden = ", ".join(md(n, 60) for n in list(studio.classes)[MAX_CARDS:])
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


def classify_views(studio: Studio) -> tuple:
    """Prediction label, vote bars and timing of the session's last classification."""
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
    return gr.update(visible=r is not None, value=f"Undo: restore {r.what}" if r else "Undo")


def page(studio: Studio) -> tuple:
    """Everything PAGE shows, from the session's state, in PAGE's order."""
    is_vlm = studio.model_info.is_vlm if studio.model_info else True
    return (status_line(studio), k_update(studio), studio.scoring, session_summary(studio),
            undo_update(studio), gr.update(visible=is_vlm), *card_updates(studio),
            *fit_views(studio), *classify_views(studio), *evaluation_views(studio))


# ---------------------------------------------------------------------------------------------
# Callbacks: small, typed, one Studio action each, and the page redrawn after it


def on_page_load(studio: Studio, request: gr.Request) -> tuple:
    """A new page: its session starts on the app's start model (loaded at start)."""
    start_session(studio)
    if request is not None and request.session_hash:
        with _SESSIONS_LOCK:
            SESSIONS[request.session_hash] = studio
    return (studio, studio.prompt, *page(studio))


def redraw(studio: Studio) -> tuple:
    """After every public action (and its failure): the whole page from the session's state."""
    start_session(studio)
    return page(studio)


def on_page_close(request: gr.Request) -> None:
    """The page closed: free what the session held (images, activations, downloads)."""
    with _SESSIONS_LOCK:
        studio = SESSIONS.pop(request.session_hash, None) if request else None
    if studio is not None:
        studio.close()


@user_errors
def load_model_cb(studio: Studio, name: str, progress: Any = gr.Progress()) -> tuple:
    name = (name or "").strip()
    progress(0.1, desc=f"Loading {name} ...")
    studio.model_info = POOL.load(name, _notice(progress))
    studio.model = name
    studio.k = min(studio.k, studio.model_info.num_all_heads)
    return studio, status_line(studio), k_update(studio)


@user_errors
def add_class_cb(studio: Studio) -> tuple:
    studio.add_class()
    return (studio, *card_updates(studio), session_summary(studio))


@user_errors
def rename_class_cb(studio: Studio, slot: int, new_name: str) -> tuple:
    names = list(studio.classes)
    if slot < len(names) and (new_name or "").strip() != names[slot]:
        studio.rename_class(names[slot], new_name)
    return (studio, *card_updates(studio), session_summary(studio))


@user_errors
def delete_class_cb(studio: Studio, slot: int) -> tuple:
    names = list(studio.classes)
    if slot < len(names):
        studio.delete_class(names[slot])
    return (studio, *card_updates(studio), session_summary(studio))


@user_errors
def undo_cb(studio: Studio) -> tuple:
    studio.undo()
    return (studio, *card_updates(studio), session_summary(studio))


@user_errors
def add_files_cb(studio: Studio, slot: int, files: list | None, text: str) -> tuple:
    """Uploaded images (many at once) become examples of the card's class."""
    paths = [f if isinstance(f, str) else f.name for f in files or []]
    try:
        if paths:
            studio.add_examples(list(studio.classes)[slot], paths, text)
    finally:
        for p in paths:
            _discard_upload(p)
    return (studio, None, *card_updates(studio), session_summary(studio))


@user_errors
def add_example_cb(studio: Studio, slot: int, image: str | None, text: str) -> tuple:
    """One example from the webcam / clipboard image and/or the text."""
    studio.add_examples(list(studio.classes)[slot], [image] if image else [], text)
    return (studio, None, *card_updates(studio), session_summary(studio))


@user_errors
def remove_last_cb(studio: Studio, slot: int) -> tuple:
    """Drop the card's newest example (Undo brings it back)."""
    name = list(studio.classes)[slot]
    if not studio.classes[name]:
        raise gr.Error(f"Class {plain(name)} has no examples to remove.")
    studio.remove_example(name, len(studio.classes[name]) - 1)
    return (studio, *card_updates(studio), session_summary(studio))


@user_errors
def set_prompt_cb(studio: Studio, prompt: str) -> tuple:
    studio.set_prompt(prompt)
    return (studio, session_summary(studio))


@user_errors
def load_task_cb(studio: Studio, task: str) -> tuple:
    if not task:
        raise gr.Error("Pick an example task first.")
    n = studio.load_example_task(task)
    gr.Info(f"Loaded example task '{plain(task)}': {n} examples. Now click 'Extract'.")
    return (studio, studio.prompt, *card_updates(studio), session_summary(studio),
            *fit_views(studio))


@user_errors
def import_dataset_cb(studio: Studio, file: str | None) -> tuple:
    if not file:
        raise gr.Error("Choose a .jsonl or .zip file to import.")
    try:
        n = studio.import_dataset(file, confine=True)
    finally:
        _discard_upload(file)
    gr.Info(f"Imported {n} examples in {plural(len(studio.classes), 'class')}.")
    return (studio, studio.prompt, studio.k, studio.scoring, *card_updates(studio),
            session_summary(studio))


@gpu
def _extract_on_device(studio: Studio, progress: Any) -> Studio:
    """The model-running part (under ZeroGPU the studio is pickled there and back)."""
    with POOL.use(studio.model, _notice(progress)) as adapter:
        studio.extract_and_fit(adapter, CACHE, _progress_fn(progress, "Extracting"))
    return studio


@user_errors
def extract_cb(studio: Studio, prompt: str, k: int, scoring: str,
               progress: Any = gr.Progress()) -> tuple:
    studio.set_prompt(prompt)
    studio.k, studio.scoring = int(k), scoring
    studio = _extract_on_device(studio, progress)
    return (studio, *fit_views(studio), session_summary(studio))


@user_errors
def refit_cb(studio: Studio, k: int, scoring: str) -> tuple:
    """k slider / scoring radio: refit from the kept activations (no model run)."""
    if studio.activations is None or studio.stale:  # nothing to refit: remember the choice
        studio.k, studio.scoring = max(1, int(k)), scoring
    else:
        studio.refit(k=int(k), scoring=scoring)
    return (studio, *fit_views(studio), session_summary(studio))


@gpu
def _classify_on_device(studio: Studio, image: str | None, text: str) -> Studio:
    with POOL.use(studio.classifier_model or studio.model) as adapter:
        studio.classify(adapter, image, text)
    return studio


@user_errors
def classify_cb(studio: Studio, image: str | None, text: str) -> tuple:
    studio.check_input(image, text)  # before any model is lent or loaded
    studio = _classify_on_device(studio, image, text)
    label, bars, timing = classify_views(studio)
    return studio, label, bars, fit_views(studio)[0], timing


@gpu
def _evaluate_on_device(studio: Studio, path: str, zero_shot: bool, confine: bool,
                        progress: Any) -> Studio:
    with POOL.use(studio.classifier_model, _notice(progress)) as adapter:
        studio.evaluate(adapter, path, _progress_fn(progress, "Classifying"),
                        zero_shot=zero_shot, confine=confine)
    return studio


@user_errors
def evaluate_cb(studio: Studio, file: str | None, zero_shot: bool = False,
                progress: Any = gr.Progress()) -> tuple:
    if not file:
        raise gr.Error("Upload a labeled test set (.jsonl or .zip) first.")
    if studio.classifier is None:
        raise gr.Error("No classifier yet: add examples and click 'Extract', or import one.")
    try:
        studio = _evaluate_on_device(studio, file, zero_shot, True, progress)
    finally:
        _discard_upload(file)
    return (studio, *evaluation_views(studio))


@user_errors
def evaluate_task_cb(studio: Studio, zero_shot: bool = False,
                     progress: Any = gr.Progress()) -> tuple:
    path = studio.task_test_set()
    if path is None:
        raise gr.Error("Load a bundled example task first: its test set is evaluated here.")
    if studio.classifier is None:
        raise gr.Error("No classifier yet: click 'Extract' first.")
    studio = _evaluate_on_device(studio, str(path), zero_shot, False, progress)
    return (studio, *evaluation_views(studio))


@user_errors
def export_classifier_cb(studio: Studio) -> str:
    if studio.classifier is None:
        raise gr.Error("No classifier to export yet: click 'Extract' first.")
    return str(studio.export_classifier(studio.new_export_path("savs-classifier.zip")))


@user_errors
def export_dataset_cb(studio: Studio) -> str:
    if not studio.classes:
        raise gr.Error("Nothing to export: the session has no classes.")
    return str(studio.export_dataset(studio.new_export_path("savs-dataset.zip")))


@user_errors
def import_classifier_cb(studio: Studio, file: str | None, progress: Any = gr.Progress()) -> tuple:
    """A shared classifier runs on the model it names (loaded if this server allows it)."""
    if not file:
        raise gr.Error("Choose a classifier .zip to import.")
    try:
        clf = SAVClassifier.load(file, limits=HOSTED, require_model=True)
    finally:
        _discard_upload(file)
    model = str(clf.config.get("model") or "")
    with POOL.use(model, _notice(progress), work=False) as adapter:
        studio.import_classifier_object(clf, adapter)
    gr.Info(f"Classifier imported: {plural(len(clf.labels), 'class')}, "
            f"{plural(clf.k, 'head')}, on {plain(model)}.")
    return (studio, k_update(studio), studio.scoring, *fit_views(studio), session_summary(studio))


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
    return list(BUNDLED) + [m for m in HUB_SUGGESTIONS if m not in BUNDLED]


def _class_cards() -> list[tuple]:
    """MAX_CARDS card slots (hidden until a class fills them)."""
    cards = []
    for slot in range(MAX_CARDS):
        with gr.Group(visible=False, elem_classes="card", elem_id=f"class-card-{slot}") as group:
            with gr.Row(equal_height=True):
                name = gr.Textbox(show_label=False, scale=4, container=False,
                                  placeholder="class name")
                delete = gr.Button("Delete", size="sm", variant="stop", scale=1, min_width=60)
            count = gr.Markdown()
            gallery = gr.Image(show_label=False, interactive=False, visible=False,
                               container=False, buttons=[], height="auto")
            with gr.Row():
                files = gr.UploadButton("Upload images", file_count="multiple",
                                        file_types=["image"], size="sm", scale=3)
                undo = gr.Button("Remove last", size="sm", scale=1, min_width=90)
            with gr.Accordion("Webcam, paste, or text-only example", open=False):
                shot = gr.Image(sources=["webcam", "clipboard", "upload"], type="filepath",
                                height=180, show_label=False)
                text = gr.Textbox(label="Text for new examples (optional)")
                add_one = gr.Button("Add example", size="sm")
        cards.append((group, name, count, gallery, delete, files, shot, text, add_one, undo))
    return cards


def build_demo() -> gr.Blocks:
    """The whole UI. Model-bound events share one queue of MODEL_WORKERS; each model still runs
    one call at a time (the pool's per-model lock), so sessions on different models overlap."""
    with gr.Blocks(title="SAVs Studio", delete_cache=(300, 900)) as demo:
        studio = gr.State(Studio())
        gr.Markdown("# SAVs Studio\nTeach a generative model new classes from a few examples, "
                    "and see which of its attention heads do the work "
                    "([Sparse Attention Vectors](https://arxiv.org/abs/2412.00142)).")
        with gr.Row():
            model_box = gr.Dropdown(model_choices(), value=START["model"], label="Model",
                                    allow_custom_value=True, scale=3,
                                    info="bundled, or a hub id (this session only)")
            with gr.Column(scale=2, min_width=200):
                load_model_btn = gr.Button("Load model")
                status = gr.Markdown(elem_id="model-status")
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
                cards = _class_cards()
                with gr.Row():
                    add_class_btn = gr.Button("+ Add a class", scale=2)
                    undo_btn = gr.Button("Undo", visible=False, scale=2, elem_id="undo")
                summary = gr.Markdown(elem_id="session-summary")
                with gr.Accordion("Import a labeled dataset", open=False):
                    dataset_in = gr.File(file_types=[".jsonl", ".zip"], label="JSONL (text "
                                         "only), or .zip of JSONL + images, or .zip with one "
                                         "folder per class")
            # ----- 2. extract and inspect
            with gr.Column(scale=6):
                gr.Markdown("### 2 · Extract and inspect", elem_classes="step-title")
                extract_btn = gr.Button("Extract", variant="primary")
                with gr.Row():
                    k_slider = gr.Slider(1, 64, value=20, step=1, label="Heads (k)")
                    scoring = gr.Radio(["loo", "reference"], value="loo", label="Scoring",
                                       info="loo: leave-one-out class means")
                fit_line = gr.Markdown("No classifier yet.", elem_id="fit-line")
                heatmap = gr.Plot(show_label=False, elem_id="head-heatmap")
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
                timing = gr.Markdown(elem_id="timing")
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
            eval_line = gr.Markdown(elem_id="eval-line")
            with gr.Row():
                per_class = gr.Dataframe(headers=["class", "precision", "recall", "support"],
                                         label="Per class", interactive=False)
                confusion = gr.Plot(show_label=False)
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

        # ----- events: every one redraws PAGE from the session's state
        card_outputs = [c for (group, name, count, gallery, *_rest) in cards
                        for c in (group, name, count, gallery)]
        PAGE = [status, k_slider, scoring, summary, undo_btn, query_image, *card_outputs,
                heatmap, top_heads, fit_line, predicted, bars, timing,
                eval_line, per_class, confusion, mistakes]
        private = dict(api_visibility="private")
        model_bound = dict(concurrency_id=MODEL_QUEUE, concurrency_limit=MODEL_WORKERS)

        demo.load(on_page_load, studio, [studio, prompt, *PAGE], **private)
        demo.unload(on_page_close)

        def public(event: Any, fn: Callable, inputs: list, outputs: list, name: str,
                   **kwargs: Any) -> None:
            """A named API endpoint (stable outputs for gradio_client users), then the page
            redrawn from the session, whether the call succeeded or not."""
            event(fn, inputs, outputs, api_name=name, **kwargs).then(redraw, studio, PAGE,
                                                                    **private)

        def private_then(event: Any, fn: Callable, inputs: list, outputs: list) -> None:
            """A UI-only event, then the page redrawn from the session."""
            event(fn, inputs, outputs, **private).then(redraw, studio, PAGE, **private)

        views = [heatmap, top_heads, fit_line]
        public(load_model_btn.click, load_model_cb, [studio, model_box], [studio, status, k_slider],
               "load_model", **model_bound)
        public(add_class_btn.click, add_class_cb, studio, [studio, *card_outputs, summary],
               "add_class")
        public(undo_btn.click, undo_cb, studio, [studio, *card_outputs, summary], "undo")
        for slot, (_group, name, _count, _gallery, delete, files, shot, text, add_one, undo) \
                in enumerate(cards):
            index = gr.Number(slot, visible=False, precision=0)
            edited = [studio, *card_outputs, summary]
            private_then(name.submit, rename_class_cb, [studio, index, name], edited)
            private_then(name.blur, rename_class_cb, [studio, index, name], edited)
            private_then(delete.click, delete_class_cb, [studio, index], edited)
            private_then(files.upload, add_files_cb, [studio, index, files, text],
                         [studio, files, *card_outputs, summary])
            private_then(undo.click, remove_last_cb, [studio, index], edited)
            private_then(add_one.click, add_example_cb, [studio, index, shot, text],
                         [studio, shot, *card_outputs, summary])
        private_then(prompt.blur, set_prompt_cb, [studio, prompt], [studio, summary])
        public(load_task_btn.click, load_task_cb, [studio, task_box],
               [studio, prompt, *card_outputs, summary, *views], "load_example_task")
        public(dataset_in.upload, import_dataset_cb, [studio, dataset_in],
               [studio, prompt, k_slider, scoring, *card_outputs, summary], "import_dataset")
        private_then(ds_in.upload, import_dataset_cb, [studio, ds_in],
                     [studio, prompt, k_slider, scoring, *card_outputs, summary])
        public(extract_btn.click, extract_cb, [studio, prompt, k_slider, scoring],
               [studio, *views, summary], "extract", **model_bound)
        public(k_slider.release, refit_cb, [studio, k_slider, scoring], [studio, *views, summary],
               "refit")
        private_then(scoring.input, refit_cb, [studio, k_slider, scoring],
                     [studio, *views, summary])
        public(classify_btn.click, classify_cb, [studio, query_image, query_text],
               [studio, predicted, bars, heatmap, timing], "classify", **model_bound)
        public(eval_btn.click, evaluate_cb, [studio, test_in, zero_shot],
               [studio, eval_line, per_class, confusion, mistakes], "evaluate", **model_bound)
        public(eval_task_btn.click, evaluate_task_cb, [studio, zero_shot],
               [studio, eval_line, per_class, confusion, mistakes], "evaluate_task",
               **model_bound)
        export_clf_btn.click(export_classifier_cb, studio, clf_out, api_name="export_classifier")
        export_ds_btn.click(export_dataset_cb, studio, ds_out, api_name="export_dataset")
        public(clf_in.upload, import_classifier_cb, [studio, clf_in],
               [studio, k_slider, scoring, *views, summary], "import_classifier", **model_bound)
    demo.queue(default_concurrency_limit=8, max_size=64)
    return demo


def launch_kwargs() -> dict:
    """Settings every launch uses (the app's look and its upload limit)."""
    return dict(theme=THEME, css=CSS, max_file_size="64mb")


def start(model: str) -> None:
    """Set the start model and load it (a failure leaves the app running without one)."""
    START["model"] = model
    POOL.load(model)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SAVs Studio: the browser app.")
    parser.add_argument("--model", default=os.environ.get(MODEL_ENV, "tiny"),
                        help=f"model new sessions start on (default: ${MODEL_ENV} or 'tiny')")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    args = parser.parse_args(argv)
    # each resident model gets its share of the cores, so two models' work overlaps
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // max_models_from_env()))
    try:
        start(args.model)
        print(f"Loaded {args.model}")
    except SavsError as exc:
        print(f"Warning: {exc}\nThe app starts without a model; pick one in the model box.")
    build_demo().launch(server_name=args.host, server_port=args.port, **launch_kwargs())


if __name__ == "__main__":
    main()
