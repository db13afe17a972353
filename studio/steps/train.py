"""Step 2: the session's model, extraction (one forward pass per example) and refits."""

from __future__ import annotations

from typing import Any

import gradio as gr

from savs.classifier import SCORINGS
from savs.models.image_policy import check_visitor_choice, visitor_choices
from savs.models.registry import check_visitor_model, visitor_models

from ..actions import Studio
from ..server import CACHE, IMAGE_TOKENS, POOL, START, gpu, notice, progress_fn, user_errors
from ..views import fit_views, k_update, session_summary, status_line
from ..wiring import LOAD_BOUND, MODEL_BOUND, Page
from . import figure_downloads, help_line


@user_errors
def load_model_cb(studio: Studio, name: str, progress: Any = gr.Progress()) -> tuple:
    """Switch the calling session's model (loaded once per server, shared by its users)."""
    name = (name or "").strip()
    check_visitor_model(name, START["model"])  # before its name is echoed in the progress bar
    progress(0.1, desc=f"Loading {name} ...")
    studio.model_info = POOL.load(name, notice(progress))
    studio.model = name
    if studio.k != "auto":
        studio.k = min(studio.k, studio.model_info.num_all_heads)
    return studio, status_line(studio), k_update(studio)


@user_errors
def set_image_tokens_cb(studio: Studio, choice: Any) -> tuple:
    """The image detail the session's next Extract uses: one of the choices within the
    operator's bound (checked again here: a client can send anything)."""
    studio.image_tokens = check_visitor_choice(choice, IMAGE_TOKENS["cap"])
    return (studio, status_line(studio))


def image_token_choices() -> list[tuple[str, str]]:
    """The image detail menu: the server's default, then the bounds within its cap."""
    cap = IMAGE_TOKENS["cap"]
    default = f"default (at most {cap})" if cap else "model default"
    return [(default, "default")] + [(f"{n} tokens", str(n)) for n in visitor_choices(cap)]


@gpu
def _extract_on_device(studio: Studio, progress: Any) -> Studio:
    """The model-running part (under ZeroGPU the studio is pickled there and back)."""
    with POOL.use(studio.model, notice(progress), work=False) as adapter:
        studio.extract_and_fit(adapter, CACHE, progress_fn(progress, "Extracting"))
    return studio


@user_errors
def extract_cb(
    studio: Studio, prompt: str, k: int, scoring: str, progress: Any = gr.Progress()
) -> tuple:
    studio.set_prompt(prompt)
    studio.k, studio.scoring = slider_k(studio, k), scoring
    studio = _extract_on_device(studio, progress)
    return (studio, *fit_views(studio), session_summary(studio))


@user_errors
def refit_cb(studio: Studio, k: int, scoring: str) -> tuple:
    """k slider / scoring radio: refit from the kept activations (no model run)."""
    k = slider_k(studio, k)
    if not studio.can_refit:  # nothing to refit: remember the choice
        studio.k, studio.scoring = k if k == "auto" else max(1, int(k)), scoring
    else:
        studio.refit(k=k, scoring=scoring)
    return (studio, *fit_views(studio), session_summary(studio))


def slider_k(studio: Studio, k: int) -> int | str:
    """The k slider's value as the session's k: while k is "auto" the slider shows the k auto
    chose, so that same value (a scoring change, Extract) keeps "auto"; another value is a
    choice of k and ends it."""
    if studio.k == "auto" and int(k) == studio.shown_k:
        return "auto"
    return int(k)


# --- layout and events -----------------------------------------------------------------------

HINT = (
    "**Extract** runs the model once per example and scores every attention head by "
    "how well its output alone sorts the examples. The **k** best heads vote. "
    "**Scoring**: *loo* leaves each example out of its own class mean (honest); "
    "*reference* keeps it in (as in the paper's code)."
)


def model_choices() -> list[str]:
    """Only models a visitor may load (bundled, the start model, or the operator's list) and
    that can load here (bundled files present)."""
    return visitor_models(START["model"])


def model_bar(page: Page) -> None:
    """Above the columns: the session's model (this session only) and its status line."""
    state = page.state
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
        image_tokens = gr.Dropdown(
            image_token_choices(),
            value="default",
            label="Image detail",
            scale=1,
            min_width=140,
            elem_id="image-tokens",
            info="image tokens per image at most (fewer: faster)",
        )
        with gr.Column(scale=2, min_width=200):
            load_model = gr.Button("Load model")
            status = gr.Markdown(elem_id="model-status")
    page.add(status=status)
    page.private(image_tokens.input, set_image_tokens_cb, [state, image_tokens], [state, status])
    page.public(
        load_model.click,
        load_model_cb,
        [state, model_box],
        [state, status, "k"],
        "load_model",
        **LOAD_BOUND,
    )


def build(page: Page) -> None:
    """Step 2 (middle column): extract, k, scoring, heatmap, top heads, the k curve."""
    state = page.state
    extract = gr.Button("Extract", variant="primary")
    with gr.Row():
        k = gr.Slider(1, 64, value=20, step=1, label="Heads that vote (k)", scale=3)
        auto = gr.Checkbox(
            label="auto",
            scale=1,
            min_width=80,
            elem_id="auto-k",
            info="fewest heads within 1 point of the best",
        )
        scoring = gr.Radio(list(SCORINGS), value="loo", label="Scoring", scale=2)
    fit_line = gr.Markdown("No classifier yet.", elem_id="fit-line")
    heatmap = gr.Plot(show_label=False, elem_id="head-heatmap")
    help_line("heatmap")
    figure_downloads(page, "head-heatmap", "head-scores")
    top_heads = gr.Dataframe(
        headers=["rank", "layer", "head", "score"],
        label="Top heads (click a row to inspect that head)",
        interactive=False,
        max_height=200,
        elem_id="top-heads",
    )
    k_curve = gr.Plot(show_label=False, elem_id="k-curve")
    help_line("k_curve")
    figure_downloads(page, "k-curve", "k-curve")
    page.add(k=k, auto=auto, scoring=scoring, fit_line=fit_line, heatmap=heatmap)
    page.add(top_heads=top_heads, k_curve=k_curve)
    fitted = [state, heatmap, top_heads, fit_line, "summary"]
    page.public(
        extract.click,
        extract_cb,
        [state, "prompt", k, scoring],
        fitted,
        "extract",
        **MODEL_BOUND,
    )
    page.public(k.release, refit_cb, [state, k, scoring], fitted, "refit")
    for event in (k.input, scoring.input):  # typing + Enter, arrow keys, the radio
        page.private(event, refit_cb, [state, k, scoring], fitted, trigger_mode="always_last")
