"""Many users on one server (issue 12) and a hostile visitor (issue 13), through gradio_client
against the app launched in this process on two tiny random models: a LLaVA (the start model)
and a Qwen2 text LM, both local folders the operator lists in SAVS_ALLOWED_MODELS."""

from __future__ import annotations

import json
import sys
import tempfile
import threading
from pathlib import Path

import pytest
import torch
from gradio_client import Client, handle_file

import studio_fixtures as sf
import tiny_models

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

torch.set_num_threads(1)
pytestmark = pytest.mark.app


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(url, app module, llava folder, text-model folder)."""
    root = tmp_path_factory.mktemp("sessions")
    text_dir = root / "tiny-qwen2"
    model, tokenizer = tiny_models.qwen2_lm()
    model.save_pretrained(text_dir)
    tokenizer.save_pretrained(text_dir)
    mp = pytest.MonkeyPatch()
    scratch = root / "tmp"  # the app's own temporary folders land here, apart from others'
    scratch.mkdir()
    mp.setattr(tempfile, "tempdir", str(scratch))
    with sf.app_on_tiny_model(root) as app:
        llava_dir = app.START["model"]
        mp.setenv("SAVS_ALLOWED_MODELS", f"{llava_dir},{text_dir}")
        try:
            with sf.launched(app) as url:
                yield url, app, llava_dir, str(text_dir)
        finally:
            mp.undo()


def savs_temp_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("savs-*")}


def colour_session(url: str, image_path: Path) -> Client:
    """A client session with the colour task extracted on the start model."""
    client = Client(url, verbose=False)
    client.predict("colours", api_name="/load_example_task")
    client.predict(sf.TASK_QUESTION, 4, "loo", api_name="/extract")
    label, *_ = client.predict(handle_file(image_path), "", api_name="/classify")
    assert label["label"] == "green"
    return client


@pytest.fixture
def green(tmp_path) -> Path:
    path = tmp_path / "green.png"
    sf.colour_image(sf.TASK_COLOURS["green"], 2).save(path)
    return path


def test_one_sessions_model_switch_leaves_the_others_alone(served, green):
    url, app, llava_dir, text_dir = served
    a = colour_session(url, green)
    b = Client(url, verbose=False)
    status, k = b.predict(text_dir, api_name="/load_model")
    assert "text-only" in status and k["maximum"] == 3 * 4  # the text model: 3 layers x 4 heads
    # B's model is B's: A still classifies on its own model, with the right label
    label, *_ = a.predict(handle_file(green), "", api_name="/classify")
    assert label["label"] == "green"
    # B builds a text classifier on its model while A keeps working
    for _ in range(2):
        b.predict(api_name="/add_class")
    assert sorted(app.POOL.resident()) == sorted([llava_dir, text_dir])
    # a new session starts on the start model, not on B's choice
    c = Client(url, verbose=False)
    status_c, _ = c.predict(llava_dir, api_name="/load_model")
    assert "vision-language" in status_c and "3 layers x 4 heads" in status_c


def test_two_sessions_on_two_models_at_once_get_no_error_and_no_wrong_label(served, green):
    url, app, llava_dir, text_dir = served
    a = colour_session(url, green)
    b = Client(url, verbose=False)
    b.predict(text_dir, api_name="/load_model")
    dataset = Path(tempfile.mkdtemp()) / "text.jsonl"
    rows = [
        {"question": f"{w} {i}", "label": lab}
        for lab, w in (("calm", "sunny meadow"), ("storm", "thunder crash"))
        for i in range(4)
    ]
    dataset.write_text("\n".join(json.dumps(r) for r in rows))
    b.predict(handle_file(dataset), api_name="/import_dataset")
    b.predict("", 4, "loo", api_name="/extract")
    errors: list[BaseException] = []
    labels: dict[str, list[str]] = {"a": [], "b": []}

    def run(name, fn):
        try:
            for _ in range(4):
                labels[name].append(fn())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    ta = threading.Thread(
        target=run,
        args=("a", lambda: a.predict(handle_file(green), "", api_name="/classify")[0]["label"]),
    )
    tb = threading.Thread(
        target=run,
        args=("b", lambda: b.predict(None, "sunny meadow 9", api_name="/classify")[0]["label"]),
    )
    ta.start(), tb.start()
    ta.join(120), tb.join(120)
    assert not errors, errors
    assert labels["a"] == ["green"] * 4
    assert set(labels["b"]) <= {"calm", "storm"} and len(labels["b"]) == 4


def test_an_edited_class_makes_the_classifier_refuse_until_extract(served, green):
    url, *_ = served
    a = colour_session(url, green)
    with pytest.raises(Exception, match="nothing to classify"):
        a.predict(None, "  ", api_name="/classify")
    a.predict(api_name="/add_class")  # a new, empty class: the classifier no longer matches
    with pytest.raises(Exception, match="was added since the last Extract"):
        a.predict(handle_file(green), "", api_name="/classify")
    a.predict(api_name="/undo") if False else None  # undo only follows a delete
    with pytest.raises(Exception, match="'Class 4' has no examples"):
        a.predict(sf.TASK_QUESTION, 4, "loo", api_name="/extract")


def test_uploads_never_read_server_files_and_leave_no_temp_folders(served, green, tmp_path):
    url, *_ = served
    before = savs_temp_folders()
    client = Client(url, verbose=False)
    secret = tmp_path / "secret.png"
    sf.colour_image((1, 2, 3), 0).save(secret)
    messages = set()
    for ref in (str(secret), "/etc/hostname", "/no/such/file.png", "../secret.png"):
        plain = tmp_path / "evil.jsonl"
        plain.write_text(
            "\n".join(json.dumps({"image": ref, "question": "q", "label": lab}) for lab in "abab")
        )
        with pytest.raises(Exception) as refused:
            client.predict(handle_file(plain), api_name="/import_dataset")
        message = str(refused.value)
        assert "/etc" not in message and str(tmp_path) not in message
        messages.add(message.replace(ref, "REF"))
    # one message whether or not the file exists
    assert len(messages) == 1 and "cannot name image files" in messages.pop()
    # a passing and a failing evaluation, an import and exports leave no savs-* folder behind
    a = colour_session(url, green)
    dataset = a.predict(api_name="/export_dataset")
    a.predict(handle_file(dataset), False, api_name="/evaluate")
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(Exception, match="broken.zip"):
        a.predict(handle_file(broken), False, api_name="/evaluate")
    a.predict(api_name="/export_classifier")
    a.predict(api_name="/export_classifier")
    left = savs_temp_folders() - before
    # only the sessions' own export folders, one per session that exported
    assert all(name.startswith("savs-out-") for name in left), left
    assert len(left) <= 1, left


def test_a_visitor_cannot_load_a_server_folder_as_a_model(served, tmp_path):
    url, app, *_ = served
    planted = sf.save_tiny_llava(tmp_path / "planted")  # a real model folder, not listed
    client = Client(url, verbose=False)
    for name in (str(planted), "../" + planted.name, "/etc"):
        with pytest.raises(Exception) as refused:
            client.predict(name, api_name="/load_model")
        message = str(refused.value)
        assert "not allowed on this server" in message and str(tmp_path) not in message
    # without an allowlist (the default), a server folder is refused like an unknown hub id
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("SAVS_ALLOWED_MODELS")
        for name in (str(planted), "../" + planted.name, "/etc"):
            with pytest.raises(Exception) as refused:
                client.predict(name, api_name="/load_model")
            message = str(refused.value)
            assert "not a bundled name" in message and str(tmp_path) not in message
    assert str(planted) not in app.POOL.resident()


def test_shared_labels_are_escaped_where_they_are_shown(served, green, tmp_path):
    url, *_ = served
    client = Client(url, verbose=False)
    evil = "![x](http://elsewhere.invalid/p.png)<form action=//x><b>sign in</b>"
    rows = [{"question": f"text {i}", "label": lab} for lab in (evil, "plain") for i in range(3)]
    data = tmp_path / "evil.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    out = client.predict(handle_file(data), api_name="/import_dataset")
    summary = out[-1]
    heatmap, rows_, line, summary = client.predict("", 4, "loo", api_name="/extract")
    _, _, _, _, timing = (None, *client.predict(None, "text 1", api_name="/classify"))
    import re

    from savs.markup import md

    assert md(evil) in timing  # the label is shown, as literal text
    for shown in (summary, timing, line):
        # Markdown: every character that could open a tag, link or image is backslash-escaped
        assert not re.search(r"(?<!\\)[<\[!]", shown.replace("\\\\", "")), shown
