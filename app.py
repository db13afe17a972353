"""SAVs Studio: build a few-shot classifier from a generative model in the browser, and see which
attention heads do the work.

    python app.py [--model NAME] [--host 127.0.0.1] [--port 7860]

NAME is a bundled model ("tiny", "smollm2"), a hub id or a local folder (default: $SAVS_MODEL,
else "tiny"): the model every new session starts on. This file is the layout and the wiring;
the callbacks live in `studio/steps/` (one module per step), a session's state and actions in
`studio.actions.Studio` (one per browser session, in gr.State), its model in the shared
`studio.pool.ModelPool`.

Rules the wiring keeps:
- every session owns its state; `/load_model` changes the calling session's model only;
- after every action, failed or not, the page is redrawn from the session's state (`redraw`),
  so what it shows is never stale and no error mark outlives the next action;
- the named API endpoints keep their names and parameters (README: "The app's API").
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

import gradio as gr
import torch

from savs.classifier import SCORINGS
from savs.errors import SavsError
from savs.limits import LIVE_STREAMS, LIVE_TIME_LIMIT_S
from savs.models.registry import visitor_models
from studio.actions import Studio, list_example_tasks
from studio.fairness import cap_session_queue, model_call
from studio.inputs import visitor_image
from studio.pool import max_models_from_env
from studio.server import (
    CACHE,
    LIVE_QUEUE,
    MODEL_ENV,
    MODEL_QUEUE,
    MODEL_WORKERS,
    POOL,
    START,
    close_session,
    start,
    start_session,
)
from studio.steps.classes import (
    add_class_cb,
    add_example_cb,
    add_files_cb,
    choose_cam_class_cb,
    class_cards,
    delete_class_cb,
    delete_example_cb,
    import_dataset_cb,
    load_task_cb,
    on_page_load,
    record_cb,
    record_frame_cb,
    record_label,
    rename_class_cb,
    set_prompt_cb,
    snap_cb,
    undo_cb,
)
from studio.steps.classify import classify_cb, classify_frame_cb
from studio.steps.evaluate import evaluate_cb, evaluate_task_cb
from studio.steps.inspect import auto_k_cb, inspect_head_cb, select_head_cb
from studio.steps.share import export_classifier_cb, export_dataset_cb, import_classifier_cb
from studio.steps.train import extract_cb, load_model_cb, refit_cb
from studio.views import page

__all__ = [
    "build_demo",
    "main",
    "start",
    "POOL",
    "CACHE",
    "START",
    "add_class_cb",
    "add_example_cb",
    "add_files_cb",
    "delete_class_cb",
    "delete_example_cb",
    "import_dataset_cb",
    "load_task_cb",
    "on_page_load",
    "rename_class_cb",
    "set_prompt_cb",
    "undo_cb",
    "classify_cb",
    "classify_frame_cb",
    "evaluate_cb",
    "evaluate_task_cb",
    "export_classifier_cb",
    "export_dataset_cb",
    "import_classifier_cb",
    "extract_cb",
    "load_model_cb",
    "refit_cb",
    "record_cb",
    "snap_cb",
    "record_frame_cb",
    "inspect_head_cb",
    "select_head_cb",
    "auto_k_cb",
]

CSS = """
.card {border: 1px solid var(--border-color-primary); border-radius: 12px; padding: 6px;}
.step-title h3 {margin: 0;}
.hint {font-size: 0.85rem; opacity: 0.8;}
#predicted-label .output-class {font-size: 1.6rem;}
footer {display: none !important;}
"""

LIVE_EVERY_S = 0.1  # the webcam's frame interval; the loop answers as fast as the model allows

THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="amber", radius_size="lg")

HINTS = {
    "classes": "Add a class per thing to tell apart and give each a few examples (images, "
    "webcam frames or texts). The prompt is the question the model reads with every "
    "example.",
    "train": "**Extract** runs the model once per example and scores every attention head by "
    "how well its output alone sorts the examples. The **k** best heads vote. "
    "**Scoring**: *loo* leaves each example out of its own class mean (honest); "
    "*reference* keeps it in (as in the paper's code).",
    "try": "Classify a picture or text, or turn on the live webcam: the bars move as you move "
    "the object.",
}


def redraw(studio: Studio) -> tuple:
    """After every action (and its failure): the whole page from the session's state."""
    start_session(studio)
    return page(studio)


def model_choices() -> list[str]:
    """Only models a visitor may load (bundled, the start model, or the operator's list) and
    that can load here (bundled files present)."""
    return visitor_models(START["model"])


def _hint(key: str) -> None:
    gr.Markdown(HINTS[key], elem_classes="hint")


def _step_classes(studio: gr.State, wiring: dict) -> dict[str, Any]:
    """Step 1 (left column): example task, prompt, cards, webcam capture, import. The cards'
    own events are chained to the page redraw through `wiring["then"]` (set by `_wire`)."""
    c: dict[str, Any] = {}
    gr.Markdown("### 1 · Classes", elem_classes="step-title")
    _hint("classes")
    with gr.Row():
        c["task"] = gr.Dropdown(
            list_example_tasks(),
            label="Example task",
            scale=3,
            value=None,
            info="a ready-made task for the bundled models",
        )
        c["load_task"] = gr.Button("Load example task", scale=1, min_width=120)
    c["prompt"] = gr.Textbox(
        label="Instruction prompt (shared by every example)",
        placeholder="e.g. What colour is the shape?",
    )
    c["key"] = gr.Textbox(visible=False, elem_id="cards-key")
    class_cards(studio, c["key"], lambda event: wiring["then"](event))
    with gr.Row():
        c["add_class"] = gr.Button("+ Add a class", scale=2)
        c["undo"] = gr.Button("Undo", visible=False, scale=2, elem_id="undo")
    c["summary"] = gr.Markdown(elem_id="session-summary")
    with gr.Accordion("Webcam: snap or record frames into a class", open=False) as cam_box:
        c["cam"] = visitor_image(
            sources=["webcam"],
            streaming=True,
            height=200,
            show_label=False,
            elem_id="capture-cam",
        )
        with gr.Row():
            c["cam_class"] = gr.Dropdown([], label="Into class", scale=2)
            c["cam_frames"] = gr.Slider(1, 100, value=10, step=1, label="Frames", scale=2)
        with gr.Row():
            c["snap"] = gr.Button("Snap", size="sm")
            c["record"] = gr.Button(
                record_label(c["cam_frames"].value), size="sm", variant="primary"
            )
    c["cam_box"] = cam_box
    with gr.Accordion("Import a labeled dataset", open=False):
        c["dataset_in"] = gr.File(
            file_types=[".jsonl", ".zip"],
            label="JSONL (text only), or .zip of JSONL + images, or .zip with one folder per class",
        )
    return c


def _step_train() -> dict[str, Any]:
    """Step 2 (middle column): extract, k, scoring, heatmap, top heads."""
    t: dict[str, Any] = {}
    gr.Markdown("### 2 · Extract and inspect", elem_classes="step-title")
    _hint("train")
    t["extract"] = gr.Button("Extract", variant="primary")
    with gr.Row():
        t["k"] = gr.Slider(1, 64, value=20, step=1, label="Heads that vote (k)", scale=3)
        t["auto"] = gr.Checkbox(
            label="auto",
            scale=1,
            min_width=80,
            elem_id="auto-k",
            info="fewest heads within 1 point of the best",
        )
        t["scoring"] = gr.Radio(list(SCORINGS), value="loo", label="Scoring", scale=2)
    t["fit_line"] = gr.Markdown("No classifier yet.", elem_id="fit-line")
    t["heatmap"] = gr.Plot(show_label=False, elem_id="head-heatmap")
    t["top_heads"] = gr.Dataframe(
        headers=["rank", "layer", "head", "score"],
        label="Top heads (click a row to inspect that head)",
        interactive=False,
        max_height=200,
        elem_id="top-heads",
    )
    t["k_curve"] = gr.Plot(show_label=False, elem_id="k-curve")
    return t


def _attention_view() -> dict[str, Any]:
    """In the Classify tab: where the chosen head looked, and the head inspector."""
    a: dict[str, Any] = {}
    with gr.Accordion("Why: where the heads looked", open=True):
        # custom values: choices are redrawn per session, and the callback checks the head
        a["picker"] = gr.Dropdown(
            [],
            label="Head",
            elem_id="head-picker",
            allow_custom_value=True,
            info="a selected head; or click a row of 'Top heads'",
        )
        a["overlay"] = gr.Image(
            label="Attention on the picture",
            type="pil",
            height=220,
            interactive=False,
            elem_id="attention-overlay",
        )
        a["tokens"] = gr.HighlightedText(
            label="Attention on the prompt's tokens",
            elem_id="attention-tokens",
            combine_adjacent=False,
        )
        a["inspector"] = gr.Markdown(elem_id="head-inspector")
        a["per_class_head"] = gr.Dataframe(
            headers=["class", "training accuracy", "cosine (this input)", "vote"],
            label="This head, class by class",
            interactive=False,
            max_height=200,
            elem_id="head-classes",
        )
    return a


def _step_try() -> dict[str, Any]:
    """Step 3 (right column): classify, live webcam, evaluate, save and share, as tabs."""
    y: dict[str, Any] = {}
    gr.Markdown("### 3 · Try it", elem_classes="step-title")
    _hint("try")
    with gr.Tabs():
        with gr.Tab("Classify"):
            y["image"] = visitor_image(
                sources=["upload", "webcam", "clipboard"],
                label="Image",
                height=200,
                elem_id="query-image",
            )
            y["text"] = gr.Textbox(label="Text (optional)")
            y["classify"] = gr.Button("Classify", variant="primary")
            y["predicted"] = gr.Label(
                label="Prediction", num_top_classes=3, elem_id="predicted-label"
            )
            y["timing"] = gr.Markdown(elem_id="timing")
            y["bars"] = gr.Plot(show_label=False, elem_id="vote-bars")
            y.update(_attention_view())
        with gr.Tab("Live webcam") as live_tab:
            y["live_cam"] = visitor_image(
                sources=["webcam"],
                streaming=True,
                height=200,
                show_label=False,
                elem_id="live-cam",
            )
            y["live_label"] = gr.Label(
                label="Live prediction", num_top_classes=3, elem_id="live-label"
            )
            y["live_timing"] = gr.Markdown(elem_id="live-timing")
            y["live_bars"] = gr.Plot(show_label=False, elem_id="live-bars")
        y["live_tab"] = live_tab
        with gr.Tab("Evaluate"):
            y["test_in"] = gr.File(
                file_types=[".jsonl", ".zip"],
                height=100,
                label="Labeled test set (.jsonl, .zip of JSONL + images, or one folder per class)",
            )
            with gr.Row():
                y["eval"] = gr.Button("Evaluate upload", variant="primary", size="sm")
                y["eval_task"] = gr.Button("Evaluate example task", size="sm")
            y["zero_shot"] = gr.Checkbox(
                label="Compare with baselines (slower)",
                elem_id="compare-baselines",
                info="zero-shot (the model answering with a label itself); all heads voting, "
                "nearest class mean, 1-nearest neighbour and a linear probe on the "
                "selected heads' activations",
            )
            y["eval_line"] = gr.Markdown(elem_id="eval-line")
            y["per_class"] = gr.Dataframe(
                headers=["class", "precision", "recall", "support"],
                label="Per class",
                interactive=False,
                max_height=200,
            )
            y["baselines"] = gr.Dataframe(
                headers=["method", "accuracy"],
                label="Baselines",
                interactive=False,
                elem_id="baselines",
            )
            y["confusion"] = gr.Plot(show_label=False)
            y["mistakes"] = gr.Gallery(
                label="Mistakes", columns=4, height="auto", object_fit="contain", interactive=False
            )
        with gr.Tab("Save & share"):
            gr.Markdown("**Classifier** (.zip: safetensors + JSON)")
            y["export_clf"] = gr.Button("Export classifier", size="sm")
            y["clf_out"] = gr.File(label="Download", interactive=False, height=80)
            y["clf_in"] = gr.File(file_types=[".zip"], label="Import classifier", height=80)
            gr.Markdown("**Dataset** (.zip: JSONL + images + prompt)")
            y["export_ds"] = gr.Button("Export dataset", size="sm")
            y["ds_out"] = gr.File(label="Download", interactive=False, height=80)
            y["ds_in"] = gr.File(file_types=[".zip", ".jsonl"], label="Import dataset", height=80)
    return y


def build_demo() -> gr.Blocks:
    """The whole UI. Model-bound events share one queue of MODEL_WORKERS; each model still runs
    one call at a time (the pool's per-model lock), so sessions on different models overlap."""
    with gr.Blocks(title="SAVs Studio", delete_cache=(300, 900)) as demo:
        studio = gr.State(Studio())
        gr.Markdown(
            "# SAVs Studio\nTeach a generative model new classes from a few examples, "
            "and see which of its attention heads do the work "
            "([Sparse Attention Vectors](https://arxiv.org/abs/2412.00142))."
        )
        with gr.Row():
            model_box = gr.Dropdown(
                model_choices(),
                value=START["model"],
                label="Model",
                # typed names get the app's own refusal (gradio's would list every choice)
                allow_custom_value=True,
                scale=3,
                info="the models this server offers (for this session only)",
            )
            with gr.Column(scale=2, min_width=200):
                load_model_btn = gr.Button("Load model")
                status = gr.Markdown(elem_id="model-status")
        with gr.Row():
            wiring: dict[str, Callable] = {}
            with gr.Column(scale=5):
                c = _step_classes(studio, wiring)
            with gr.Column(scale=6):
                t = _step_train()
            with gr.Column(scale=5):
                y = _step_try()
        wiring["then"] = _wire(demo, studio, model_box, load_model_btn, status, c, t, y)
    demo.queue(default_concurrency_limit=8, max_size=64)
    cap_session_queue(demo)
    return demo


def _wire(
    demo: gr.Blocks,
    studio: gr.State,
    model_box: Any,
    load_model_btn: Any,
    status: Any,
    c: dict,
    t: dict,
    y: dict,
) -> Callable[[Any], Any]:
    """Every event; each is followed by the page redrawn from the session (`then`, returned
    for the events the class cards define when they are drawn)."""
    private = dict(api_visibility="private")
    model_bound = dict(concurrency_id=MODEL_QUEUE, concurrency_limit=MODEL_WORKERS)
    # webcam streams: their own group (an open stream keeps its worker between frames), ended
    # LIVE_TIME_LIMIT_S after their frames stop; model work inside takes the model's lock
    live = dict(
        concurrency_id=LIVE_QUEUE, concurrency_limit=LIVE_STREAMS, time_limit=LIVE_TIME_LIMIT_S
    )
    PAGE = [
        status,
        t["k"],
        t["scoring"],
        c["summary"],
        c["undo"],
        c["key"],
        y["image"],
        c["cam_box"],
        t["heatmap"],
        t["top_heads"],
        t["fit_line"],
        y["predicted"],
        y["bars"],
        y["timing"],
        y["eval_line"],
        y["per_class"],
        y["confusion"],
        y["mistakes"],
        t["auto"],
        t["k_curve"],
        y["baselines"],
        y["picker"],
        y["overlay"],
        y["tokens"],
        y["inspector"],
        y["per_class_head"],
        c["cam_class"],
    ]
    fit = [t["heatmap"], t["top_heads"], t["fit_line"]]

    def then(event: Any) -> Any:
        return event.then(redraw, studio, PAGE, **private)

    def public(
        event: Callable, fn: Callable, inputs: list, outputs: list, name: str, **kwargs: Any
    ) -> None:
        """A named API endpoint (stable outputs for gradio_client users), then the redraw.
        A model-bound one takes its session's turn (one model call per session at once)."""
        if kwargs.get("concurrency_id") == MODEL_QUEUE:
            fn = model_call(fn)
        then(event(fn, inputs, outputs, api_name=name, **kwargs))

    then(demo.load(on_page_load, studio, [studio, c["prompt"]], **private))
    demo.unload(close_session)
    public(
        load_model_btn.click,
        load_model_cb,
        [studio, model_box],
        [studio, status, t["k"]],
        "load_model",
        **model_bound,
    )
    public(c["add_class"].click, add_class_cb, studio, [studio, c["summary"]], "add_class")
    public(c["undo"].click, undo_cb, studio, [studio, c["summary"]], "undo")
    then(c["prompt"].blur(set_prompt_cb, [studio, c["prompt"]], studio, **private))
    public(
        c["load_task"].click,
        load_task_cb,
        [studio, c["task"]],
        [studio, c["prompt"], c["summary"], *fit],
        "load_example_task",
    )
    imported = [studio, c["prompt"], t["k"], t["scoring"], c["summary"]]
    public(
        c["dataset_in"].upload,
        import_dataset_cb,
        [studio, c["dataset_in"]],
        imported,
        "import_dataset",
    )
    then(y["ds_in"].upload(import_dataset_cb, [studio, y["ds_in"]], imported, **private))
    c["cam_class"].input(choose_cam_class_cb, [studio, c["cam_class"]], studio, **private)
    c["cam_frames"].change(record_label, c["cam_frames"], c["record"], **private)
    then(c["snap"].click(snap_cb, [studio, c["cam_class"], c["cam"]], studio, **private))
    then(
        c["record"].click(
            record_cb, [studio, c["cam_class"], c["cam_frames"]], [studio, c["summary"]], **private
        )
    )
    c["cam"].stream(
        record_frame_cb,
        [studio, c["cam"]],
        [c["summary"], c["key"]],
        stream_every=0.25,
        **live,
        **private,
    )
    public(
        t["extract"].click,
        extract_cb,
        [studio, c["prompt"], t["k"], t["scoring"]],
        [studio, *fit, c["summary"]],
        "extract",
        **model_bound,
    )
    public(
        t["k"].release,
        refit_cb,
        [studio, t["k"], t["scoring"]],
        [studio, *fit, c["summary"]],
        "refit",
    )
    for event in (t["k"].input, t["scoring"].input):  # typing + Enter, arrow keys, the radio
        then(
            event(
                refit_cb,
                [studio, t["k"], t["scoring"]],
                [studio, *fit, c["summary"]],
                trigger_mode="always_last",
                **private,
            )
        )
    public(
        y["classify"].click,
        classify_cb,
        [studio, y["image"], y["text"]],
        [studio, y["predicted"], y["bars"], t["heatmap"], y["timing"]],
        "classify",
        **model_bound,
    )
    y["live_cam"].stream(
        classify_frame_cb,
        [studio, y["live_cam"], y["text"]],
        [y["live_label"], y["live_bars"], y["live_timing"]],
        api_name="classify_frame",
        stream_every=LIVE_EVERY_S,
        **live,
    )  # no trigger_mode="always_last": in gradio 6.31 it stopped a stream after one frame
    # (measured in Chromium)
    _wire_inspect(studio, t, y, then, public)
    evaluated = [studio, y["eval_line"], y["per_class"], y["confusion"], y["mistakes"]]
    public(
        y["eval"].click,
        evaluate_cb,
        [studio, y["test_in"], y["zero_shot"]],
        evaluated,
        "evaluate",
        **model_bound,
    )
    public(
        y["eval_task"].click,
        evaluate_task_cb,
        [studio, y["zero_shot"]],
        evaluated,
        "evaluate_task",
        **model_bound,
    )
    y["export_clf"].click(export_classifier_cb, studio, y["clf_out"], api_name="export_classifier")
    y["export_ds"].click(export_dataset_cb, studio, y["ds_out"], api_name="export_dataset")
    public(
        y["clf_in"].upload,
        import_classifier_cb,
        [studio, y["clf_in"]],
        [studio, t["k"], t["scoring"], *fit, c["summary"]],
        "import_classifier",
        **model_bound,
    )
    return then


def _wire_inspect(studio: gr.State, t: dict, y: dict, then: Callable, public: Callable) -> None:
    """Why these heads: the head picker (/inspect_head), a click on a top-heads row, and the
    "auto" k box (/auto_k). Each is followed by the page redraw, like every event."""
    inspected = [
        studio,
        y["picker"],
        y["overlay"],
        y["tokens"],
        y["inspector"],
        y["per_class_head"],
    ]
    public(y["picker"].input, inspect_head_cb, [studio, y["picker"]], inspected, "inspect_head")
    then(t["top_heads"].select(select_head_cb, studio, studio, api_visibility="private"))
    public(
        t["auto"].input,
        auto_k_cb,
        [studio, t["auto"]],
        [studio, t["k"], t["k_curve"], t["heatmap"], t["top_heads"], t["fit_line"]],
        "auto_k",
    )


def launch_kwargs() -> dict:
    """Settings every launch uses (the app's look and its upload limit)."""
    return dict(theme=THEME, css=CSS, max_file_size="64mb")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SAVs Studio: the browser app.")
    parser.add_argument(
        "--model",
        default=os.environ.get(MODEL_ENV, "tiny"),
        help=f"model new sessions start on (default: ${MODEL_ENV} or 'tiny')",
    )
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
