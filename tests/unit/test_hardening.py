"""Issue 13, library and CLI side: what a hostile visitor of a hosted Space could still do.

Every limit is checked while reading, before the work it bounds (records parsed, pixels
decoded, RSS); uploads are confined and their errors name no server path and do not tell which
outside files exist; damaged archives and classifiers fail with one SavsError; labels are one
class per spelling; the CLI checks --out first and never prints raw escape codes.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import EpsImagePlugin, Image, ImageFile

from savs import data
from savs.__main__ import EXIT_USER_ERROR, main, printable
from savs.classifier import CONFIG_FILE, TENSORS_FILE, Prediction, SAVClassifier, fit_activations
from savs.data import (
    check_text,
    clean_text,
    load_examples,
    load_jsonl,
    open_image,
    read_studio_meta,
    safe_extract_zip,
    write_studio_meta,
)
from savs.errors import ClassifierError, DataError
from savs.limits import HOSTED, IMAGE_FORMATS, MAX_LINE_BYTES, Limits

pytestmark = pytest.mark.unit


def png_bytes(size=(8, 6), colour=(10, 20, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def peak_rss_kib() -> int:
    return int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))


def reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM := current RSS


def line(**record) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"


@pytest.fixture
def parsed(monkeypatch) -> list[int]:
    """Counts every JSON record the loader parses."""
    calls: list[int] = []
    real = json.loads
    monkeypatch.setattr(json, "loads", lambda s, *a, **k: calls.append(1) or real(s, *a, **k))
    return calls


@pytest.fixture
def decoded(monkeypatch) -> list[tuple[int, int]]:
    """Records every image decode (ImageFile.load): header reads are free, decodes are not."""
    seen: list[tuple[int, int]] = []
    real = ImageFile.ImageFile.load
    monkeypatch.setattr(
        ImageFile.ImageFile, "load", lambda self: seen.append(self.size) or real(self)
    )
    return seen


# ---------------------------------------------------------------------------------------------
# Limits checked while reading


def _million_lines(path: Path) -> Path:
    record = line(question="a tiny example", label="x")
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(100):
            f.write(record * 10_000)
    return path


def test_million_line_jsonl_stops_at_the_limit(tmp_path, parsed):
    """1,000,000 lines with a limit of 1,000: refused at line 1,001, having parsed at most 1,000
    records, and the process's peak memory grows by far less than the file."""
    path = _million_lines(tmp_path / "huge.jsonl")
    reset_peak_rss()
    before = peak_rss_kib()
    with pytest.raises(
        DataError,
        match=r"^huge\.jsonl:1001: more than 1,000 examples; the "
        r"limit is 1,000",
    ):
        load_examples(path, limits=HOSTED)
    assert len(parsed) <= 1000
    assert peak_rss_kib() - before < 100 * 1024  # KiB


def test_million_line_zip_stops_at_the_limit(tmp_path, parsed):
    """The issue's case: a small zip of 1M lines, uploaded."""
    jsonl = _million_lines(tmp_path / "data.jsonl")
    archive = tmp_path / "up.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(jsonl, "data.jsonl")
    jsonl.unlink()
    assert archive.stat().st_size < 200_000
    reset_peak_rss()
    before = peak_rss_kib()
    with pytest.raises(DataError, match=r"^data\.jsonl:1001: more than 1,000 examples"):
        load_examples(archive, upload=True, workdir=tmp_path / "work")
    assert len(parsed) <= 1000
    assert peak_rss_kib() - before < 100 * 1024
    assert not (tmp_path / "work").exists()  # the refused upload left nothing on disk


def test_many_references_to_one_big_png_hit_the_pixel_budget_before_decoding(tmp_path, decoded):
    """40 lines naming one 1024 x 1024 PNG 16 times each (2.5 GB decoded, before): the header
    sizes are summed and the load is refused at the reference that passes 100 M pixels, with
    no image decoded."""
    Image.new("RGB", (1024, 1024), (1, 2, 3)).save(tmp_path / "big.png")
    path = tmp_path / "refs.jsonl"
    path.write_text(
        "".join(line(image=["big.png"] * 16, question="q", label=f"c{i % 2}") for i in range(40))
    )
    per_image = 1024 * 1024
    first_over = HOSTED.max_pixels // per_image + 1  # the 96th reference: line 6
    with pytest.raises(
        DataError,
        match=rf"^refs\.jsonl:{(first_over - 1) // 16 + 1}: image "
        rf"'big\.png': the images so far hold "
        rf"{first_over * per_image:,} pixels; the limit for one "
        rf"load is {HOSTED.max_pixels:,}",
    ):
        load_examples(path, confine_to=tmp_path, limits=HOSTED)
    assert decoded == []
    assert len(load_examples(path)) == 40  # local use: no budget


def test_pixel_budget_counts_class_folder_images(tmp_path, decoded):
    for cls in ("a", "b"):
        for i in range(3):
            (tmp_path / "ds" / cls).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (100, 100)).save(tmp_path / "ds" / cls / f"{i}.png")
    with pytest.raises(
        DataError,
        match=r"^b/1\.png: the images so far hold 50,000 pixels; the "
        r"limit for one load is 45,000",
    ):
        load_examples(tmp_path / "ds", question="q", limits=Limits(max_pixels=45_000))
    assert decoded == []
    with pytest.raises(DataError, match=r"^b/2\.png: more than 5 examples"):
        load_examples(tmp_path / "ds", question="q", limits=Limits(max_examples=5))


def test_class_and_text_limits_name_line_and_field(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text("".join(line(question="q", label=f"class {i}") for i in range(4)))
    with pytest.raises(
        DataError,
        match=r"^t\.jsonl:4: label 'class 3' would be class number 4; "
        r"the limit is 3 classes",
    ):
        load_jsonl(path, limits=Limits(max_classes=3))
    long = tmp_path / "long.jsonl"
    long.write_text(line(question="x" * 101, label="a"))
    with pytest.raises(
        DataError,
        match=r"^long\.jsonl:1: field 'question' is 101 characters "
        r"long; the limit is 100",
    ):
        load_jsonl(long, limits=Limits(max_text_chars=100))
    with pytest.raises(DataError, match=r"^input: field 'text' is 20,001 characters long"):
        check_text("y" * 20_001, "input", "text")


def test_the_two_text_checks_keep_their_two_jobs_and_one_limit():
    """check_text: a field someone wrote (a non-string refused, the text kept as written);
    clean_text: text a visitor typed (None is empty, surrounding spaces go before the count).
    Both refuse past the limit in the same words."""
    assert check_text("  a ", "f.jsonl:1", "question") == "  a "
    with pytest.raises(DataError, match=r"^f\.jsonl:1: field 'label' must be a string, got int"):
        check_text(3, "f.jsonl:1", "label")
    assert clean_text(None, "the text") == "" and clean_text("  a \n", "the text") == "a"
    assert clean_text(" " * 50 + "ab" + " " * 50, "the prompt", 2) == "ab"
    with pytest.raises(DataError, match=r"^the prompt is 3 characters long; the limit is 2\.$"):
        clean_text(" abc ", "the prompt", 2)
    with pytest.raises(DataError, match=r"^f: field 'q' is 3 characters long; the limit is 2\.$"):
        check_text("abc", "f", "q", 2)


def test_a_line_longer_than_the_limit_is_refused_unread(tmp_path):
    path = tmp_path / "wide.jsonl"
    path.write_text(
        line(question="ok", label="a")
        + '{"question": "'
        + "z" * (2 * MAX_LINE_BYTES)
        + '", "label": "b"}\n'
    )
    with pytest.raises(
        DataError,
        match=r"^wide\.jsonl:2: the line is longer than 1,048,576 "
        r"bytes",
    ):
        load_jsonl(path)


# ---------------------------------------------------------------------------------------------
# Confinement and naming


@pytest.mark.parametrize("target", ["secret", "missing", "inside-absolute"])
def test_uploaded_jsonl_alone_names_no_image_file(tmp_path, target):
    """A plain .jsonl upload: any image path is refused with one message that neither depends
    on whether the file exists nor shows a server path."""
    upload = tmp_path / "upload"
    upload.mkdir()
    (tmp_path / "secret.png").write_bytes(png_bytes())
    (upload / "inside.png").write_bytes(png_bytes())
    image = {
        "secret": str(tmp_path / "secret.png"),
        "missing": str(tmp_path / "nope.png"),
        "inside-absolute": str(upload / "inside.png"),
    }[target]
    path = upload / "train.jsonl"
    path.write_text(line(image=image, question="q", label="a"))
    with pytest.raises(DataError) as error:
        load_examples(path, upload=True)
    assert str(error.value) == (
        "train.jsonl:1: field 'image': a .jsonl uploaded on its own "
        "cannot name image files; upload a .zip holding the JSONL and "
        "its images."
    )
    if target != "missing":
        assert len(load_examples(path)) == 1  # local use still may


@pytest.mark.parametrize(
    "image",
    [
        "{root}/in.png",
        "{root}/nope.png",
        "{outside}/secret.png",
        "{outside}/nope.png",
        "../secret.png",
        "../nope.png",
    ],
)
def test_confined_paths_get_one_answer_whatever_exists(tmp_path, image):
    """Absolute paths (even inside the root) and paths leaving it: the same message, so a
    visitor learns nothing about which files exist."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "in.png").write_bytes(png_bytes())
    (tmp_path / "secret.png").write_bytes(png_bytes())
    image = image.format(root=root, outside=tmp_path)
    path = root / "t.jsonl"
    path.write_text(line(image=image, question="q", label="a"))
    with pytest.raises(DataError) as error:
        load_examples(path, confine_to=root)
    assert str(error.value) == (
        f"t.jsonl:1: field 'image': '{image}' points outside the dataset "
        "folder; use paths relative to the JSONL file, inside the "
        "archive."
    )


def test_upload_errors_name_files_relative_to_the_upload(tmp_path):
    archive = tmp_path / "up.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("set/data.jsonl", line(image="img/gone.png", question="q", label="a"))
        zf.writestr("set/img/here.png", png_bytes())
    with pytest.raises(DataError) as error:
        load_examples(archive, upload=True, workdir=tmp_path / "work")
    assert str(error.value) == (
        "data.jsonl:1: field 'image': file 'img/gone.png' not found "
        "(looked in set/img). Image paths are relative to the JSONL file."
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    for source in (empty, tmp_path / "absent.jsonl"):
        with pytest.raises(DataError) as error:
            load_examples(source, question="q", upload=True)
        assert str(tmp_path) not in str(error.value)
        assert str(error.value).startswith(("empty: no class folders", "absent.jsonl: not found"))


# ---------------------------------------------------------------------------------------------
# Archives: one opener, nothing left behind


def _dataset_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data.jsonl", line(image="a.png", question="q", label="x"))
        zf.writestr("a.png", png_bytes((4, 4)))
    return buf.getvalue()


def test_every_flipped_byte_of_a_dataset_zip_is_a_data_error(tmp_path):
    """One flipped bit anywhere (version byte: NotImplementedError, CRC, lengths, names ...)
    either still loads or is one DataError; nothing else escapes, nothing is left on disk."""
    raw = _dataset_zip()
    work = tmp_path / "work"
    outcomes = set()
    for i in range(len(raw)):
        for bit in (0x01, 0x80):
            flipped = bytearray(raw)
            flipped[i] ^= bit
            archive = tmp_path / "f.zip"
            archive.write_bytes(bytes(flipped))
            try:
                load_examples(archive, workdir=work)
                outcomes.add("loaded")
                shutil.rmtree(work)  # kept on success: the examples' images live there
            except DataError as exc:
                outcomes.add("refused")
                assert str(tmp_path) not in str(exc)
                assert not work.exists()
    assert outcomes == {"loaded", "refused"}


def test_zip_version_byte_is_a_data_error(tmp_path):
    raw = bytearray(_dataset_zip())
    central = raw.find(b"PK\x01\x02")
    raw[central + 6] = 148  # "version needed to extract" 14.8: zipfile raises NotImplementedError
    archive = tmp_path / "v.zip"
    archive.write_bytes(bytes(raw))
    with pytest.raises(
        DataError,
        match=r"^v\.zip: not a valid \.zip archive \("
        r"NotImplementedError: zip file version 14\.8\)",
    ):
        load_examples(archive)


def test_every_flipped_byte_of_a_classifier_zip_is_a_classifier_error(tmp_path):
    clf = fit_activations(torch.randn(4, 1, 2, 3), ["x", "x", "y", "y"], k=1, config={"model": "m"})
    raw = clf.save(tmp_path / "clf.zip").read_bytes()
    outcomes = []
    for i in range(0, len(raw), 3):
        flipped = bytearray(raw)
        flipped[i] ^= 0x80
        archive = tmp_path / "f.zip"
        archive.write_bytes(bytes(flipped))
        try:
            outcomes.append(SAVClassifier.load(archive).labels == ["x", "y"])
        except ClassifierError as exc:  # anything else escapes and fails the test
            outcomes.append(str(exc).startswith("f.zip: "))
    assert all(outcomes) and len(outcomes) > 100


def test_failed_extraction_leaves_the_folder_as_it_was(tmp_path):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a/1.png", png_bytes())
        zf.writestr("b/2.png", png_bytes())
    raw = bytearray(archive.read_bytes())
    second = raw.find(b"PK\x03\x04", 10)
    raw[second - 20 : second - 10] = b"\xff" * 10  # corrupt the first entry's data (bad CRC)
    archive.write_bytes(bytes(raw))
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep me")
    with pytest.raises(DataError, match=r"bad\.zip: entry 'a/1\.png' cannot be extracted"):
        safe_extract_zip(archive, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["mine.txt"]
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("cls/1.png", png_bytes())
        zf.writestr("data.jsonl", "not json\n")
    with pytest.raises(DataError, match=r"data\.jsonl:1: invalid JSON"):
        load_examples(good, workdir=dest)  # extraction worked, reading failed
    assert sorted(p.name for p in dest.iterdir()) == ["mine.txt"]


def test_hosted_archive_limits(tmp_path):
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(4):
            zf.writestr(f"a/{i}.png", png_bytes())
    with pytest.raises(DataError, match=r"many\.zip: 4 entries; the limit is 3"):
        safe_extract_zip(archive, tmp_path / "dest", Limits(max_zip_files=3))
    assert not (tmp_path / "dest").exists()


# ---------------------------------------------------------------------------------------------
# Labels


def test_labels_are_nfc_and_case_variants_are_refused(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(
        line(question="a", label="e\u0301cole")
        + line(question="b", label="école")
        + "\n"
        + line(question="c", label="Red")
        + line(question="d", label="red")
    )
    with pytest.raises(DataError) as error:
        load_jsonl(path)
    assert str(error.value) == (
        "t.jsonl:5: label 'red' differs from 'Red' (t.jsonl:4) only by "
        "case or Unicode form; use one spelling for one class."
    )
    path.write_text(line(question="a", label="e\u0301cole") + line(question="b", label="école"))
    assert [ex.label for ex in load_jsonl(path)] == ["\u00e9cole", "\u00e9cole"]


def test_class_folders_are_nfc_and_case_variants_are_refused(tmp_path):
    for cls in ("Red", "red"):
        (tmp_path / "ds" / cls).mkdir(parents=True)
        Image.new("RGB", (4, 4)).save(tmp_path / "ds" / cls / "1.png")
    with pytest.raises(
        DataError,
        match=r"^red/: label 'red' differs from 'Red' \(Red/\) only by "
        r"case",
    ):
        load_examples(tmp_path / "ds", question="q")
    (tmp_path / "ds" / "red").rename(tmp_path / "ds" / "e\u0301cole")
    assert {ex.label for ex in load_examples(tmp_path / "ds", question="q")} == {
        "Red",
        "\u00e9cole",
    }


# ---------------------------------------------------------------------------------------------
# Image formats


def test_eps_never_reaches_ghostscript(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: ran.append(a))
    path = tmp_path / "drawing.eps"
    Image.new("RGB", (4, 4)).save(path)
    with Image.open(path) as img:  # PIL alone would take it: the restriction is what refuses
        assert img.format == "EPS"
    disguised = tmp_path / "photo.png"
    disguised.write_bytes(path.read_bytes())
    for p in (path, disguised):
        with pytest.raises(DataError, match=rf"{p.name}: not a readable image"):
            open_image(p)
    assert ran == []
    assert "EPS" not in IMAGE_FORMATS


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"])
def test_allowed_formats_still_open(tmp_path, fmt):
    path = tmp_path / f"x.{fmt.lower()}"
    Image.new("RGB", (4, 4), (200, 0, 0)).save(path, fmt)
    assert open_image(path).size == (4, 4)


def test_phone_jpeg_with_several_pictures_still_opens(tmp_path):
    """Cameras write MPO (a JPEG holding several pictures); Pillow opens it through its JPEG
    plugin, so the format restriction must not refuse it."""
    path = tmp_path / "phone.jpg"
    Image.new("RGB", (4, 4), (255, 0, 0)).save(
        path, "MPO", save_all=True, append_images=[Image.new("RGB", (4, 4))]
    )
    assert Image.open(path).format == "MPO"
    assert open_image(path).getpixel((0, 0))[0] > 240


# ---------------------------------------------------------------------------------------------
# studio.json


def _meta(tmp_path: Path, **fields) -> Path:
    path = tmp_path / "studio.json"
    path.write_text(json.dumps({"format": "savs-studio", **fields}, ensure_ascii=False))
    return path


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"classes": 5}, r"field 'classes' must be a list of class names, got int"),
        ({"classes": "abc"}, r"field 'classes' must be a list of class names, got str"),
        ({"classes": ["a", 3]}, r"field 'classes\[1\]' must be a string, got int"),
        (
            {"classes": ["a", "x" * 201]},
            r"field 'classes\[1\]' is 201 characters long; the limit is 200",
        ),
        (
            {"classes": [f"c{i}" for i in range(51)]},
            r"label 'c50' would be class number 51; the limit is 50",
        ),
        ({"classes": ["Cat", "cat"]}, r"label 'cat' differs from 'Cat'"),
        ({"classes": ["ok", " "]}, r"the label is empty"),
        ({"prompt": 3}, r"field 'prompt' must be a string, got int"),
        ({"prompt": "p" * 20_001}, r"field 'prompt' is 20,001 characters long"),
        ({"k": True}, r"field 'k' must be a positive whole number, got true"),
        ({"k": 0}, r"field 'k' must be a positive whole number, got 0"),
        ({"k": "3"}, r"field 'k' must be a positive whole number"),
        ({"k": 2.5}, r"field 'k' must be a positive whole number"),
        ({"scoring": "best"}, r"field 'scoring' must be one of loo, reference, got \"best\""),
        ({"format": "other"}, r"not a SAVs Studio file"),
    ],
    ids=lambda v: (
        str(v)[:30]
        if not isinstance(v, dict)
        else next(iter(v)) + "-" + str(next(iter(v.values())))[:12]
    ),
)
def test_studio_meta_refuses_every_bad_field(tmp_path, fields, message):
    with pytest.raises(DataError, match=r"^studio\.json: .*" + message):
        read_studio_meta(_meta(tmp_path, **fields))


def test_studio_meta_reads_a_good_file(tmp_path):
    path = _meta(
        tmp_path, prompt="Which?", classes=["e\u0301cole", "b"], k=3, scoring="loo", extra="ignored"
    )
    assert read_studio_meta(path) == {
        "prompt": "Which?",
        "classes": ["\u00e9cole", "b"],
        "k": 3,
        "scoring": "loo",
    }
    assert read_studio_meta(tmp_path / "absent.json") == {}
    path.write_text("{not json")
    with pytest.raises(DataError, match=r"^studio\.json: not valid JSON"):
        read_studio_meta(path)
    path.write_text(" " * (data.MAX_META_BYTES + 1))
    with pytest.raises(DataError, match=r"^studio\.json: larger than 1024 KiB"):
        read_studio_meta(path)


def test_studio_meta_written_is_read_back_as_written(tmp_path):
    """The writer and the strict reader are one format: what an export writes, an import
    accepts unchanged (non-ASCII kept as UTF-8 text, not escaped)."""
    classes = ["\u00e9cole", "b", "empty one"]
    path = write_studio_meta(tmp_path, "Which?\nOne word.", classes, 7, "reference")
    assert path == tmp_path / data.STUDIO_FILE == tmp_path / "studio.json"
    assert "\u00e9cole" in path.read_text("utf-8")
    assert json.loads(path.read_text("utf-8"))["format"] == data.STUDIO_FORMAT
    assert read_studio_meta(path) == {
        "prompt": "Which?\nOne word.",
        "classes": classes,
        "k": 7,
        "scoring": "reference",
    }


# ---------------------------------------------------------------------------------------------
# Classifier loader


@pytest.fixture
def saved(tmp_path) -> Path:
    acts = torch.randn(6, 2, 3, 4, generator=torch.Generator().manual_seed(1))
    return fit_activations(
        acts, ["a", "a", "b", "b", "c", "c"], k=3, config={"model": "test-x", "prompt": "Which?"}
    ).save(tmp_path / "clf")


def _edit(
    folder: Path, heads: torch.Tensor | None = None, n_labels: int | None = None, **config
) -> None:
    from safetensors.torch import load_file, save_file

    cfg = json.loads((folder / CONFIG_FILE).read_text())
    cfg.update(config)
    tensors = load_file(folder / TENSORS_FILE)
    if heads is not None:
        tensors["heads"] = heads
    if n_labels is not None:
        cfg["labels"] = [f"label {i}" for i in range(n_labels)]
        tensors["means"] = torch.randn(tensors["means"].shape[0], n_labels, 4)
    (folder / CONFIG_FILE).write_text(json.dumps(cfg))
    save_file(tensors, folder / TENSORS_FILE)


@pytest.mark.parametrize(
    "edit,message",
    [
        ({"prompt": 5}, r"'prompt' must be a string, got int"),
        ({"prompt": ["a"]}, r"'prompt' must be a string, got list"),
        ({"prompt": "p" * 20_001}, r"'prompt' is 20,001 characters long; the limit is 20,000"),
        ({"model": None}, r"'model' must name the model the classifier was made with, got null"),
        ({"model": ""}, r"'model' must name the model"),
        ({"model": 7}, r"'model' must name the model"),
        ({"num_layers": True}, r"'num_layers' must be a positive integer, got true"),
        ({"head_dim": 4.0}, r"'head_dim' must be a positive integer, got 4\.0"),
        ({"k": True}, r"'k' must be a positive integer, got true"),
        ({"k": 2}, r"'k' is 2 but 3 heads are stored"),
        ({"scoring": "magic"}, r"'scoring' must be one of loo, reference"),
        ({"labels": ["a", "B", "b"]}, r"labels 'B' and 'b' differ only by case"),
        (
            {"labels": ["a", "b", "x" * 201]},
            r"label 'x+'\.\.\. is 201 characters long; the limit is 200",
        ),
        (
            {"heads": torch.tensor([[0, 1], [1, 2], [0, 1]])},
            r"head \(layer 0, head 1\) is listed twice",
        ),
        ({"labels": 10_001}, r"10,001 labels; the limit is 10,000"),
    ],
    ids=lambda v: (
        next(iter(v)) + "-" + str(next(iter(v.values())))[:10] if isinstance(v, dict) else None
    ),
)
def test_classifier_loader_refuses(saved, edit, message):
    n_labels = edit.pop("labels") if isinstance(edit.get("labels"), int) else None
    _edit(saved, n_labels=n_labels, **edit)
    with pytest.raises(ClassifierError, match=r"^clf: " + message):
        SAVClassifier.load(saved)


def test_classifier_loader_hosted_limits_and_required_model(saved):
    _edit(saved, n_labels=51)
    assert len(SAVClassifier.load(saved).labels) == 51  # local use: up to 10,000
    with pytest.raises(ClassifierError, match=r"^clf: 51 labels; the limit is 50"):
        SAVClassifier.load(saved, limits=HOSTED)
    cfg = json.loads((saved / CONFIG_FILE).read_text())
    del cfg["model"]
    (saved / CONFIG_FILE).write_text(json.dumps(cfg))
    assert SAVClassifier.load(saved).config.get("model") is None
    with pytest.raises(ClassifierError, match=r"^clf: 'model' must name the model"):
        SAVClassifier.load(saved, require_model=True)


# ---------------------------------------------------------------------------------------------
# CLI


@pytest.fixture
def no_model(monkeypatch) -> list[str]:
    """Records model loads; none must happen in these tests."""
    import savs.models

    loads: list[str] = []
    monkeypatch.setattr(savs.models, "load_model", lambda name, **kw: loads.append(name))
    return loads


def _train(tmp_path: Path) -> Path:
    path = tmp_path / "t.jsonl"
    path.write_text(
        "".join(
            line(question=q, label=lab)
            for q, lab in (("a", "x"), ("b", "y"), ("c", "x"), ("d", "y"))
        )
    )
    return path


@pytest.mark.parametrize(
    "out,message",
    [
        ("missing/clf", r"folder '.*missing' does not exist"),
        ("missing/deeper/clf.zip", r"folder '.*deeper' does not exist"),
        ("file.txt", r"it is a file; a classifier is saved as a folder"),
        ("folder.zip", r"it is a folder; a classifier is saved as a \.zip file"),
    ],
)
def test_cli_checks_out_before_anything_slow(tmp_path, capsys, no_model, out, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file.txt").write_text("")
    (tmp_path / "folder.zip").mkdir()
    read = []
    monkeypatch.setattr(data, "load_examples", lambda *a, **k: read.append(a))
    assert (
        main(["fit", "--model", "m", "--train", str(_train(tmp_path)), "--out", out])
        == EXIT_USER_ERROR
    )
    err = capsys.readouterr().err
    assert re.match(r"error: cannot save the classifier to '.*': " + message, err), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert no_model == [] and read == []
    assert not (tmp_path / "missing").exists()


def test_printable_escapes_terminal_controls():
    assert printable("red\x1b[2J\x07 ok\n") == "red\\x1b[2J\\x07 ok\n"
    assert printable("abc\u202edef\u2028x", keep="") == "abc\\u202edef\\u2028x"
    assert printable("école 🐱 犬\tz") == "école 🐱 犬\\tz"
    assert printable("a\nb", keep="") == "a\\nb"


def test_cli_prints_labels_and_errors_escaped(tmp_path, capsys, monkeypatch, no_model):
    import savs.__main__ as cli

    evil = "\x1b[31mred\x1b]0;pwned\x07"
    monkeypatch.setattr(
        cli,
        "cmd_predict",
        lambda args: Prediction(
            label=evil,
            votes={evil: 2, "blue": 1},
            probabilities={evil: 2 / 3, "blue": 1 / 3},
            head_votes=[],
        ).to_json(),
    )
    assert main(["predict", "--classifier", "c", "--text", "t"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert (
        out == "\\x1b[31mred\\x1b]0;pwned\\x07  (\\x1b[31mred\\x1b]0;pwned\\x07 0.67, blue 0.33)\n"
    )
    bidi = tmp_path / "b.jsonl"
    bidi.write_text(line(image="x\u202egnp.exe", question="q", label="a"))
    assert main(["fit", "--model", "m", "--train", str(bidi)]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "\u202e" not in err and "x\\u202egnp.exe" in err and err.count("\n") == 1
    assert main(["predict", "--classifier", "c", "--text", "t", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == evil  # JSON stays exact


# ---------------------------------------------------------------------------------------------
# Plots


def test_probability_bars_colour_each_class_by_its_position():
    from savs.plots import class_colour, probability_bars

    labels = [f"class {i}" for i in range(12)]
    shares = {lab: (i * 7 % 12) / 66 for i, lab in enumerate(labels)}
    fig = probability_bars(Prediction(labels[0], {lab: 0 for lab in labels}, shares, []), labels)
    bar = fig.data[0]
    assert list(bar.marker.color) == [class_colour(labels.index(lab), lab) for lab in bar.y]
    assert list(bar.y) == sorted(labels, key=lambda lab: -shares[lab])
