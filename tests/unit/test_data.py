"""Dataset formats (JSONL, folder of classes, .zip of either), exports and image loading."""

from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from savs.data import (
    Example,
    check_training_set,
    example_digest,
    load_examples,
    load_jsonl,
    open_image,
    safe_extract_zip,
    write_jsonl,
    zip_folder,
)
from savs.errors import DataError

pytestmark = pytest.mark.unit


def png(path: Path, rgb=(200, 10, 10), size=(8, 8)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, rgb).save(path)
    return path


def write_lines(path: Path, lines: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n",
        encoding="utf-8",
    )
    return path


# --- JSONL ----------------------------------------------------------------------------------


def test_jsonl_image_paths_are_relative_to_the_file(tmp_path, monkeypatch):
    png(tmp_path / "data" / "img" / "a.png")
    png(tmp_path / "data" / "img" / "b.png")
    jsonl = write_lines(
        tmp_path / "data" / "train.jsonl",
        [
            {"image": "img/a.png", "question": "What?", "label": "red"},
            {"image": ["img/a.png", "img/b.png"], "question": "Both?", "label": "two"},
            {"question": "text only", "label": "t"},
        ],
    )
    monkeypatch.chdir(tmp_path)  # not the JSONL's folder
    examples = load_jsonl("data/train.jsonl")
    assert [ex.label for ex in examples] == ["red", "two", "t"]
    assert Path(examples[0].images[0]).resolve() == (jsonl.parent / "img" / "a.png").resolve()
    assert [Path(p).name for p in examples[1].images] == ["a.png", "b.png"]
    assert all(Path(p).is_file() for ex in examples for p in ex.images)
    assert examples[2].images == () and examples[2].text == "text only"
    assert examples[1].source == "train.jsonl:2"


def test_jsonl_question_option_fills_missing_questions(tmp_path):
    png(tmp_path / "a.png")
    path = write_lines(
        tmp_path / "t.jsonl",
        [{"image": "a.png", "label": "x"}, {"image": "a.png", "question": "own", "label": "y"}],
    )
    examples = load_jsonl(path, question="default?")
    assert [ex.text for ex in examples] == ["default?", "own"]


@pytest.mark.parametrize(
    "record, message",
    [
        ({"image": "a.png", "question": "q"}, r"t\.jsonl:3: missing field 'label'"),
        ({"image": "a.png", "label": "x"}, r"t\.jsonl:3: missing field 'question'"),
        (
            {"image": "a.png", "question": "q", "label": "   "},
            r"t\.jsonl:3: field 'label' is empty",
        ),
        (
            {"image": "a.png", "question": "q", "label": 3},
            r"t\.jsonl:3: field 'label' must be a string, got int",
        ),
        (
            {"image": "a.png", "question": ["q"], "label": "x"},
            r"t\.jsonl:3: field 'question' must be a string, got list",
        ),
        (
            {"image": 5, "question": "q", "label": "x"},
            r"t\.jsonl:3: field 'image' must be a path or a list of paths",
        ),
        (
            {"image": ["a.png", 7], "question": "q", "label": "x"},
            r"t\.jsonl:3: field 'image' must be a path",
        ),
        (
            {"image": "", "question": "q", "label": "x"},
            r"t\.jsonl:3: field 'image' holds an empty path",
        ),
        (
            {"image": "nope.png", "question": "q", "label": "x"},
            r"t\.jsonl:3: field 'image': file 'nope\.png' not found",
        ),
        (
            {"image": "a.png", "question": "q", "label": "x", "colour": 1},
            r"t\.jsonl:3: unknown field\(s\) \['colour'\]",
        ),
        ({"question": "", "label": "x"}, r"t\.jsonl:3: the example has neither text nor images"),
        (["a.png", "x"], r"t\.jsonl:3: expected a JSON object"),
        ('{"image": "a.png", "label": "x"', r"t\.jsonl:3: invalid JSON"),
    ],
)
def test_jsonl_bad_line_names_file_line_and_field(tmp_path, record, message):
    png(tmp_path / "a.png")
    good = {"image": "a.png", "question": "q", "label": "ok"}
    path = write_lines(tmp_path / "t.jsonl", [good, "", record])  # blank line 2 still counts
    with pytest.raises(DataError, match=message):
        load_jsonl(path)


def test_jsonl_unlabeled_allowed_when_not_required(tmp_path):
    path = write_lines(tmp_path / "t.jsonl", [{"question": "hi"}])
    (ex,) = load_jsonl(path, require_label=False)
    assert ex.label is None and ex.text == "hi"


def test_jsonl_empty_missing_and_not_utf8(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(DataError, match="empty.jsonl: no examples"):
        load_jsonl(empty)
    with pytest.raises(DataError, match="file not found"):
        load_jsonl(tmp_path / "absent.jsonl")
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"question": "caf\xe9", "label": "x"}\n')
    with pytest.raises(DataError, match="not UTF-8"):
        load_jsonl(latin)


def test_jsonl_text_with_unicode_line_separators_is_one_line(tmp_path):
    """JSON allows U+2028, U+0085 etc. raw inside strings; they must not split a record."""
    text = "first\u2028second\x85third\u2029end"
    path = tmp_path / "t.jsonl"
    lines = [
        json.dumps({"question": text, "label": "a"}, ensure_ascii=False),
        json.dumps({"question": "plain", "label": "b"}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    examples = load_jsonl(path)
    assert [ex.text for ex in examples] == [text, "plain"]
    assert examples[1].source == "t.jsonl:2"


def test_jsonl_with_byte_order_mark(tmp_path):
    """Windows Notepad saves UTF-8 with a BOM; the first line must still parse."""
    path = tmp_path / "t.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"question": "a", "label": "x"}\n{"question": "b", "label": "y"}\n'
    )
    assert [ex.text for ex in load_jsonl(path)] == ["a", "b"]


def test_jsonl_windows_line_endings(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"question": "a", "label": "x"}\r\n{"question": "b", "label": "y"}\r\n')
    assert [ex.text for ex in load_jsonl(path)] == ["a", "b"]


# --- folders and archives -------------------------------------------------------------------


def make_class_folders(root: Path) -> Path:
    png(root / "cat" / "1.png")
    png(root / "cat" / "2.jpg", (10, 10, 200))
    (root / "cat" / "notes.txt").write_text("not an image")
    png(root / "cat" / ".hidden.png")
    png(root / "dog" / "1.PNG", (10, 200, 10))
    png(root / ".git" / "x.png")
    return root


def test_folder_of_classes(tmp_path):
    root = make_class_folders(tmp_path / "ds")
    examples = load_examples(root, question="Which animal?")
    assert [(ex.label, Path(ex.images[0]).name) for ex in examples] == [
        ("cat", "1.png"),
        ("cat", "2.jpg"),
        ("dog", "1.PNG"),
    ]
    assert all(ex.text == "Which animal?" for ex in examples)
    assert examples[0].source == "cat/1.png"


def test_folder_of_classes_errors(tmp_path):
    root = make_class_folders(tmp_path / "ds")
    with pytest.raises(DataError, match="needs a question"):
        load_examples(root)
    (root / "empty").mkdir()
    with pytest.raises(DataError, match="class folder 'empty' holds no images"):
        load_examples(root, question="q")
    bare = tmp_path / "bare"
    bare.mkdir()
    with pytest.raises(DataError, match="no class folders"):
        load_examples(bare, question="q")
    with pytest.raises(DataError, match="not found"):
        load_examples(tmp_path / "nowhere", question="q")
    (tmp_path / "data.csv").write_text("a,b")
    with pytest.raises(DataError, match="data.csv: unsupported file type"):
        load_examples(tmp_path / "data.csv")


def test_folder_with_one_jsonl_loads_it_and_several_are_ambiguous(tmp_path):
    write_lines(tmp_path / "a.jsonl", [{"question": "x", "label": "1"}])
    assert [ex.text for ex in load_examples(tmp_path)] == ["x"]
    write_lines(tmp_path / "b.jsonl", [{"question": "y", "label": "2"}])
    with pytest.raises(DataError, match="several JSONL files"):
        load_examples(tmp_path)


def zip_tree(folder: Path, archive: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, prefix + p.relative_to(folder).as_posix())
    return archive


@pytest.mark.parametrize("prefix", ["", "my_dataset/"])
def test_zip_of_class_folders(tmp_path, prefix):
    root = make_class_folders(tmp_path / "ds")
    archive = zip_tree(root, tmp_path / "ds.zip", prefix)
    if prefix:
        with zipfile.ZipFile(archive, "a") as zf:
            zf.writestr("__MACOSX/my_dataset/._1.png", b"junk")
    examples = load_examples(archive, question="q", workdir=tmp_path / "x")
    assert [ex.label for ex in examples] == ["cat", "cat", "dog"]
    assert all(Path(ex.images[0]).is_file() for ex in examples)


@pytest.mark.parametrize("prefix", ["", "wrapped/"])
def test_zip_of_jsonl(tmp_path, prefix):
    src = tmp_path / "src"
    png(src / "images" / "a.png")
    write_lines(
        src / "train.jsonl",
        [
            {"image": "images/a.png", "question": "q", "label": "a"},
            {"question": "q2", "label": "b"},
        ],
    )
    archive = zip_tree(src, tmp_path / "ds.zip", prefix)
    examples = load_examples(archive, workdir=tmp_path / "x")
    assert [ex.label for ex in examples] == ["a", "b"]
    assert Path(examples[0].images[0]).is_file()


def test_zip_refuses_unsafe_entries(tmp_path):
    def make(name: str, **kw) -> Path:
        archive = tmp_path / f"{len(list(tmp_path.glob('*.zip')))}.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            info = zipfile.ZipInfo(name)
            if kw.get("link"):
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, b"data")
        return archive

    for name, kw, message in [
        ("../evil.txt", {}, "points outside"),
        ("/abs.txt", {}, "points outside"),
        ("link", {"link": True}, "symbolic link"),
        ("inner.zip", {}, "nested archive"),
    ]:
        dest = tmp_path / f"out_{name.strip('./')}"
        dest.mkdir()
        with pytest.raises(DataError, match=message):
            safe_extract_zip(make(name, **kw), dest)
    assert not (tmp_path / "evil.txt").exists()
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(DataError, match="bad.zip: not a valid .zip"):
        load_examples(bad)


# --- export round trip ----------------------------------------------------------------------


def test_write_jsonl_and_zip_round_trip(tmp_path):
    """What the Studio's dataset export does: write_jsonl into a folder, zip it, load it back."""
    a = png(tmp_path / "a.png", (250, 0, 0))
    b = png(tmp_path / "b.jpg", (0, 0, 250), size=(10, 6))
    pil = Image.new("RGB", (5, 7), (0, 250, 0))
    examples = [
        Example(text="one image", label="red", images=(str(a),)),
        Example(
            text="two images, unicode: caf\u00e9 \u2028 \U0001f600",
            label="mixed",
            images=(str(a), str(b)),
        ),
        Example(text="a PIL image", label="green", images=(pil,)),
        Example(text="no image at all", label="text"),
    ]
    write_jsonl(examples, tmp_path / "export")
    archive = zip_folder(tmp_path / "export", tmp_path / "export.zip")
    back = load_examples(archive, workdir=tmp_path / "unzipped")
    assert [(ex.text, ex.label, len(ex.images)) for ex in back] == [
        (ex.text, ex.label, len(ex.images)) for ex in examples
    ]
    for orig, new in zip(examples, back):
        for x, y in zip(orig.images, new.images):
            assert np.array_equal(np.asarray(open_image(x)), np.asarray(open_image(y)))
    # same inputs -> same content hash (the activation cache key)
    assert example_digest(examples[0]) == example_digest(back[0])
    assert example_digest(examples[3]) == example_digest(back[3])


def test_example_digest_ignores_label_and_path_but_not_content(tmp_path):
    a = png(tmp_path / "a.png", (1, 2, 3))
    a2 = png(tmp_path / "copy" / "a.png", (1, 2, 3))
    c = png(tmp_path / "c.png", (1, 2, 4))
    base = example_digest(Example(text="t", label="x", images=(str(a),)))
    assert base == example_digest(Example(text="t", label="y", images=(str(a2),)))
    assert base != example_digest(Example(text="t", label="x", images=(str(c),)))
    assert base != example_digest(Example(text="t2", label="x", images=(str(a),)))


# --- training set checks --------------------------------------------------------------------


def test_check_training_set():
    counter = iter(range(1000))
    ex = lambda label: Example(text=f"t{next(counter)}", label=label)  # noqa: E731 (distinct)
    assert check_training_set([ex("b"), ex("a"), ex("b"), ex("a")], True) == ["b", "a"]
    with pytest.raises(DataError, match="at least two classes.*'a'"):
        check_training_set([ex("a"), ex("a")], False)
    with pytest.raises(DataError, match="class 'solo' has a single example"):
        check_training_set([ex("a"), ex("a"), ex("solo")], True)
    assert check_training_set([ex("a"), ex("a"), ex("solo")], False) == ["a", "solo"]
    with pytest.raises(DataError, match="without a label"):
        check_training_set([ex("a"), Example(text="t", source="f.jsonl:4")], False)


# --- images ---------------------------------------------------------------------------------


def test_open_image_16_bit_is_scaled_not_clipped(tmp_path):
    arr = np.zeros((4, 8), dtype=np.uint16)
    arr[:, 4:] = 60000
    arr[:, :4] = 1000
    Image.fromarray(arr).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    img = open_image(tmp_path / "g16.png")
    assert img.mode == "RGB"
    assert img.getpixel((0, 0)) == (0, 0, 0) and img.getpixel((7, 0)) == (255, 255, 255)


def test_open_image_cmyk_palette_alpha_animated(tmp_path):
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    img = open_image(tmp_path / "cmyk.jpg")
    assert img.mode == "RGB"
    r, g, b = img.getpixel((4, 4))
    assert r > 200 and g < 60 and b < 60

    pal = Image.new("P", (8, 8))
    pal.putpalette([0, 0, 255] + [0] * 765)
    pal.save(tmp_path / "pal.png")
    assert open_image(tmp_path / "pal.png").getpixel((0, 0)) == (0, 0, 255)
    pal.save(tmp_path / "pal_t.png", transparency=0)  # transparent palette entry -> white
    assert open_image(tmp_path / "pal_t.png").getpixel((0, 0)) == (255, 255, 255)

    Image.new("RGBA", (8, 8), (255, 0, 0, 0)).save(tmp_path / "clear.png")
    assert open_image(tmp_path / "clear.png").getpixel((0, 0)) == (255, 255, 255)
    Image.new("RGBA", (8, 8), (255, 0, 0, 255)).save(tmp_path / "opaque.png")
    assert open_image(tmp_path / "opaque.png").getpixel((0, 0)) == (255, 0, 0)
    Image.new("LA", (8, 8), (0, 255)).save(tmp_path / "la.png")
    assert open_image(tmp_path / "la.png").getpixel((0, 0)) == (0, 0, 0)

    frames = [Image.new("RGB", (8, 8), c) for c in [(255, 0, 0), (0, 0, 255)]]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    img = open_image(tmp_path / "anim.gif")
    assert img.mode == "RGB" and img.getpixel((0, 0)) == (255, 0, 0)  # first frame


def test_open_image_refuses_decompression_bombs_before_decoding(tmp_path):
    Image.new("L", (7000, 7000)).save(tmp_path / "bomb.png")  # 49 M pixels, a few KB on disk
    with pytest.raises(DataError, match="bomb.png: image is 7000x7000 pixels, over the limit"):
        open_image(tmp_path / "bomb.png")


def test_open_image_applies_exif_rotation(tmp_path):
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = img.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees
    img.save(tmp_path / "rot.jpg", exif=exif)
    assert open_image(tmp_path / "rot.jpg").size == (20, 40)


def test_open_image_pil_input_and_large_images_shrink():
    img = open_image(Image.new("L", (3000, 1500), 128))
    assert img.mode == "RGB" and max(img.size) == 2048 and img.getpixel((0, 0)) == (128,) * 3


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("zero.png", b"", "the image file is empty \\(0 bytes\\)"),
        ("text.png", b"hello, not an image", "not a readable image"),
        ("trunc.png", "png-half", "not a readable image"),
        ("trunc.jpg", "jpg-half", "not a readable image"),
    ],
)
def test_open_image_bad_files_raise_data_error_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, str):
        fmt = content.split("-")[0]
        full = tmp_path / f"full.{fmt}"
        Image.new("RGB", (64, 64), (10, 20, 30)).save(full)
        data = full.read_bytes()
        content = data[: len(data) // 2]
    path.write_bytes(content)
    with pytest.raises(DataError, match=f"{name}: {message}"):
        open_image(path)


def test_open_image_missing_file(tmp_path):
    with pytest.raises(DataError, match="gone.png: image file not found"):
        open_image(tmp_path / "gone.png")
    # an example's source names the line; the message adds which of its images failed
    with pytest.raises(DataError, match="train.jsonl:3: image 'gone.png': image file not found"):
        open_image(tmp_path / "gone.png", where="train.jsonl:3")
    with pytest.raises(DataError, match="^cat/gone.png: image file not found"):
        open_image(tmp_path / "gone.png", where="cat/gone.png")


def test_open_image_does_not_leak_file_handles(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in [(255, 0, 0), (0, 0, 255)]]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    bad = tmp_path / "trunc.png"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(tmp_path / "full.png")
    bad.write_bytes((tmp_path / "full.png").read_bytes()[:60])
    fd_dir = Path("/proc/self/fd")
    before = len(os.listdir(fd_dir))
    for _ in range(5):
        open_image(tmp_path / "anim.gif")
        with pytest.raises(DataError):
            open_image(bad)
    assert len(os.listdir(fd_dir)) == before
