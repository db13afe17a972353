"""Save and share: the classifier (.zip of safetensors + JSON), a Space ready to push (.zip of a
folder holding an app with that classifier only) and the labeled dataset (.zip of JSONL + images
+ studio.json). Downloads live in the session's one export folder."""

from __future__ import annotations

from typing import Any

import gradio as gr

from savs.classifier import SAVClassifier
from savs.limits import HOSTED
from savs.markup import plain
from savs.text import plural

from ..actions import Studio
from ..server import POOL, discard_upload, notice, user_errors
from ..views import fit_views, session_summary
from ..wiring import FIT, IMPORT_BOUND, IMPORTED, LOAD_BOUND, Page
from . import download_box, info, upload_box
from .classes import import_dataset_cb


@user_errors
def export_classifier_cb(studio: Studio) -> str:
    if studio.classifier is None:
        raise gr.Error("No classifier to export yet: click 'Extract' first.")
    return str(studio.export_classifier(studio.new_export_path("savs-classifier.zip")))


@user_errors
def export_space_cb(studio: Studio) -> str:
    """The classifier as a Space folder, zipped: unzip, then push it to the Hub as a Space."""
    if studio.classifier is None:
        raise gr.Error("No classifier to export yet: click 'Extract' first.")
    return str(studio.export_space(studio.new_export_path("savs-space.zip")))


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
    model = str(clf.config.model or "")
    with POOL.use(model, notice(progress), work=False) as adapter:
        studio.import_classifier_object(clf, adapter)
    info(
        f"Classifier imported: {plural(len(clf.labels), 'class')}, "
        f"{plural(clf.k, 'head')}, on {plain(model)}."
    )
    return (studio, studio.shown_k, studio.scoring, *fit_views(studio), session_summary(studio))


# --- layout and events -----------------------------------------------------------------------


def build(page: Page) -> None:
    """The Share tab: export / import the classifier and the dataset."""
    state = page.state
    gr.Markdown("**Classifier** (.zip: safetensors + JSON)")
    export_clf = gr.Button("Export classifier", size="sm")
    clf_out = download_box()
    clf_in = upload_box("Import a classifier (.zip)", [".zip"])
    gr.Markdown(
        "**Space** (.zip: a Gradio app with this classifier only; unzip, then "
        "`hf upload --repo-type space YOUR-NAME/SPACE-NAME .` inside the folder)"
    )
    export_sp = gr.Button("Export a Space", size="sm")
    space_out = download_box()
    gr.Markdown("**Dataset** (.zip: JSONL + images + prompt)")
    export_ds = gr.Button("Export dataset", size="sm")
    ds_out = download_box()
    ds_in = upload_box("Import a dataset (.zip or .jsonl)", [".zip", ".jsonl"])
    page.private(
        ds_in.upload, import_dataset_cb, [state, ds_in], [state, *IMPORTED], **IMPORT_BOUND
    )
    page.on(export_clf.click, export_classifier_cb, state, clf_out, api_name="export_classifier")
    page.on(export_ds.click, export_dataset_cb, state, ds_out, api_name="export_dataset")
    page.on(export_sp.click, export_space_cb, state, space_out, api_name="export_space")
    page.public(
        clf_in.upload,
        import_classifier_cb,
        [state, clf_in],
        [state, "k", "scoring", *FIT, "summary"],
        "import_classifier",
        **LOAD_BOUND,
    )
