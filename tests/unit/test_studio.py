"""Studio: the app's session logic, tested without gradio on the tiny random LLaVA."""

from __future__ import annotations

import json
import zipfile

import pytest
import torch
from PIL import Image

from savs import ActivationCache, ClassifierError, DataError, Example
from savs.activations import extract
from savs.data import join_prompt, split_prompt
from studio.actions import Studio, list_example_tasks

import studio_fixtures as sf
from reference import class_means, expected_vote

torch.set_num_threads(1)


@pytest.fixture
def studio(task_root) -> Studio:
    s = Studio()
    s.load_example_task("colours", task_root)
    return s


def pixels(image) -> bytes:
    return image.tobytes() if isinstance(image, Image.Image) else Image.open(image).tobytes()


# --- classes and examples -------------------------------------------------------------------


@pytest.mark.unit
def test_add_rename_delete_class_keeps_examples_and_order():
    s = Studio()
    assert s.add_class() == "Class 1"
    assert s.add_class() == "Class 2"
    s.add_examples("Class 1", [sf.colour_image((200, 0, 0), 0)], text="warm")
    s.rename_class("Class 1", "  red ")
    assert list(s.classes) == ["red", "Class 2"]
    assert [ex.label for ex in s.classes["red"]] == ["red"]
    assert s.classes["red"][0].text == "warm"
    s.delete_class("Class 2")
    assert list(s.classes) == ["red"]
    assert s.add_class() == "Class 2"


@pytest.mark.unit
def test_card_thumbnails_are_files_drawn_once_per_example(monkeypatch):
    """The cards' thumbnails: one PNG file per example, drawn the first time only (the cards
    are redrawn after every edit), a deleted example's file gone, the folder gone with the
    session."""
    from pathlib import Path

    from savs import plots

    drawn = []
    tile = plots.example_tile
    monkeypatch.setattr(plots, "example_tile", lambda *a, **k: drawn.append(a) or tile(*a, **k))
    s = Studio()
    s.add_class("red")
    s.add_class("words")
    s.add_examples("red", [sf.colour_image((200, 0, 0), i) for i in range(3)])
    s.add_text_examples("words", "one\ntwo")

    def every():
        return [ex for exs in s.classes.values() for ex in exs]

    first = s.tile_files(every(), 32)
    assert len(drawn) == 5 and len(set(first)) == 5
    assert all(Image.open(p).size == (32, 32) for p in first)
    assert s.tile_files(every(), 32) == first and len(drawn) == 5  # none drawn again
    s.remove_example("red", 1)
    second = s.tile_files(every(), 32)
    assert second == [first[0], *first[2:]]  # the others' files kept, none drawn again
    assert not Path(first[1]).exists() and len(drawn) == 5
    folder = Path(second[0]).parent
    s.close()
    assert not folder.exists() and s.tile_dir == "" and s.tiles == {}


@pytest.mark.unit
@pytest.mark.parametrize(
    "action, message",
    [
        (lambda s: s.add_class("a"), "already a class named 'a'"),
        (lambda s: s.rename_class("a", "b"), "already a class named 'b'"),
        (lambda s: s.rename_class("a", "   "), "needs a name"),
        (lambda s: s.rename_class("zzz", "c"), "no class named 'zzz'"),
        (lambda s: s.delete_class("zzz"), "no class named 'zzz'"),
        (lambda s: s.add_examples("zzz", text="hi"), "no class named 'zzz'"),
        (lambda s: s.add_examples("a"), "nothing to add"),
    ],
)
def test_class_mistakes_raise_and_leave_the_session_intact(action, message):
    s = Studio()
    s.add_class("a")
    s.add_class("b")
    s.add_examples("a", text="x")
    with pytest.raises(DataError, match=message):
        action(s)
    assert list(s.classes) == ["a", "b"] and len(s.classes["a"]) == 1


@pytest.mark.unit
def test_add_examples_accepts_paths_pil_and_text_only(tmp_path):
    s = Studio()
    s.add_class("c")
    path = tmp_path / "a.png"
    sf.colour_image((0, 0, 200), 1).save(path)
    assert s.add_examples("c", [path, sf.colour_image((0, 0, 180), 2)], text="two") == 2
    assert s.add_examples("c", text="a text-only example") == 1
    texts = [ex.text for ex in s.classes["c"]]
    assert texts == ["two", "two", "a text-only example"]
    assert s.classes["c"][2].images == ()
    # images are stored as pixels, not as paths into upload folders that may disappear
    path.unlink()
    assert pixels(s.classes["c"][0].images[0]) == pixels(sf.colour_image((0, 0, 200), 1))


@pytest.mark.integration
def test_remove_example_invalidates_the_extraction(studio, llava_adapter):
    cache = ActivationCache()
    studio.extract_and_fit(llava_adapter, cache)
    first_green = studio.classes["green"][0]
    studio.remove_example("green", 1)
    assert len(studio.classes["green"]) == 3 and studio.classes["green"][0] is first_green
    with pytest.raises(DataError, match="click 'Extract'"):
        studio.refit(k=2)
    with pytest.raises(DataError, match="no example #9"):
        studio.remove_example("green", 8)


@pytest.mark.unit
def test_a_bad_file_adds_nothing_and_names_the_file(tmp_path):
    s = Studio()
    s.add_class("c")
    good = tmp_path / "good.png"
    sf.colour_image((0, 200, 0), 0).save(good)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    for bad in (corrupt, text_file):
        with pytest.raises(DataError, match=bad.name):
            s.add_examples("c", [good, bad])
    assert s.classes["c"] == []


@pytest.mark.unit
def test_large_images_are_shrunk_when_stored():
    s = Studio()
    s.add_class("big")
    s.add_examples("big", [Image.new("RGB", (3000, 1500), (10, 20, 30))])
    assert s.classes["big"][0].images[0].size == (1024, 512)


# --- importing ---------------------------------------------------------------------------------


@pytest.mark.unit
def test_example_task_becomes_classes_and_a_shared_prompt(task_root):
    assert list_example_tasks(task_root) == ["colours"]
    s = Studio()
    assert s.load_example_task("colours", task_root) == 12
    assert list(s.classes) == list(sf.TASK_COLOURS)
    assert s.prompt == sf.TASK_QUESTION
    assert all(ex.text == "" for ex in s.training_examples())
    assert s.task_test_set(task_root) == task_root / "colours" / "test.jsonl"
    with pytest.raises(DataError, match="no example task 'nope'"):
        s.load_example_task("nope", task_root)
    assert len(s.classes) == 3


@pytest.mark.unit
def test_examples_root_comes_from_the_environment(task_root, monkeypatch):
    monkeypatch.setenv("SAVS_EXAMPLES", str(task_root))
    assert list_example_tasks() == ["colours"]
    assert Studio().load_example_task("colours") == 12


@pytest.mark.unit
def test_import_zip_of_class_folders_keeps_the_prompt(tmp_path):
    archive = tmp_path / "classes.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for label, rgb in sf.TASK_COLOURS.items():
            for i in range(2):
                img = tmp_path / f"{label}{i}.png"
                sf.colour_image(rgb, i).save(img)
                zf.write(img, f"data/{label}/{i}.png")
    s = Studio(prompt="Which colour?")
    assert s.import_dataset(archive) == 6
    assert sorted(s.classes) == sorted(sf.TASK_COLOURS)
    assert s.prompt == "Which colour?"


@pytest.mark.unit
def test_uploaded_zip_cannot_read_files_outside_it_and_leaves_no_temp(tmp_path, monkeypatch):
    """A JSONL inside an uploaded zip naming ../ or absolute image paths would read any file on
    the server (other users' uploads): refused, and the extracted folder is removed."""
    import tempfile

    secret = tmp_path / "secret.png"
    sf.colour_image((1, 2, 3), 0).save(secret)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    for ref in (str(secret), "../../secret.png"):
        archive = tmp_path / "evil.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr(
                "data.jsonl",
                "\n".join(
                    json.dumps({"image": ref, "question": "q", "label": lab}) for lab in "abab"
                ),
            )
        s = Studio(prompt="keep")
        with pytest.raises(DataError):
            s.import_dataset(archive)
        assert s.classes == {} and s.prompt == "keep"
    assert list(scratch.iterdir()) == []


@pytest.mark.unit
def test_import_jsonl_with_different_questions_keeps_them_per_example(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"question": "good day", "label": "ok"}\n{"question": "bad thing", "label": "bad"}\n'
    )
    s = Studio(prompt="old")
    s.import_dataset(path)
    assert s.prompt == ""
    assert [ex.text for ex in s.training_examples()] == ["good day", "bad thing"]


@pytest.mark.unit
def test_import_error_leaves_the_session_intact(studio, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "label": "a"}\n{"question": "q", "labl": "b"}\n')
    before = {k: len(v) for k, v in studio.classes.items()}
    with pytest.raises(DataError, match="bad.jsonl:2"):
        studio.import_dataset(bad)
    assert {k: len(v) for k, v in studio.classes.items()} == before
    assert studio.prompt == sf.TASK_QUESTION


@pytest.mark.unit
def test_prompt_helpers_round_trip():
    for prompt, text in [("P", "t"), ("P", ""), ("", "t"), ("What?", "line\ntwo")]:
        assert split_prompt(join_prompt(prompt, text), prompt) == text
    assert split_prompt("other text", "P") == "other text"


# --- fitting -------------------------------------------------------------------------------


@pytest.mark.integration
def test_extract_then_refit_without_running_the_model(studio, llava_adapter, monkeypatch):
    cache = ActivationCache()
    calls = []
    progress = []
    clf = studio.extract_and_fit(llava_adapter, cache, lambda d, t: progress.append((d, t)))
    assert clf.labels == list(sf.TASK_COLOURS)
    assert clf.k == 12  # k=20 capped at 3 layers x 4 heads
    assert progress[-1] == (12, 12)
    assert studio.activations.shape[0] == 12

    def no_model(*args, **kwargs):
        calls.append(1)
        raise AssertionError("refit ran the model")

    monkeypatch.setattr(llava_adapter, "read_heads", no_model)
    refit = studio.refit(k=3, scoring="reference")
    assert refit.k == 3 and refit.config["scoring"] == "reference"
    assert len(set(refit.heads)) == 3
    assert studio.classifier is refit and not calls


@pytest.mark.integration
def test_refit_needs_a_fresh_extraction(studio, llava_adapter):
    cache = ActivationCache()
    studio.extract_and_fit(llava_adapter, cache)
    studio.add_examples("red", [sf.colour_image((230, 20, 20), 3)])
    with pytest.raises(DataError, match="example added to 'red' since the last Extract"):
        studio.refit(k=2)
    studio.extract_and_fit(llava_adapter, cache)
    cache.clear()  # the shared cache is only an accelerator: the session keeps its activations
    assert studio.refit(k=2).k == 2
    with pytest.raises(DataError, match="scoring must be one of"):
        studio.refit(scoring="best")


@pytest.mark.integration
def test_empty_and_single_classes_are_refused(llava_adapter):
    s = Studio()
    s.add_class("red")
    s.add_examples("red", [sf.colour_image((200, 0, 0), i) for i in range(2)])
    with pytest.raises(DataError, match="at least two classes"):
        s.extract_and_fit(llava_adapter, ActivationCache())
    s.add_class("empty")
    with pytest.raises(DataError, match="class 'empty' has no examples"):
        s.extract_and_fit(llava_adapter, ActivationCache())
    assert s.classifier is None and len(s.classes["red"]) == 2


@pytest.mark.integration
def test_text_only_examples_fit_and_classify(text_adapter):
    s = Studio(prompt="Is this request harmful?", k=4)
    for label, texts in {
        "ok": ["tell a joke", "a nice poem", "fox story"],
        "bad": ["steal a car", "hurt someone", "break a lock"],
    }.items():
        s.add_class(label)
        for t in texts:
            s.add_examples(label, text=t)
    cache = ActivationCache()
    clf = s.extract_and_fit(text_adapter, cache)
    assert clf.k == 4
    result = s.classify(text_adapter, text="tell a joke")
    # the label it must be: the vote recomputed from the training activations
    train = s.training_examples()
    acts = extract(text_adapter, train, clf.config["prompt"] or None)  # [6, L, H, d]
    means = class_means(acts, [ex.label for ex in train], clf.heads)
    query = extract(text_adapter, [Example(text="tell a joke")], clf.config["prompt"] or None)
    label, votes, _ = expected_vote(query[0], clf.heads, means)
    assert (result.prediction.label, result.prediction.votes) == (label, votes)
    assert result.seconds > 0


# --- classifying, evaluating ---------------------------------------------------------------


@pytest.mark.integration
def test_classify_and_evaluate(studio, llava_adapter, task_root):
    with pytest.raises(ClassifierError, match="no classifier yet"):
        studio.classify(llava_adapter, sf.colour_image((200, 0, 0), 0))
    studio.extract_and_fit(llava_adapter, ActivationCache())
    result = studio.classify(llava_adapter, task_root / "colours" / "images" / "test_blue_0.png")
    p = result.prediction
    assert set(p.probabilities) == set(sf.TASK_COLOURS)
    assert sum(p.votes.values()) == studio.classifier.k == len(p.head_votes)
    ev = studio.evaluate(llava_adapter, task_root / "colours" / "test.jsonl")
    assert len(ev.predictions) == 6 and ev.report.labels == list(sf.TASK_COLOURS)
    assert sum(map(sum, ev.report.confusion)) == 6
    assert len(ev.mistakes()) == len(ev.report.mistakes)
    assert (
        ev.report.accuracy
        == sum(pr.label == ex.label for pr, ex in zip(ev.predictions, ev.examples)) / 6
    )
    # the task's questions equal the prompt: they are not sent twice
    assert all(ex.text == "" for ex in ev.examples)
    assert ev.zero_shot_accuracy is None
    from savs.baseline import zero_shot_accuracy

    with_baseline = studio.evaluate(
        llava_adapter, task_root / "colours" / "test.jsonl", zero_shot=True
    )
    from savs import load_examples

    test_set = [
        Example(text="", label=ex.label, images=ex.images)
        for ex in load_examples(task_root / "colours" / "test.jsonl")
    ]
    assert with_baseline.zero_shot_accuracy == zero_shot_accuracy(
        llava_adapter, test_set, studio.classifier.labels, studio.prompt or None
    )
    # the test files are gone after the call: only the mistakes keep (small) pictures
    assert all(bool(ex.images) == (i in ev.report.mistakes) for i, ex in enumerate(ev.examples))


@pytest.mark.integration
def test_a_classifier_from_another_model_is_refused(studio, llava_adapter, text_adapter):
    studio.extract_and_fit(llava_adapter, ActivationCache())
    with pytest.raises(ClassifierError, match="test-llava"):
        studio.classify(text_adapter, text="hello")


# --- keeping and sharing -------------------------------------------------------------------


@pytest.mark.integration
def test_export_and_import_restore_a_session_exactly(studio, llava_adapter, tmp_path, task_root):
    studio.add_examples("green", [sf.colour_image((0, 150, 0), 4)], text="dark green")
    studio.k = 5
    studio.extract_and_fit(llava_adapter, ActivationCache())
    image = task_root / "colours" / "images" / "test_green_1.png"
    original = studio.classify(llava_adapter, image).prediction
    cl = studio.export_classifier(tmp_path / "clf.zip")
    studio.add_class("unused")  # an empty class survives the round trip too
    ds = studio.export_dataset(tmp_path / "ds.zip")
    # the JSONL alone is the published format: full questions, relative image paths
    with zipfile.ZipFile(ds) as zf:
        first = json.loads(zf.read("data.jsonl").decode().splitlines()[0])
    assert first["question"] == sf.TASK_QUESTION and first["image"].startswith("images/")

    restored = Studio()
    restored.import_dataset(ds)
    restored.import_classifier(cl, llava_adapter)
    assert list(restored.classes) == list(studio.classes)
    assert restored.prompt == studio.prompt and restored.k == 5 and restored.scoring == "loo"
    for name in studio.classes:
        a, b = studio.classes[name], restored.classes[name]
        assert [(x.text, x.label) for x in a] == [(x.text, x.label) for x in b]
        assert [pixels(x.images[0]) for x in a] == [pixels(x.images[0]) for x in b]
    c1, c2 = studio.classifier, restored.classifier
    assert c1.labels == c2.labels and c1.heads == c2.heads
    assert torch.equal(c1.means, c2.means) and torch.equal(c1.head_scores, c2.head_scores)
    assert restored.classify(llava_adapter, image).prediction == original
    # and refitting the restored session from its examples gives the same classifier
    restored.delete_class("unused")
    refit = restored.extract_and_fit(llava_adapter, ActivationCache())
    assert refit.heads == c1.heads and torch.allclose(refit.means, c1.means, atol=1e-5)


@pytest.mark.integration
def test_export_needs_something_to_export(llava_adapter, tmp_path):
    with pytest.raises(ClassifierError, match="no classifier"):
        Studio().export_classifier(tmp_path / "c.zip")
    with pytest.raises(DataError, match="nothing to export"):
        Studio().export_dataset(tmp_path / "d.zip")


@pytest.mark.integration
def test_import_classifier_rejects_junk(studio, tmp_path, llava_adapter):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ClassifierError, match="junk.zip"):
        studio.import_classifier(junk, llava_adapter)
    assert studio.classifier is None
