"""The page's steps, one module each (classes, train, classify, inspect, evaluate, share): each
holds its layout, its callbacks and its events (`build`), side by side; app.py assembles them."""

from __future__ import annotations

import gradio as gr


def heading(title: str, hint: str) -> None:
    """A step's title and the one paragraph that says what to do there."""
    gr.Markdown(f"### {title}", elem_classes="step-title")
    gr.Markdown(hint, elem_classes="hint")
