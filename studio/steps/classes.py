"""Step 1: classes and their examples. Cards are drawn from the session by `gr.render`, so a
session may hold any number of classes; each card shows every example as a thumbnail (click
one, then delete it); an image card's "Hold to record" and "Snap" put the capture webcam's
frames into its class (capture.py)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import gradio as gr

from savs.text import plural

from ..actions import Studio, list_example_tasks
from ..inputs import check_upload_count, upload_paths, visitor_image
from ..server import discard_upload, register_session, start_session, user_errors
from ..views import session_summary
from ..wiring import CARDS_BOUND, FIT, IMPORT_BOUND, IMPORTED, PRIVATE, Page
from . import capture, first_visit, info
from .capture import snap_cb
from .first_visit import loaded_message

TILE = 96  # px of one example thumbnail as made (the page shows it at 56 px: studio/app.py's CSS)
TILES_PER_ROW = 8  # thumbnails in a row where the CSS does not size them


# --- callbacks (each one Studio action; the page is redrawn after it) ------------------------


@user_errors
def add_class_cb(studio: Studio) -> tuple:
    studio.add_class()
    return studio, session_summary(studio)


@user_errors
def rename_class_cb(studio: Studio, old: str, new: str) -> Studio:
    if old in studio.classes and (new or "").strip() != old:
        studio.rename_class(old, new)
    return studio


def shown_name(name: str, studio: Studio) -> str:
    """A card's name box after a refused rename: the class's name as it is (at once)."""
    return studio.current_name(name)


@user_errors
def delete_class_cb(studio: Studio, name: str) -> Studio:
    studio.delete_class(name)
    return studio


@user_errors
def delete_example_cb(studio: Studio, name: str, index: int | None) -> Studio:
    if index is None or index < 0:
        raise gr.Error("Click a thumbnail first, then delete it.")
    studio.remove_example(name, int(index))
    return studio


@user_errors
def undo_cb(studio: Studio) -> tuple:
    studio.undo()
    return studio, session_summary(studio)


@user_errors
def add_files_cb(studio: Studio, name: str, files: list | None, text: str) -> Studio:
    """Uploaded images (many at once, at most HOSTED_UPLOAD_FILES) become examples of the
    class; every uploaded file is deleted afterwards, a refused batch too."""
    paths = upload_paths(files)
    try:
        check_upload_count(paths)
        if paths:
            studio.add_examples(name, paths, text)
    finally:
        for p in paths:
            discard_upload(p)
    return studio


@user_errors
def add_example_cb(studio: Studio, name: str, image: str | None, text: str) -> tuple:
    """One example from a pasted / uploaded image (with the text as its text), or without an
    image one text-only example per line. The panel stays open for the next ones, emptied."""
    try:
        studio.adding_to = name
        if image:
            studio.add_examples(name, [image], text)
        else:
            studio.add_text_examples(name, text)
    finally:
        discard_upload(image)
    return studio, None


@user_errors
def set_prompt_cb(studio: Studio, prompt: str) -> Studio:
    studio.set_prompt(prompt)
    return studio


def on_page_load(studio: Studio, request: gr.Request) -> tuple:
    """A new page: its session starts on the app's start model (loaded at start)."""
    start_session(studio)
    register_session(studio, request)
    return studio, studio.prompt


# --- the cards -------------------------------------------------------------------------------


def _count_line(examples: list) -> str:
    n_images = sum(1 for ex in examples if ex.images)
    line = f"**{plural(len(examples), 'example')}**"
    return line + (f" ({len(examples) - n_images} text-only)" if len(examples) > n_images else "")


def _tiles(studio: Studio) -> list[list[tuple[str, str]]]:
    """Each class's (thumbnail file, caption) per example, in the session's order: the files
    are drawn once per example (Studio.tile_files), for all classes in one call."""
    every = [ex for examples in studio.classes.values() for ex in examples]
    files = iter(studio.tile_files(every, TILE))
    return [[(next(files), ex.text[:40]) for ex in exs] for exs in studio.classes.values()]


def class_cards(
    studio_state: gr.State, key: gr.Textbox, cam: gr.Image, then: Callable[[Any], Any]
) -> None:
    """Draw one card per class whenever `key` changes (`cam`: the webcam its Snap reads);
    `then(event)` chains the page redraw."""

    @gr.render(inputs=[studio_state], triggers=[key.change], **CARDS_BOUND)
    def cards(studio: Studio) -> None:
        is_vlm = studio.model_info.is_vlm if studio.model_info else True
        tiles = _tiles(studio)
        for i, (name, examples) in enumerate(studio.classes.items()):
            adding = name == studio.current_name(studio.adding_to)
            _card(i, name, (examples, tiles[i]), (is_vlm, adding), (studio_state, cam), then)


def _card(
    i: int,
    name: str,
    content: tuple[list, list],
    shown: tuple[bool, bool],
    inputs: tuple[gr.State, gr.Image],
    then: Callable[[Any], Any],
) -> None:
    """One class card; `content`: (its examples, their thumbnails); `shown`: (the model reads
    images, the add panel is open); `inputs`: (the session, the capture webcam)."""
    examples, tiles = content
    is_vlm, adding = shown
    studio_state, cam = inputs
    with gr.Group(elem_classes="card", elem_id=f"class-card-{i}"):
        with gr.Row(equal_height=True):
            name_box = gr.Textbox(
                value=name,
                show_label=False,
                scale=4,
                container=False,
                placeholder="class name",
                key=f"name-{i}",
                interactive=True,
            )
            delete = gr.Button("Delete class", size="sm", variant="stop", scale=1, min_width=90)
        gr.Markdown(_count_line(examples))
        chosen = gr.Number(value=None, visible=False)
        if examples:
            _gallery(tiles).select(_selected_index, None, chosen, **PRIVATE)
        files, drop, snap = _card_buttons(bool(examples), is_vlm)
        panel, shot, text, add_one = _add_panel(i, len(examples), is_vlm, adding)
    # the class name is bound when the card is drawn (a new drawing after every edit)
    for event, callback, inputs, outputs in (
        (name_box.submit, rename_class_cb, [name_box], studio_state),
        (name_box.blur, rename_class_cb, [name_box], studio_state),
        (delete.click, delete_class_cb, [], studio_state),
        (drop.click, delete_example_cb, [chosen], studio_state),
        (files.upload, add_files_cb, [files, text], studio_state),
        (snap.click, snap_cb, [cam], studio_state),
        (add_one.click, add_example_cb, [shot, text], [studio_state, shot]),
    ):
        fn = functools.partial(_call_for, callback, name)
        done = event(fn, [studio_state, *inputs], outputs, **PRIVATE)
        if callback is rename_class_cb:  # refused: the box shows the name it still has
            done.failure(functools.partial(shown_name, name), studio_state, name_box, **PRIVATE)
        then(done)
    _keep_panel(panel, name, studio_state)


def _card_buttons(has_examples: bool, is_vlm: bool) -> tuple:
    """A card's buttons: (upload images, delete the selected sample, snap); "Hold to record" has
    no event of its own: the page script reads the hold (capture.HOLD_JS)."""
    with gr.Row():
        files = gr.UploadButton(
            "Upload images",
            file_count="multiple",
            file_types=["image"],
            size="sm",
            scale=3,
            min_width=100,
            visible=is_vlm,
        )
        drop = gr.Button(
            "Delete selected sample", size="sm", scale=2, min_width=100, visible=has_examples
        )
    with gr.Row(visible=is_vlm):  # the webcam's frames
        gr.Button("Hold to record", size="sm", scale=3, min_width=100, elem_classes="hold-record")
        snap = gr.Button("Snap", size="sm", scale=2, min_width=60)
    return files, drop, snap


def _add_panel(i: int, count: int, is_vlm: bool, adding: bool) -> tuple:
    """A card's "add" panel: a pasted image and / or texts (one example per line)."""
    with gr.Accordion(ADD_PANEL[is_vlm], open=adding) as panel:
        shot = visitor_image(
            sources=["clipboard", "upload"],
            height=140,
            show_label=False,
            visible=is_vlm,
            interactive=True,
        )
        text = gr.Textbox(  # kept across redraws until this card's examples change
            label=TEXT_LABEL[is_vlm],
            key=f"text-{i}-{count}",
            interactive=True,
            lines=3,
            max_lines=12,
        )
        add_one = gr.Button("Add", size="sm")
    return panel, shot, text, add_one


def _keep_panel(panel: gr.Accordion, name: str, studio_state: gr.State) -> None:
    """Opening or closing a card's add panel is remembered (no redraw follows)."""
    for event, value in ((panel.expand, name), (panel.collapse, "")):
        event(functools.partial(_panel_cb, value), studio_state, studio_state, **PRIVATE)


# the add panel as the model reads: a text-only model is never offered pictures
ADD_PANEL = {True: "Paste an image, or add texts", False: "Add text examples"}
TEXT_LABEL = {
    True: "Text: with an image, its text; without one, one example per line",
    False: "One example per line (paste a list to add many at once)",
}


def _panel_cb(name: str, studio: Studio) -> Studio:
    """The open add panel is the session's: redraws after each edit keep it open."""
    studio.adding_to = name
    return studio


def _gallery(tiles: list[tuple[str, str]]) -> gr.Gallery:
    """A card's thumbnails, whole and square (the page's CSS sizes them: as many to a row as the
    card is wide, 3 rows drawn, the rest scrolled to)."""
    return gr.Gallery(
        tiles,
        columns=TILES_PER_ROW,
        height="auto",
        allow_preview=False,
        show_label=False,
        container=False,
        object_fit="contain",  # whole pictures, padded: a crop can hide what the class is
        elem_classes="tiles",
        fit_columns=False,
        buttons=[],
    )


def _call_for(callback: Callable, name: str, studio: Studio, *args: Any) -> Any:
    """`callback(studio, name, *args)`: a card's event, for the class the card shows (by its
    name now: the card may have been drawn before a rename)."""
    return callback(studio, studio.current_name(name), *args)


def _selected_index(evt: gr.SelectData) -> int:
    return int(evt.index)


@user_errors
def load_task_cb(studio: Studio, task: str) -> tuple:
    if not task:
        raise gr.Error("Pick an example task first.")
    n = studio.load_example_task(task)
    info(f"{loaded_message(studio, task, n)} Now click 'Extract'.")
    from ..views import fit_views

    return (studio, studio.prompt, session_summary(studio), *fit_views(studio))


@user_errors
def import_dataset_cb(studio: Studio, file: str | None) -> tuple:
    if not file:
        raise gr.Error("Choose a .jsonl or .zip file to import.")
    try:
        n = studio.import_dataset(file, confine=True)
    finally:
        discard_upload(file)
    replaced = studio.replaced_notice()
    info(
        f"Imported {n} examples in {plural(len(studio.classes), 'class')}."
        + (f" {replaced}" if replaced else "")
    )
    return (studio, studio.prompt, studio.shown_k, studio.scoring, session_summary(studio))


# --- layout and events -----------------------------------------------------------------------

HINT = (
    "Add a class per thing to tell apart and give each a few examples (images, "
    "webcam frames or texts). The prompt is the question the model reads with every "
    "example."
)


def build(page: Page) -> None:
    """Step 1 (left column): example task, prompt, cards, webcam capture, import. The cards'
    own events are chained to the page redraw when they are drawn (`page.then`)."""
    state = page.state
    first_visit.try_button(page)
    with gr.Row():
        task = gr.Dropdown(
            list_example_tasks(),
            label="Example task",
            scale=3,
            value=None,
            info="a ready-made task for the bundled models",
        )
        load_task = gr.Button("Load example task", scale=1, min_width=120)
    prompt = gr.Textbox(
        label="Instruction prompt (shared by every example)",
        placeholder="e.g. What colour is the shape?",
    )
    cam = capture.build(page)
    key = gr.Textbox(visible=False, elem_id="cards-key")
    class_cards(state, key, cam, page.then)
    page.on(key.change, None, None, None, js=capture.HOLD_JS)
    with gr.Row():
        add_class = gr.Button("+ Add a class", scale=2)
        undo = gr.Button("Undo", visible=False, scale=2, elem_id="undo")
    summary = gr.Markdown(elem_id="session-summary")
    page.add(prompt=prompt, key=key, undo=undo, summary=summary)
    page.public(add_class.click, add_class_cb, [state], [state, summary], "add_class")
    page.public(undo.click, undo_cb, [state], [state, summary], "undo")
    page.private(prompt.blur, set_prompt_cb, [state, prompt], [state])
    page.public(
        load_task.click,
        load_task_cb,
        [state, task],
        [state, prompt, summary, *FIT],
        "load_example_task",
    )
    with gr.Accordion("Import a labeled dataset", open=False):
        dataset_in = gr.File(
            file_types=[".jsonl", ".zip"],
            label="JSONL (text only), or .zip of JSONL + images, or .zip with one folder per class",
        )
        page.public(
            dataset_in.upload,
            import_dataset_cb,
            [state, dataset_in],
            [state, *IMPORTED],
            "import_dataset",
            **IMPORT_BOUND,
        )
