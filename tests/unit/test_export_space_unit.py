"""`savs.export_space` without a model: the Space's front matter stays within the Hub's limits
and parses back as written whatever the labels and title hold, requirements.txt pins what the
repository pins, the folder holds what the Space needs (and only the tiny model's files it
loads), and the CLI refuses a missing classifier, a model folder or a non-empty --out in one
line, exit code 2."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
import torch
import yaml
from test_packaging import pins

from savs.__main__ import main
from savs.classifier import fit_activations
from savs.errors import ClassifierError
from savs.export_space import (
    DESCRIPTION_CHARS,
    STUDIO_GUARDS,
    TITLE_CHARS,
    export_space,
    front_matter,
    requirements,
)
from studio.actions import Studio

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]

HOSTILE = "x\"\n---\nsdk: static\r\nevil: [1]\u202e\u2028# <script>alert(1)</script>: '{a}'"


def classifier(labels, model="tiny", model_class="LlavaForConditionalGeneration"):
    torch.manual_seed(0)
    acts = torch.randn(2 * len(labels), 8, 8, 4)  # [N, L, H, d]
    config = {"model": model, "model_class": model_class}
    return fit_activations(acts, [lab for lab in labels for _ in (0, 1)], k=3, config=config)


def parsed(block: str) -> dict:
    match = re.fullmatch(r"---\n(.*)\n---\n", block, re.S)
    assert match, block
    return yaml.safe_load(match.group(1))


def test_front_matter_keeps_a_hostile_title_and_labels_inside_their_strings():
    clf = classifier([HOSTILE, "b" * 500, "ok"])
    fields = parsed(front_matter(HOSTILE * 3, clf, "tiny"))
    assert set(fields) == {
        "title",
        "emoji",
        "colorFrom",
        "colorTo",
        "sdk",
        "sdk_version",
        "python_version",
        "app_file",
        "pinned",
        "short_description",
    }
    assert fields["sdk"] == "gradio" and fields["app_file"] == "app.py"
    assert fields["sdk_version"] == next(iter(pins()["gradio"].specifier)).version
    assert 0 < len(fields["title"]) <= TITLE_CHARS
    assert 0 < len(fields["short_description"]) <= DESCRIPTION_CHARS
    for value in (fields["title"], fields["short_description"]):
        assert not re.search(r"[\x00-\x1f\u2028\u2029\u202e]", value), value
    assert fields["title"].startswith('x" --- sdk: static evil: [1]')


def test_front_matter_names_the_hub_model_and_the_kind_of_input():
    text = parsed(front_matter("t", classifier(["a", "b"], "org/m", "LlamaForCausalLM"), "org/m"))
    assert text["models"] == ["org/m"] and text["short_description"] == "Classifies texts as a, b"
    smol = parsed(
        front_matter("t", classifier(["a", "b"], "smollm2", "LlamaForCausalLM"), "smollm2")
    )
    assert smol["models"] == ["HuggingFaceTB/SmolLM2-135M-Instruct"]
    assert "models" not in parsed(front_matter("t", classifier(["a", "b"]), "tiny"))


def test_requirements_pin_what_the_repository_pins():
    ours = {name: str(req.specifier) for name, req in pins().items()}
    lines = [line for line in requirements().splitlines() if line and not line.startswith("#")]
    assert {"torch", "gradio", "transformers", "plotly", "pillow"} <= {
        line.split("==")[0] for line in lines
    }
    for line in lines:
        name, version = line.split("==")
        assert ours[name] == f"=={version}", line


def test_the_folder_holds_what_the_space_needs(tmp_path):
    clf = classifier(["red", "blue"])
    saved = clf.save(tmp_path / "clf")
    out = export_space(saved, tmp_path / "space", title="Colours", text="Which colour?")
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"app.py", "README.md", "requirements.txt", "space.json", ".gitattributes"} <= names
    assert {"classifier/classifier.json", "classifier/classifier.safetensors"} <= names
    assert {"savs/__init__.py", "savs/models/registry.py", "savs/export_space.py"} <= names
    assert "savs/assets/tiny/model.safetensors" in names
    assert not [n for n in names if "__pycache__" in n or "space_template" in n or "train_log" in n]
    assert not [n for n in names if n.startswith("savs/assets/") and "/tiny/" not in n]
    assert (out / "classifier" / "classifier.json").read_bytes() == (
        saved / "classifier.json"
    ).read_bytes()
    zipped = export_space(clf.save(tmp_path / "clf.zip"), tmp_path / "space2")
    assert (zipped / "classifier.zip").is_file() and (zipped / "savs/assets/tiny").is_dir()
    # the app's guards, as the app runs them, and nothing else of the app (they import none)
    guards = {f"studio/{name}" for name in STUDIO_GUARDS}
    assert {n for n in names if n.startswith("studio/")} == guards | {"studio/__init__.py"}
    for name in guards:
        source = (out / name).read_text("utf-8")
        assert source == (ROOT / name).read_text("utf-8")
        assert not re.search(r"^\s*from\s+\.|^\s*(from|import)\s+(studio|app)\b", source, re.M)


def test_a_hub_model_gets_no_bundled_weights(tmp_path):
    saved = classifier(["a", "b"], "org/model").save(tmp_path / "clf")
    out = export_space(saved, tmp_path / "space")
    assert not (out / "savs" / "assets").exists()


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "classifier not found"),
        ("folder model", "a Space cannot read a folder on this machine"),
        ("not empty", "the folder is not empty"),
        ("file out", "it is a file"),
    ],
)
def test_cli_refuses_in_one_line(case, message, tmp_path, capsys):
    saved = classifier(["a", "b"], "/models/mine" if case == "folder model" else "tiny").save(
        tmp_path / "clf"
    )
    out = tmp_path / "out"
    if case == "not empty":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    if case == "file out":
        out.write_text("a file")
    source = tmp_path / "nope" if case == "missing" else saved
    code = main(["export-space", "--classifier", str(source), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1
    if case == "not empty":
        assert [p.name for p in out.iterdir()] == ["keep.txt"]  # nothing written or removed
    elif case != "file out":
        assert not out.exists()


def test_cli_says_what_it_wrote_and_how_to_push(tmp_path, capsys):
    saved = classifier(["a", "b"]).save(tmp_path / "clf")
    assert main(["export-space", "--classifier", str(saved), "--out", str(tmp_path / "s")]) == 0
    [line] = capsys.readouterr().out.strip().splitlines()
    assert f"wrote {tmp_path / 's'}" in line
    assert f"hf upload --repo-type space YOUR-NAME/SPACE-NAME {tmp_path / 's'} ." in line
    assert Path(tmp_path / "s" / "app.py").is_file()


def test_the_apps_export_is_the_same_space_zipped(tmp_path):
    """Share -> Export a Space (Studio.export_space): the folder export-space writes,
    as one .zip in the session's export folder (replaced by its next export)."""
    studio = Studio(classifier=classifier(["cat", "dog"]))
    archive = studio.export_space(studio.new_export_path("savs-space.zip"))
    names = set(zipfile.ZipFile(archive).namelist())
    reference = export_space(_saved(studio, tmp_path), tmp_path / "space")
    expected = {str(p.relative_to(reference)) for p in reference.rglob("*") if p.is_file()}
    assert names == expected and {"app.py", "space.json", "classifier.zip"} <= names
    assert list(Path(studio.export_dir).iterdir()) == [archive]
    studio.close_files()
    assert not archive.exists()


def test_the_apps_export_refuses_a_model_folder_without_writing(tmp_path):
    studio = Studio(classifier=classifier(["cat", "dog"], model=str(tmp_path / "my-model")))
    with pytest.raises(ClassifierError, match="a Space cannot read a folder"):
        studio.export_space(studio.new_export_path("savs-space.zip"))
    assert list(Path(studio.export_dir).iterdir()) == []  # nothing half-written is left
    with pytest.raises(ClassifierError, match="no classifier"):
        Studio().export_space(tmp_path / "x.zip")


def _saved(studio, tmp_path: Path) -> Path:
    return studio.classifier.save(tmp_path / "classifier.zip")
