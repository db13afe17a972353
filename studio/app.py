"""The app: the page assembled from its steps, and its launch (`python app.py`, `python -m
studio` or the `savs-studio` command run `main`).

    python app.py [--model NAME] [--max-image-tokens N] [--host 127.0.0.1] [--port 7860]

NAME is a bundled model ("tiny", "smollm2"), a hub id or a local folder (default: $SAVS_MODEL,
else "tiny"): the model every new session starts on. N (default: $SAVS_MAX_IMAGE_TOKENS) bounds
the image tokens per image of every model (`savs.models.image_policy`): models run at
min(their classification default, N), and visitors may pick a smaller bound, never a larger
one. Each step's layout, callbacks and events live in one module (`studio/steps/`); a session's
state and actions in `studio.actions.Studio` (one per browser session, in gr.State), its model
in the shared `studio.pool.ModelPool`.

Rules the wiring keeps:
- every session owns its state; `/load_model` changes the calling session's model only;
- after every action, failed or not, the page is redrawn from the session's state
  (`studio.wiring.redraw`), so what it shows is never stale and no error mark outlives the next
  action; after a success, what the action returned itself is not drawn again (each output is
  computed once per action);
- the named API endpoints keep their names and parameters (README: "The app's API").
"""

from __future__ import annotations

import argparse
import os

import gradio as gr
import torch
from starlette.middleware import Middleware

from savs.cli.parser import image_tokens_arg
from savs.closed_routes import ClosedRoutes
from savs.errors import SavsError
from savs.limits import LIVE_STREAMS_WAITING, MAX_IMAGE_TOKENS_ENV
from savs.upload_guard import UploadGuard

from .actions import Studio
from .allocator import MemoryKeeper, settle_allocator
from .blocks import StudioBlocks
from .collector import settle_collector
from .config_cache import ConfigCache
from .fairness import cap_session_queue
from .pool import max_models_from_env
from .queue_caps import TOO_MANY_WEBCAMS, cap_waiting
from .server import CACHE, IMAGE_TOKENS, LIVE_QUEUE, MODEL_ENV, POOL, START, close_session, start
from .steps import (
    CAMERA_LABELS,
    classes,
    classify,
    compare,
    evaluate,
    inspect,
    share,
    step,
    train,
)
from .steps.capture import record_cb, record_frame_cb, snap_cb
from .steps.classes import (
    add_class_cb,
    add_example_cb,
    add_files_cb,
    delete_class_cb,
    delete_example_cb,
    import_dataset_cb,
    load_task_cb,
    on_page_load,
    rename_class_cb,
    set_prompt_cb,
    undo_cb,
)
from .steps.classify import classify_cb, classify_frame_cb
from .steps.evaluate import evaluate_cb, evaluate_task_cb
from .steps.inspect import auto_k_cb, inspect_head_cb, select_head_cb
from .steps.share import export_classifier_cb, export_dataset_cb, import_classifier_cb
from .steps.train import extract_cb, load_model_cb, refit_cb
from .stream_frames import StreamFrames
from .switching import shorten_switch_interval
from .upload_progress import tidy_upload_progress
from .wiring import PRIVATE, Page, redraw

# what app.py (the entry point Spaces run) re-exports: the launch, and each callback by name
# for scripts and tests that drive the app in-process
__all__ = [
    "build_demo",
    "launch_kwargs",
    "main",
    "redraw",
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
.step > .label-wrap span {font-size: 1.1rem; font-weight: 600;}
#step-try [role=tab] {padding: 0 var(--size-3) !important;}
.hint {font-size: 0.85rem; opacity: 0.8;}
#predicted-label .output-class {font-size: 1.6rem;}
footer {display: none !important;}
/* a card's thumbnails: whole, 56 px squares, as many to a row as fit, 3 rows then a scroll */
.tiles, .tiles .grid-wrap {height: auto !important; min-height: 0 !important;}
.tiles .grid-wrap {max-height: 190px; overflow-y: auto;}
.tiles .grid-container {grid-template-columns: repeat(auto-fill, 56px) !important;
  grid-auto-rows: 56px !important; gap: 4px !important;}
.tiles .thumbnail-item {width: 56px !important; height: 56px !important;}
/* a held "Hold to record" is not a long press (no menu, no selection, no scroll) */
.hold-record {touch-action: none; user-select: none; -webkit-touch-callout: none;}
/* no picture to draw attention on (a text model, nothing classified yet): no empty box */
#attention-overlay:not(:has(img)) {display: none !important;}
/* an export's download box: slim while it holds no file; a drop box's label sits above it */
.file-out .empty {min-height: 0 !important; height: 44px !important;}
.box-label p {margin: 0 !important; font-size: 0.9rem;}
/* plotly's toolbar would cover the charts' titles (gr.Plot takes no plotly config) */
.js-plotly-plot .modebar-container {display: none !important;}
"""

# On a phone (a narrow window) the steps are a sequence: one open at a time, so each step's
# main button is on the screen its title opens. Bound once, on the document (gradio redraws
# the sections' contents, not the sections).
PAGE_JS = """
() => {
  if (window.savsSteps) return;
  window.savsSteps = true;
  const narrow = () => window.matchMedia("(max-width: 767px)").matches;
  const title = (section) => section.querySelector(":scope > .label-wrap");
  const isOpen = (section) => title(section).classList.contains("open");
  const sections = () => Array.from(document.querySelectorAll(".step"));
  const showOnly = (keep) => {
    for (const s of sections()) if (s !== keep && isOpen(s)) title(s).click();
    if (!isOpen(keep)) title(keep).click();
  };
  const start = () => {
    const all = sections();
    if (!all.length || !title(all[0])) return setTimeout(start, 200);
    if (narrow()) showOnly(all[0]);
  };
  start();
  document.addEventListener("click", (event) => {
    const clicked = event.target.closest && event.target.closest(".step > .label-wrap");
    if (!event.isTrusted || !clicked || !narrow()) return;
    const section = clicked.parentElement;
    // the click has just opened it: close the others and bring its title to the top
    setTimeout(() => {
      if (!isOpen(section)) return;
      for (const s of sections()) if (s !== section && isOpen(s)) title(s).click();
      setTimeout(() => section.scrollIntoView({ block: "start" }), 50);
    }, 0);
  });
}
"""

THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="amber", radius_size="lg")

TRY_HINT = (
    "Classify a picture or text, or turn on the live webcam: the bars move as you move the object."
)


def build_demo() -> gr.Blocks:
    """The whole UI. Model calls wait in three queues (studio.wiring: clicks, long jobs, model
    loads); each model still runs one forward pass at a time (its TurnLock), so clicks on
    different models overlap."""
    tidy_upload_progress()  # gradio's records of upload ids: none kept for ever
    with StudioBlocks(title="SAVs Studio", delete_cache=(300, 900)) as demo:
        page = Page(gr.State(Studio()))
        gr.Markdown(
            "# SAVs Studio\nTeach a generative model new classes from a few examples, "
            "and see which of its attention heads do the work "
            "([Sparse Attention Vectors](https://arxiv.org/abs/2412.00142))."
        )
        train.model_bar(page)
        with gr.Row():
            with gr.Column(scale=5), step("1 · Classes", classes.HINT, "step-classes"):
                classes.build(page)
            with gr.Column(scale=6), step("2 · Extract and inspect", train.HINT, "step-extract"):
                train.build(page)
                compare.build(page)
            with gr.Column(scale=5), step("3 · Try it", TRY_HINT, "step-try"):
                _try_it(page)
        page.finish()
        page.then(demo.load(on_page_load, page.state, [page.state, page["prompt"]], **PRIVATE))
        demo.unload(close_session)
        demo.load(None, None, None, js=PAGE_JS)
    demo.queue(default_concurrency_limit=8, max_size=64)
    cap_session_queue(demo)
    cap_waiting(demo, LIVE_QUEUE, LIVE_STREAMS_WAITING, TOO_MANY_WEBCAMS)
    return demo


def _try_it(page: Page) -> None:
    """Step 3 (right column): classify (and why), live webcam, evaluate, save and share. The
    tabs wrap to a second row rather than hide behind an overflow menu."""
    with gr.Tabs(overflow_behavior="wrap"):
        with gr.Tab("Classify"):
            classify.build(page)
            inspect.build(page)
        with gr.Tab("Live") as live_tab:  # hidden for a text-only model
            classify.build_live(page)
        page.add(live_tab=live_tab)
        with gr.Tab("Evaluate"):
            evaluate.build(page)
        with gr.Tab("Share"):
            share.build(page)


def launch_kwargs() -> dict:
    """Settings every launch uses: the app's look, the webcam's plain labels, the upload
    limits (one file; one upload request's size and file count, checked before gradio stores
    it), gradio's features the page does not have switched off or closed (run history,
    monitoring, deep links, screen recordings: `savs.closed_routes`), and the page's config
    built once (`studio.config_cache`)."""
    return dict(
        theme=THEME,
        css=CSS,
        i18n=gr.I18n(en=CAMERA_LABELS),
        max_file_size="64mb",
        run_history=False,
        enable_monitoring=False,
        app_kwargs={
            "middleware": [
                Middleware(ClosedRoutes),
                Middleware(ConfigCache),
                Middleware(UploadGuard),
                Middleware(StreamFrames),
            ]
        },
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SAVs Studio: the browser app.")
    parser.add_argument(
        "--model",
        default=os.environ.get(MODEL_ENV, "tiny"),
        help=f"model new sessions start on (default: ${MODEL_ENV} or 'tiny')",
    )
    parser.add_argument(
        "--max-image-tokens",
        type=image_tokens_arg,
        default=IMAGE_TOKENS["cap"],
        metavar="N",
        help=f"image tokens per image at most, for every model and visitor (default: "
        f"${MAX_IMAGE_TOKENS_ENV}, else each architecture's classification default; 0: none)",
    )
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    args = parser.parse_args(argv)
    settle_allocator()  # large blocks get their own pages, returned when freed
    shorten_switch_interval()  # a click hands work between threads a dozen times
    # each resident model gets its share of the cores, so two models' work overlaps
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // max_models_from_env()))
    IMAGE_TOKENS["cap"] = args.max_image_tokens  # before any model loads
    try:
        start(args.model)
        print(f"Loaded {args.model}")
    except SavsError as exc:
        print(f"Warning: {exc}\nThe app starts without a model; pick one in the model box.")
    demo = build_demo()
    demo.launch(
        server_name=args.host, server_port=args.port, prevent_thread_lock=True, **launch_kwargs()
    )
    settle_collector()  # what exists now lives as long as the server: out of the GC's passes
    MemoryKeeper().start()  # what a request's big strings used goes back after it
    demo.block_thread()
