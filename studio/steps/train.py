"""Step 2: the session's model, extraction (one forward pass per example) and refits."""

from __future__ import annotations

from typing import Any

import gradio as gr

from savs.models.registry import check_visitor_model

from ..actions import Studio
from ..server import CACHE, POOL, START, gpu, notice, progress_fn, user_errors
from ..views import fit_views, k_update, session_summary, status_line


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
    if studio.activations is None or studio.stale:  # nothing to refit: remember the choice
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
