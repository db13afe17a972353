"""Save and share: the classifier (.zip of safetensors + JSON) and the labeled dataset (.zip of
JSONL + images + studio.json). Downloads live in the session's one export folder."""

from __future__ import annotations

from typing import Any

import gradio as gr

from savs.classifier import SAVClassifier
from savs.limits import HOSTED
from savs.text import plural

from ..actions import Studio
from ..markup import plain
from ..server import POOL, discard_upload, notice, user_errors
from ..views import fit_views, session_summary


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
        discard_upload(file)
    model = str(clf.config.get("model") or "")
    with POOL.use(model, notice(progress), work=False) as adapter:
        studio.import_classifier_object(clf, adapter)
    gr.Info(
        f"Classifier imported: {plural(len(clf.labels), 'class')}, "
        f"{plural(clf.k, 'head')}, on {plain(model)}."
    )
    return (studio, studio.shown_k, studio.scoring, *fit_views(studio), session_summary(studio))
