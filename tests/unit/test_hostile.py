"""Hostile input: every case either works or fails with a SavsError naming what is wrong;
memory stays bounded; nothing is written outside the folder it belongs in; nothing is unpickled.

Cases (issue 7): images (not an image, truncated, bombs, 16-bit / CMYK / palette / alpha /
animated, zero bytes), archives (escaping paths, links, too many files, zip bombs, nested
archives, corrupt / encrypted entries), JSONL (invalid JSON, wrong types, missing fields, empty,
unicode and very long labels, 1,000 classes, duplicates, one class), classifier import (pickle
in disguise, wrong shapes, another model's classifier), hosted mode (SAVS_ALLOWED_MODELS) and
trust_remote_code staying off.
"""

from __future__ import annotations

import gc
import io
import json
import os
import pickle
import re
import stat
import struct
import sys
import tempfile
import time
import warnings
import zipfile
import zlib
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from PIL import Image, ImageFile

from savs import archives, data
from savs.__main__ import EXIT_USER_ERROR, main
from savs.classifier import CONFIG_FILE, TENSORS_FILE, SAVClassifier, fit_activations
from savs.data import (
    MAX_LABEL_CHARS,
    DuplicateExampleWarning,
    Example,
    check_training_set,
    find_duplicates,
    load_examples,
    load_jsonl,
    open_image,
    safe_extract_zip,
    write_jsonl,
)
from savs.errors import ClassifierError, DataError, ModelError
from savs.models import registry
from savs.pipeline import check_compatible

pytestmark = pytest.mark.unit


def tree(root: Path) -> set[str]:
    """Every path under root (relative), to prove nothing new appeared."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def make_zip(
    path: Path,
    entries: list[tuple[str | zipfile.ZipInfo, bytes]],
    compression: int = zipfile.ZIP_STORED,
) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are one of the hostile cases
        with zipfile.ZipFile(path, "w", compression) as zf:
            for name, payload in entries:
                zf.writestr(name, payload)
    return path


def png_bytes(size=(8, 6), mode="RGB", colour=(10, 20, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, "PNG")
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature + IHDR claiming width x height RGB pixels, with a token IDAT."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )


def peak_rss_kib() -> int:
    return int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))


def reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM := current RSS


# ---------------------------------------------------------------------------------------------
# Images


def test_not_an_image_names_the_file(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is text, not pixels")
    with pytest.raises(DataError, match=r"notes\.png.*not a readable image"):
        open_image(path)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.jpg.*empty \(0 bytes\)"):
        open_image(path)


def test_missing_image_and_folder_named_like_an_image(tmp_path):
    (tmp_path / "dir.png").mkdir()
    for name in ("nowhere.png", "dir.png"):
        with pytest.raises(DataError, match=re.escape(name) + ".*not found"):
            open_image(tmp_path / name)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_truncated_image(tmp_path, fmt):
    assert not ImageFile.LOAD_TRUNCATED_IMAGES  # else truncation would pass silently
    buf = io.BytesIO()
    Image.effect_noise((64, 64), 50).convert("RGB").save(buf, fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(DataError, match=rf"cut\.{fmt.lower()}.*not a readable image"):
        open_image(path)


def test_pixel_bomb_is_refused_before_decoding(tmp_path, monkeypatch):
    """A 1 kB PNG claiming 100,000 x 100,000 pixels (30 GB decoded): refused from its header,
    the decoder never runs and the process's peak memory does not move."""
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(100_000, 100_000))
    assert path.stat().st_size < 2000
    decoded = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(
        ImageFile.ImageFile, "load", lambda self: decoded.append(self.size) or real_load(self)
    )
    reset_peak_rss()
    before = peak_rss_kib()
    with pytest.raises(DataError, match=r"bomb\.png.*(too large|over the limit)"):
        open_image(path)
    assert decoded == []
    assert peak_rss_kib() - before < 50 * 1024  # KiB: a decode would need 30 GB


def test_image_over_our_limit_but_under_pils(tmp_path, monkeypatch):
    """7000 x 7000 = 49 M pixels: PIL would decode it, our 40 M limit refuses it first."""
    path = tmp_path / "big.png"
    path.write_bytes(png_header_only(7000, 7000))
    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size))
    with pytest.raises(DataError, match=r"big\.png: image is 7000x7000 pixels, over the limit"):
        open_image(path)
    assert decoded == []


def _write_16bit_grey(path: Path) -> None:
    Image.frombytes("I;16", (4, 1), struct.pack("<4H", 0, 1000, 30000, 65535)).save(path)


def _write_palette_with_transparency(path: Path) -> None:
    img = Image.new("P", (4, 1))
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    img.putpixel((0, 0), 0)
    img.putpixel((1, 0), 1)
    img.putpixel((2, 0), 1)
    img.putpixel((3, 0), 1)
    img.save(path, transparency=1)  # blue = transparent -> white


def _write_animated_gif(path: Path) -> None:
    frames = [Image.new("RGB", (4, 1), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)


def _write_animated_webp(path: Path) -> None:
    frames = [Image.new("RGB", (4, 1), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, lossless=True)


def _write_cmyk_jpeg(path: Path) -> None:
    Image.new("CMYK", (4, 1), (0, 255, 255, 0)).save(path, quality=100)  # red in CMYK


def _write_rgba(path: Path) -> None:
    img = Image.new("RGBA", (4, 1), (255, 0, 0, 255))
    img.putpixel((1, 0), (255, 0, 0, 0))  # fully transparent -> white
    img.putpixel((2, 0), (255, 0, 0, 0))
    img.putpixel((3, 0), (255, 0, 0, 0))
    img.save(path)


def _write_grey_alpha(path: Path) -> None:
    Image.new("LA", (4, 1), (0, 0)).save(path)  # transparent black -> white


def _write_bilevel(path: Path) -> None:
    Image.new("1", (4, 1), 1).save(path)


def _write_float_tiff(path: Path) -> None:
    Image.frombytes("F", (4, 1), struct.pack("<4f", -1.0, 0.0, 0.5, 1.0)).save(path)


def _write_exif_rotated(path: Path) -> None:
    img = Image.new("RGB", (4, 1), (0, 255, 0))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90: a 4x1 file is shown 1x4
    img.save(path, exif=exif, quality=100)


# (writer, file name, expected RGB size, (pixel, expected colour within tolerance))
CONVERSIONS = [
    (_write_16bit_grey, "grey16.png", (4, 1), ((3, 0), (255, 255, 255))),
    (_write_palette_with_transparency, "palette.png", (4, 1), ((1, 0), (255, 255, 255))),
    (_write_animated_gif, "anim.gif", (4, 1), ((0, 0), (255, 0, 0))),
    (_write_animated_webp, "anim.webp", (4, 1), ((0, 0), (255, 0, 0))),
    (_write_cmyk_jpeg, "cmyk.jpg", (4, 1), ((0, 0), (255, 0, 0))),
    (_write_rgba, "alpha.png", (4, 1), ((1, 0), (255, 255, 255))),
    (_write_grey_alpha, "la.png", (4, 1), ((0, 0), (255, 255, 255))),
    (_write_bilevel, "bilevel.png", (4, 1), ((0, 0), (255, 255, 255))),
    (_write_float_tiff, "float.tif", (4, 1), ((3, 0), (255, 255, 255))),
    (_write_exif_rotated, "rotated.jpg", (1, 4), ((0, 3), (0, 255, 0))),
]


@pytest.mark.parametrize("writer,name,size,probe", CONVERSIONS, ids=[c[1] for c in CONVERSIONS])
def test_unusual_images_become_8bit_rgb(tmp_path, writer, name, size, probe):
    path = tmp_path / name
    writer(path)
    img = open_image(path)
    assert img.mode == "RGB" and img.size == size
    xy, expected = probe
    assert all(abs(a - b) <= 8 for a, b in zip(img.getpixel(xy), expected)), img.getpixel(xy)


def test_16bit_grey_keeps_its_gradient(tmp_path):
    path = tmp_path / "grey16.png"
    _write_16bit_grey(path)
    values = [open_image(path).getpixel((x, 0))[0] for x in range(4)]
    assert values[0] == 0 and values[-1] == 255 and values == sorted(values)
    assert len(set(values)) == 4  # not clipped to white


def test_animated_image_file_is_closed(tmp_path):
    path = tmp_path / "anim.gif"
    _write_animated_gif(path)
    gc.collect()  # earlier tests' garbage (e.g. gradio's event loops) warns on its own
    fds = len(os.listdir("/proc/self/fd"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images = [open_image(path) for _ in range(5)]
        open_files = len(os.listdir("/proc/self/fd")) - fds
        gc.collect()  # an unclosed file warns when it is collected
    assert open_files <= 0
    unclosed = [
        str(w.message)
        for w in caught
        if issubclass(w.category, ResourceWarning) and "anim.gif" in str(w.message)
    ]
    assert unclosed == []
    assert all(img.getpixel((0, 0)) == (255, 0, 0) for img in images)  # usable once closed


def test_large_image_memory_is_a_small_multiple_of_its_pixels(tmp_path):
    """A 4096 x 4096 RGBA PNG (64 MB decoded) with alpha: shrinking first keeps the peak under
    4x the decoded size (shrinking last, after copies for alpha and RGB, took 5x)."""
    path = tmp_path / "big.png"
    Image.new("RGBA", (4096, 4096), (10, 20, 30, 100)).save(path, compress_level=1)
    decoded_kib = 4096 * 4096 * 4 // 1024
    reset_peak_rss()
    before = peak_rss_kib()
    img = open_image(path)
    assert peak_rss_kib() - before < 4 * decoded_kib
    assert img.size == (data.MAX_IMAGE_SIDE, data.MAX_IMAGE_SIDE) and img.mode == "RGB"
    assert all(abs(a - b) <= 2 for a, b in zip(img.getpixel((5, 5)), (159, 163, 167)))


def test_large_image_is_shrunk(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (data.MAX_IMAGE_SIDE * 2, 10), (1, 2, 3)).save(path)
    assert max(open_image(path).size) == data.MAX_IMAGE_SIDE


# ---------------------------------------------------------------------------------------------
# Archives


ESCAPING_NAMES = [
    "../evil.txt",
    "a/../../evil.txt",
    "/tmp/evil.txt",
    "//evil.txt",
    "C:/evil.txt",
    "C:\\evil.txt",
    "\\evil.txt",
    "ok/../../../evil.txt",
]


@pytest.mark.parametrize("name", ESCAPING_NAMES)
def test_zip_paths_escaping_the_folder(tmp_path, name):
    archive = make_zip(tmp_path / "up.zip", [("data.jsonl", b"{}"), (name, b"pwned")])
    dest = tmp_path / "dest"
    dest.mkdir()
    before = tree(tmp_path)
    with pytest.raises(DataError, match=r"up\.zip: entry .* outside the archive folder"):
        safe_extract_zip(archive, dest)
    assert tree(tmp_path) == before  # nothing extracted, not even the harmless entry
    assert not Path("/tmp/evil.txt").exists()


def test_zip_symlink_entry(tmp_path):
    link = zipfile.ZipInfo("class_a/link.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = make_zip(tmp_path / "links.zip", [(link, b"/etc/passwd")])
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(DataError, match=r"links\.zip: entry 'class_a/link\.png' is a symbolic"):
        safe_extract_zip(archive, dest)
    assert tree(dest) == set()


def test_zip_too_many_files(tmp_path, monkeypatch):
    monkeypatch.setattr(archives, "MAX_ZIP_FILES", 50)
    archive = make_zip(tmp_path / "many.zip", [(f"a/{i}.png", b"") for i in range(51)])
    with pytest.raises(DataError, match=r"many\.zip: 51 entries; the limit is 50"):
        safe_extract_zip(archive, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_zip_bomb_refused_from_its_declared_size(tmp_path):
    """A 1 MiB deflated entry whose header declares 2 GiB (with the real 1 GiB limit): refused
    before anything is decompressed."""
    archive = make_zip(
        tmp_path / "bomb.zip", [("a/zeros.png", b"\0" * (1 << 20))], zipfile.ZIP_DEFLATED
    )
    raw = bytearray(archive.read_bytes())
    central = raw.find(b"PK\x01\x02")
    raw[central + 24 : central + 28] = struct.pack("<I", 2 << 30)  # uncompressed size
    archive.write_bytes(bytes(raw))
    reset_peak_rss()
    before = peak_rss_kib()
    with pytest.raises(DataError, match=r"bomb\.zip: 2048 MiB uncompressed; the limit is 1024"):
        safe_extract_zip(archive, tmp_path / "dest")
    assert peak_rss_kib() - before < 50 * 1024
    assert not (tmp_path / "dest").exists()


def test_zip_bomb_with_lying_header_stops(tmp_path, monkeypatch):
    """Headers that under-declare: extraction stops at the real byte count (or zipfile's own
    size / CRC check) and says so, instead of filling the disk."""
    monkeypatch.setattr(archives, "MAX_ZIP_BYTES", 3 << 20)
    archive = make_zip(
        tmp_path / "liar.zip",
        [(f"a/{i}.png", b"\0" * (1 << 20)) for i in range(5)],
        zipfile.ZIP_DEFLATED,
    )
    raw = bytearray(archive.read_bytes())
    for match in re.finditer(b"PK\x01\x02", bytes(raw)):
        raw[match.start() + 24 : match.start() + 28] = struct.pack("<I", 10)
    archive.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"liar\.zip: .*(cannot be extracted|zip bomb)"):
        safe_extract_zip(archive, tmp_path / "dest")
    written = sum(p.stat().st_size for p in (tmp_path / "dest").rglob("*") if p.is_file())
    assert written <= 3 << 20


@pytest.mark.parametrize("name", ["inner.zip", "a/data.tar.gz", "b/x.7z", "c/y.RAR"])
def test_nested_archive(tmp_path, name):
    archive = make_zip(tmp_path / "outer.zip", [(name, b"PK\x03\x04")])
    with pytest.raises(DataError, match=r"outer\.zip: entry .* is a nested archive"):
        safe_extract_zip(archive, tmp_path / "dest")


def _corrupt_deflate(path: Path) -> None:
    make_zip(path, [("data.jsonl", b"hello " * 2000)], zipfile.ZIP_DEFLATED)
    raw = bytearray(path.read_bytes())
    raw[45:60] = b"\xff" * 15  # inside the compressed data
    path.write_bytes(bytes(raw))


def _encrypted(path: Path) -> None:
    make_zip(path, [("data.jsonl", b"{}")])
    raw = bytearray(path.read_bytes())
    raw[6] |= 1  # local header: encrypted flag
    central = raw.find(b"PK\x01\x02")
    raw[central + 8] |= 1
    path.write_bytes(bytes(raw))


def _unknown_compression(path: Path) -> None:
    make_zip(path, [("data.jsonl", b"{}")])
    raw = bytearray(path.read_bytes())
    raw[8] = 99  # local header: compression method 99 (AES)
    raw[raw.find(b"PK\x01\x02") + 10] = 99
    path.write_bytes(bytes(raw))


def _file_and_folder(path: Path) -> None:
    make_zip(path, [("a", b"file"), ("a/b.png", b"inside a file?")])


def _not_a_zip(path: Path) -> None:
    path.write_text("just text")


@pytest.mark.parametrize(
    "build,message",
    [
        (_corrupt_deflate, r"entry 'data\.jsonl' cannot be extracted"),
        (_encrypted, r"entry 'data\.jsonl' cannot be extracted .*password"),
        (_unknown_compression, r"entry 'data\.jsonl' cannot be extracted"),
        (_file_and_folder, r"entry 'a/b\.png' cannot be extracted"),
        (_not_a_zip, r"not a valid \.zip archive"),
    ],
    ids=["corrupt", "encrypted", "compression", "file-vs-folder", "not-a-zip"],
)
def test_broken_archives(tmp_path, build, message):
    archive = tmp_path / "broken.zip"
    build(archive)
    with pytest.raises(DataError, match=r"broken\.zip: " + message) as error:
        load_examples(archive, question="q", workdir=tmp_path / "work")
    assert str(tmp_path) not in str(error.value)  # entries are named, server paths are not


def test_failed_zip_leaves_no_temporary_folder(tmp_path, monkeypatch):
    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp_root))
    archive = make_zip(
        tmp_path / "bad.zip", [("cls/a.png", png_bytes()), ("data.jsonl", b"not json\n")]
    )
    with pytest.raises(DataError, match=r"data\.jsonl:1: invalid JSON"):
        load_examples(archive)
    assert list(temp_root.iterdir()) == []


@pytest.mark.parametrize(
    "image_path",
    ["{outside}", "../outside.png", "a/../../outside.png", "{missing}", "../missing.png"],
)
def test_zip_jsonl_cannot_read_files_outside_the_archive(tmp_path, image_path):
    """A hosted server must not let an uploaded JSONL pull in /etc/... or another user's files;
    the message is the same whether the outside file exists or not (no probing)."""
    outside = tmp_path / "outside.png"
    outside.write_bytes(png_bytes())
    image_path = image_path.format(outside=outside, missing=tmp_path / "missing.png")
    line = json.dumps({"image": image_path, "question": "q", "label": "x"})
    archive = make_zip(tmp_path / "up.zip", [("data.jsonl", line.encode())])
    work = tmp_path / "work" / "inner"
    work.mkdir(parents=True)
    with pytest.raises(
        DataError,
        match=r"data\.jsonl:1: field 'image': .* points outside the "
        "dataset folder",
    ):
        load_examples(archive, workdir=work)


def test_confine_to_for_uploaded_jsonl(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "ok.png").write_bytes(png_bytes())
    (tmp_path / "secret.png").write_bytes(png_bytes())
    good = tmp_path / "in" / "good.jsonl"
    good.write_text(json.dumps({"image": "ok.png", "question": "q", "label": "a"}) + "\n")
    assert len(load_examples(good, confine_to=tmp_path / "in")) == 1
    bad = tmp_path / "in" / "bad.jsonl"
    bad.write_text(json.dumps({"image": "../secret.png", "question": "q", "label": "a"}) + "\n")
    assert len(load_examples(bad)) == 1  # local use: relative paths may go up
    with pytest.raises(DataError, match=r"bad\.jsonl:1: .*outside the dataset folder"):
        load_examples(bad, confine_to=tmp_path / "in")


def test_valid_zip_still_loads(tmp_path):
    """The limits above must not refuse an ordinary dataset (class folders, macOS junk)."""
    archive = make_zip(
        tmp_path / "ok.zip",
        [
            ("set/cat/1.png", png_bytes()),
            ("set/cat/2.png", png_bytes(colour=(1, 1, 1))),
            ("set/dog/1.png", png_bytes(colour=(9, 9, 9))),
            ("__MACOSX/set/._x", b"junk"),
        ],
        zipfile.ZIP_DEFLATED,
    )
    examples = load_examples(archive, question="animal?", workdir=tmp_path / "work")
    assert sorted(ex.label for ex in examples) == ["cat", "cat", "dog"]
    assert all(
        Path(ex.images[0]).resolve().is_relative_to((tmp_path / "work").resolve())
        for ex in examples
    )


# ---------------------------------------------------------------------------------------------
# JSONL


def _jsonl(tmp_path: Path, bad_line: str, name: str = "train.jsonl") -> Path:
    """A valid line 1, a blank line 2, the line under test on 3."""
    path = tmp_path / name
    good = json.dumps({"question": "q", "label": "ok"})
    path.write_text(f"{good}\n\n{bad_line}\n", encoding="utf-8")
    return path


BAD_LINES = [
    ('{"question": "q", "label": "a"', r"invalid JSON"),
    ("[1, 2, 3]", r"expected a JSON object .* got list"),
    ('"just a string"', r"expected a JSON object .* got str"),
    ("null", r"expected a JSON object .* got NoneType"),
    ('{"question": 5, "label": "a"}', r"field 'question' must be a string, got int"),
    ('{"question": "q", "label": ["a"]}', r"field 'label' must be a string, got list"),
    ('{"question": "q", "label": {"x": 1}}', r"field 'label' must be a string, got dict"),
    ('{"question": "q", "label": true}', r"field 'label' must be a string, got bool"),
    ('{"question": "q"}', r"missing field 'label'"),
    ('{"question": "q", "label": null}', r"missing field 'label'"),
    ('{"label": "a"}', r"missing field 'question'"),
    ('{"question": "q", "label": ""}', r"field 'label' is empty"),
    ('{"question": "q", "label": "  \\t "}', r"field 'label' is empty"),
    ('{"question": "q", "label": "a", "lable": "b"}', r"unknown field\(s\) \['lable'\]"),
    ('{"question": "q", "label": "a", "image": 3}', r"field 'image' must be a path"),
    ('{"question": "q", "label": "a", "image": ["a.png", 4]}', r"field 'image' must be a path"),
    ('{"question": "q", "label": "a", "image": ""}', r"field 'image' holds an empty path"),
    ('{"question": "q", "label": "a", "image": "nope.png"}', r"file 'nope\.png' not found"),
    (
        '{"question": "q", "label": "a", "image": ' + json.dumps(["x.png"] * 17) + "}",
        r"17 images in one example; the limit is 16",
    ),
    ('{"question": "", "label": "a"}', r"neither text nor images"),
    (
        '{"question": "q", "label": "' + "x" * (MAX_LABEL_CHARS + 1) + '"}',
        rf"field 'label' is {MAX_LABEL_CHARS + 1} characters long; the limit is {MAX_LABEL_CHARS}",
    ),
    ("[" * 100_000 + "]" * 100_000, r"nested too deeply"),
    # NaN is refused by the parser (issue 21), before the field is looked at
    ('{"question": NaN, "label": "a"}', r"invalid JSON \(NaN is not a number here"),
]


@pytest.mark.parametrize("line,message", BAD_LINES, ids=[f"bad{i}" for i in range(len(BAD_LINES))])
def test_bad_jsonl_line_is_named(tmp_path, line, message):
    path = _jsonl(tmp_path, line)
    with pytest.raises(DataError, match=r"^train\.jsonl:3: .*" + message):
        load_examples(path)


def test_label_at_the_length_limit_is_fine(tmp_path):
    path = _jsonl(tmp_path, json.dumps({"question": "q", "label": "é" * MAX_LABEL_CHARS}))
    assert load_jsonl(path)[1].label == "é" * MAX_LABEL_CHARS


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", r"no examples \(the file is empty\)"),
        (b"\n \n\t\n", r"no examples"),
        (b'{"question": "q", "label": "a"}\n\xff\xfe bad bytes\n', r"not UTF-8 text"),
    ],
    ids=["empty", "blank-lines", "not-utf8"],
)
def test_unusable_jsonl_files(tmp_path, content, message):
    path = tmp_path / "x.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"x\.jsonl: " + message):
        load_jsonl(path)


def test_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "windows.jsonl"
    path.write_bytes(
        "\ufeff".encode() + b'{"question": "q", "label": "a"}\r\n'
        b'{"question": "r", "label": "b"}\r\n'
    )
    assert [ex.label for ex in load_jsonl(path)] == ["a", "b"]


UNICODE_LABELS = [
    "chat 🐱",
    "犬",
    "קוף",
    "e\u0301cole",
    "école",
    "line\u2028sep",
    "nbsp\u00a0x",
    "tab\tin",
    "Ω≈ç√",
]


def test_unicode_labels_survive_every_round_trip(tmp_path):
    """JSONL export -> import -> fit -> save -> load: every label comes back as typed, in NFC
    (composed and decomposed 'école' are one class: issue 13)."""
    import unicodedata

    examples = [
        Example(text=f"text {i} {j}", label=label)
        for i, label in enumerate(UNICODE_LABELS)
        for j in range(2)
    ]
    reloaded = load_jsonl(write_jsonl(examples, tmp_path / "export"))
    assert [ex.label for ex in reloaded] == [
        unicodedata.normalize("NFC", ex.label) for ex in examples
    ]
    classes = list(dict.fromkeys(ex.label for ex in reloaded))
    assert len(classes) == len(UNICODE_LABELS) - 1  # the two 'école' spellings merged
    acts = torch.randn(len(reloaded), 2, 3, 4)
    clf = fit_activations(acts, [ex.label for ex in reloaded], k=3)
    for target in (tmp_path / "clf", tmp_path / "clf.zip"):
        assert SAVClassifier.load(clf.save(target)).labels == classes


def test_one_thousand_classes(tmp_path):
    """1,000 classes x 2 examples: loads, validates, fits, saves and reloads in seconds."""
    n_classes = 1000
    labels = [f"class {i:04d} – ünïcode" for i in range(n_classes)]
    path = tmp_path / "many.jsonl"
    path.write_text(
        "".join(
            json.dumps({"question": f"example {i} {j}", "label": lab}, ensure_ascii=False) + "\n"
            for i, lab in enumerate(labels)
            for j in range(2)
        ),
        encoding="utf-8",
    )
    start = time.perf_counter()
    examples = load_examples(path)
    assert check_training_set(examples, leave_one_out=True) == labels
    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(n_classes, 3, 4, 16, generator=gen)
    acts = centres.repeat_interleave(2, 0) + 0.01 * torch.randn(
        2 * n_classes, 3, 4, 16, generator=gen
    )
    clf = fit_activations(acts, [ex.label for ex in examples], k=5)
    assert clf.config["train_accuracy"] > 0.99
    again = SAVClassifier.load(clf.save(tmp_path / "clf.zip"))
    assert again.labels == labels and tuple(again.means.shape) == (5, n_classes, 16)
    assert time.perf_counter() - start < 20  # ~3 s on an idle core; was ~50 s


def test_one_class(tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text(
        "".join(json.dumps({"question": f"q{i}", "label": "only"}) + "\n" for i in range(4))
    )
    examples = load_examples(path)
    with pytest.raises(DataError, match=r"at least two classes.*got 1 \('only'\)"):
        check_training_set(examples, leave_one_out=True)
    with pytest.raises(DataError, match=r"at least two classes"):
        fit_activations(torch.randn(4, 1, 2, 3), [ex.label for ex in examples])


def _duplicates_file(tmp_path: Path, lines: list[tuple[str, str]]) -> list[Example]:
    path = tmp_path / "dup.jsonl"
    path.write_text("".join(json.dumps({"question": q, "label": lab}) + "\n" for q, lab in lines))
    return load_examples(path)


def test_duplicate_examples_are_allowed_but_warned(tmp_path):
    examples = _duplicates_file(
        tmp_path, [("a", "x"), ("b", "x"), ("a", "x"), ("c", "y"), ("d", "y"), ("c", "y")]
    )
    assert [(a.source, b.source) for a, b in find_duplicates(examples)] == [
        ("dup.jsonl:1", "dup.jsonl:3"),
        ("dup.jsonl:4", "dup.jsonl:6"),
    ]
    with pytest.warns(
        DuplicateExampleWarning,
        match=r"2 duplicate example\(s\).*dup\.jsonl:3 = "
        r"dup\.jsonl:1",
    ):
        assert check_training_set(examples, leave_one_out=True) == ["x", "y"]


def test_duplicate_with_another_label_is_flagged(tmp_path):
    examples = _duplicates_file(tmp_path, [("a", "x"), ("b", "x"), ("c", "y"), ("a", "y")])
    with pytest.warns(
        DuplicateExampleWarning,
        match=r"another label.*dup\.jsonl:4 \('y'\) = "
        r"dup\.jsonl:1 \('x'\)",
    ):
        check_training_set(examples, leave_one_out=True)


def test_duplicate_images_are_found_by_content(tmp_path):
    for name in ("a.png", "copy.png"):
        (tmp_path / name).write_bytes(png_bytes())
    (tmp_path / "other.png").write_bytes(png_bytes(colour=(200, 0, 0)))
    same = [
        Example("q", "x", (str(tmp_path / "a.png"),)),
        Example("q", "x", (str(tmp_path / "copy.png"),)),
    ]
    assert len(find_duplicates(same)) == 1
    different = [
        Example("q", "x", (str(tmp_path / "a.png"),)),
        Example("q", "x", (str(tmp_path / "other.png"),)),
        Example("q2", "x", (str(tmp_path / "a.png"),)),
    ]
    assert find_duplicates(different) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_training_set(
            different + [Example("q4", "y", (str(tmp_path / "other.png"),)), Example("q3", "y")],
            leave_one_out=False,
        )


# ---------------------------------------------------------------------------------------------
# Classifier import


@pytest.fixture
def saved_classifier(tmp_path) -> Path:
    acts = torch.randn(6, 2, 3, 4, generator=torch.Generator().manual_seed(1))
    clf = fit_activations(acts, ["a", "a", "b", "b", "c", "c"], k=3, config={"model": "test-x"})
    return clf.save(tmp_path / "clf")


class _Trap:
    """Unpickling this creates a file: proof that something was unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_renamed_safetensors_is_never_unpickled(tmp_path, saved_classifier):
    marker = tmp_path / "UNPICKLED"
    payload = pickle.dumps(_Trap(marker))
    pickle.loads(payload)  # the trap works ...
    assert marker.exists()
    marker.unlink()
    (saved_classifier / TENSORS_FILE).write_bytes(payload)
    with pytest.raises(ClassifierError, match=rf"clf: {TENSORS_FILE} is not a valid safetensors"):
        SAVClassifier.load(saved_classifier)
    config = (saved_classifier / CONFIG_FILE).read_bytes()
    archive = make_zip(tmp_path / "clf.zip", [(TENSORS_FILE, payload), (CONFIG_FILE, config)])
    with pytest.raises(ClassifierError, match=r"clf\.zip: .*not a valid safetensors"):
        SAVClassifier.load(archive)
    torch_file = tmp_path / "model.safetensors"  # torch.save writes a zip holding a pickle
    torch.save({"means": torch.zeros(2), "trap": _Trap(marker)}, torch_file)
    with pytest.raises(ClassifierError, match=rf"model\.safetensors: {TENSORS_FILE} not found"):
        SAVClassifier.load(torch_file)
    assert not marker.exists()  # ... and loading never triggered it


def _rewrite_tensors(folder: Path, **changes) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(folder / TENSORS_FILE)
    for key, value in changes.items():
        if value is None:
            del tensors[key]
        else:
            tensors[key] = value
    save_file(tensors, folder / TENSORS_FILE)


def _rewrite_config(folder: Path, **changes) -> None:
    config = json.loads((folder / CONFIG_FILE).read_text())
    config.update(changes)
    (folder / CONFIG_FILE).write_text(json.dumps(config))


@pytest.mark.parametrize(
    "tensors,config,message",
    [
        (
            {"means": torch.zeros(3, 3, 5)},
            {},
            r"tensor 'means' has shape \[3, 3, 5\], expected \[3, 3, 4\]",
        ),
        ({"means": torch.zeros(2, 2)}, {}, r"tensor 'means' has shape"),
        ({"means": torch.full((3, 3, 4), float("nan"))}, {}, r"NaN or infinite"),
        ({"heads": torch.tensor([[0, 0], [1, 9], [0, 1]])}, {}, r"head index is out of range"),
        (
            {"heads": torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]])},
            {},
            r"'heads' must be int64",
        ),
        (
            {"head_scores": torch.zeros(5, 5)},
            {},
            r"'head_scores' has shape \[5, 5\], expected \[2, 3\]",
        ),
        ({"means": None}, {}, r"tensors missing: \['means'\]"),
        ({}, {"labels": ["a", "b", "a"]}, r"same class name twice"),
        ({}, {"labels": ["a"]}, r"at least two non-empty strings"),
        ({}, {"labels": ["a", "", "c"]}, r"at least two non-empty strings"),
        ({}, {"num_layers": "2"}, r"'num_layers' must be a positive integer"),
        ({}, {"format": "pytorch"}, r"is not a SAVs classifier"),
        ({}, {"format_version": 99}, r"format version 99"),
    ],
    ids=[
        "means-dim",
        "means-rank",
        "nan",
        "head-range",
        "head-dtype",
        "scores",
        "missing",
        "dup-labels",
        "one-label",
        "empty-label",
        "layers-type",
        "format",
        "version",
    ],
)
def test_malformed_classifier(saved_classifier, tensors, config, message):
    _rewrite_tensors(saved_classifier, **tensors)
    _rewrite_config(saved_classifier, **config)
    with pytest.raises(ClassifierError, match=r"^clf: .*" + message):
        SAVClassifier.load(saved_classifier)


@pytest.mark.parametrize(
    "config_text,message",
    [
        ("{not json", r"not valid JSON"),
        ("[" * 100_000, r"not valid JSON"),
        ("[1, 2]", r"not a SAVs classifier"),
        ("\udcff", r"not valid JSON"),
    ],
    ids=["syntax", "deep", "list", "bytes"],
)
def test_unreadable_classifier_config(saved_classifier, config_text, message):
    (saved_classifier / CONFIG_FILE).write_bytes(config_text.encode("utf-8", "surrogateescape"))
    with pytest.raises(ClassifierError, match=message):
        SAVClassifier.load(saved_classifier)


def test_broken_classifier_archives(tmp_path, saved_classifier):
    tensors = (saved_classifier / TENSORS_FILE).read_bytes()
    config = (saved_classifier / CONFIG_FILE).read_bytes()
    encrypted = make_zip(tmp_path / "locked.zip", [(TENSORS_FILE, tensors), (CONFIG_FILE, config)])
    raw = bytearray(encrypted.read_bytes())
    for match in re.finditer(b"PK\x01\x02", bytes(raw)):
        raw[match.start() + 8] |= 1
    for match in re.finditer(b"PK\x03\x04", bytes(raw)):
        raw[match.start() + 6] |= 1
    encrypted.write_bytes(bytes(raw))
    with pytest.raises(ClassifierError, match=r"locked\.zip: the archive cannot be read"):
        SAVClassifier.load(encrypted)
    corrupt = make_zip(
        tmp_path / "corrupt.zip",
        [(CONFIG_FILE, config * 20), (TENSORS_FILE, tensors)],
        zipfile.ZIP_DEFLATED,
    )
    raw = bytearray(corrupt.read_bytes())
    raw[60:80] = b"\xff" * 20
    corrupt.write_bytes(bytes(raw))
    with pytest.raises(ClassifierError, match=r"corrupt\.zip: "):
        SAVClassifier.load(corrupt)
    partial = make_zip(tmp_path / "partial.zip", [(CONFIG_FILE, config)])
    with pytest.raises(ClassifierError, match=rf"partial\.zip: {TENSORS_FILE} not found"):
        SAVClassifier.load(partial)
    with pytest.raises(ClassifierError, match=r"classifier not found"):
        SAVClassifier.load(tmp_path / "nothing-here")


def _adapter(name: str, layers: int, heads: int, dim: int) -> SimpleNamespace:
    return SimpleNamespace(
        name=name,
        num_layers=layers,
        full_layers=layers,
        num_heads=heads,
        head_dim=dim,
        max_image_tokens=None,  # a text LM: no resolution policy
    )


def test_classifier_from_another_model_is_refused(saved_classifier):
    clf = SAVClassifier.load(saved_classifier)  # made with 'test-x': 2 layers x 3 heads x 4
    check_compatible(clf, _adapter("test-x", 2, 3, 4))
    with pytest.raises(
        ClassifierError,
        match=r"made with 'test-x' \(2 layers x 3 heads x 4 dims\)"
        r", but the model in use is 'other' \(30 x 9 x 64\)",
    ):
        check_compatible(clf, _adapter("other", 30, 9, 64))
    with pytest.raises(
        ClassifierError,
        match=r"made with 'test-x', but the model in use is "
        r"'same-shape'",
    ):
        check_compatible(clf, _adapter("same-shape", 2, 3, 4))


def test_predict_refuses_another_models_classifier(saved_classifier):
    """The real path: predict() checks compatibility before running the model (which here
    raises if anything tries to run it)."""
    from savs.pipeline import predict

    def never(*args, **kwargs):
        raise AssertionError("predict ran the model before checking the classifier")

    adapter = _adapter("test-qwen2", 30, 9, 64)
    adapter.encode = adapter.read_heads = never
    clf = SAVClassifier.load(saved_classifier)
    with pytest.raises(
        ClassifierError,
        match=r"made with 'test-x' .* but the model in use is "
        r"'test-qwen2'",
    ):
        predict(adapter, clf, [Example(text="hello")])


# ---------------------------------------------------------------------------------------------
# Hosted mode and trust_remote_code


@pytest.fixture
def fake_transformers(monkeypatch):
    """Replace every from_pretrained that load_model may call by a recorder (no network, no
    weights); returns the list of (what, source, kwargs) calls."""
    import transformers

    calls: list[tuple[str, str, dict]] = []
    model_type = {"value": "llama"}  # set by the test: which auto class load_model must pick

    class FakeModel:
        def to(self, device):
            return self

    def recorder(what: str, result):
        def from_pretrained(source, **kwargs):
            calls.append((what, source, kwargs))
            return result

        return from_pretrained

    def config_from_pretrained(source, **kwargs):
        calls.append(("config", source, kwargs))
        return SimpleNamespace(model_type=model_type["value"])

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", config_from_pretrained)
    for auto in ("AutoModelForCausalLM", "AutoModelForImageTextToText"):
        monkeypatch.setattr(
            getattr(transformers, auto), "from_pretrained", recorder(auto, FakeModel())
        )
    for auto in ("AutoTokenizer", "AutoProcessor"):
        monkeypatch.setattr(
            getattr(transformers, auto), "from_pretrained", recorder(auto, object())
        )
    monkeypatch.setattr(
        registry, "ModelAdapter", lambda model, processor, name, **kw: ("adapter", name)
    )
    monkeypatch.delenv(registry.ALLOWED_MODELS_ENV, raising=False)
    return SimpleNamespace(calls=calls, model_type=model_type)


@pytest.mark.parametrize(
    "model_type,expected",
    [
        # the processor before the weights: a resolution bound it cannot keep is refused first
        ("llama", ["config", "AutoModelForCausalLM", "AutoTokenizer"]),
        ("llava", ["config", "AutoProcessor", "AutoModelForImageTextToText"]),
    ],
)
def test_trust_remote_code_is_off_unless_asked(fake_transformers, model_type, expected):
    fake_transformers.model_type["value"] = model_type
    calls = fake_transformers.calls
    assert registry.load_model("some-org/some-model", device="cpu") == (
        "adapter",
        "some-org/some-model",
    )
    assert [c[0] for c in calls] == expected
    assert all(c[1] == "some-org/some-model" and c[2]["trust_remote_code"] is False for c in calls)
    calls.clear()
    registry.load_model("some-org/some-model", device="cpu", trust_remote_code=True)
    assert [c[2]["trust_remote_code"] for c in calls] == [True] * 3


def test_cli_passes_trust_remote_code_only_with_the_flag(tmp_path, monkeypatch):
    import savs.models

    seen = []

    def fake_load_model(name, **kwargs):
        seen.append(kwargs["trust_remote_code"])
        raise ModelError("stop here")

    monkeypatch.setattr(savs.models, "load_model", fake_load_model)
    train = tmp_path / "t.jsonl"
    train.write_text(
        '{"question": "a", "label": "x"}\n{"question": "b", "label": "y"}\n'
        '{"question": "c", "label": "x"}\n{"question": "d", "label": "y"}\n'
    )
    for extra in ([], ["--trust-remote-code"]):
        assert main(["fit", "--model", "m", "--train", str(train), *extra]) == EXIT_USER_ERROR
    assert seen == [False, True]


def test_allowlist(monkeypatch):
    env = registry.ALLOWED_MODELS_ENV
    monkeypatch.delenv(env, raising=False)
    registry.check_allowed("anything/at-all")  # unset: everything may load
    monkeypatch.setenv(env, " tiny , org/good-model,")
    registry.check_allowed("tiny")
    registry.check_allowed("org/good-model")
    for name in (
        "org/evil-model",
        "smollm2",
        "org/good-model-2",
        "ORG/GOOD-MODEL",
        "",
        "/tmp/x",
        "tiny,org/evil",
    ):
        with pytest.raises(
            ModelError,
            match=rf"model {re.escape(repr(name))} is not allowed on "
            r"this server; allowed: tiny, org/good-model\.$",
        ):
            registry.check_allowed(name)


def test_allowlist_refuses_before_anything_is_loaded(monkeypatch, fake_transformers):
    monkeypatch.setenv(registry.ALLOWED_MODELS_ENV, "tiny")
    with pytest.raises(ModelError, match=r"'org/evil' is not allowed"):
        registry.load_model("org/evil", device="cpu")
    assert fake_transformers.calls == []


def test_cli_reports_a_refused_model_with_exit_2(tmp_path, monkeypatch, capsys, fake_transformers):
    monkeypatch.setenv(registry.ALLOWED_MODELS_ENV, "tiny")
    train = tmp_path / "t.jsonl"
    train.write_text(
        '{"question": "a", "label": "x"}\n{"question": "b", "label": "y"}\n'
        '{"question": "c", "label": "x"}\n{"question": "d", "label": "y"}\n'
    )
    assert main(["fit", "--model", "org/evil", "--train", str(train)]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: model 'org/evil' is not allowed on this server; allowed: tiny")
    assert "Traceback" not in err
    # a classifier naming a refused model: eval / predict refuse it too
    clf = fit_activations(
        torch.randn(4, 1, 2, 3), ["x", "x", "y", "y"], k=1, config={"model": "org/evil"}
    ).save(tmp_path / "clf")
    assert main(["eval", "--classifier", str(clf), "--test", str(train)]) == EXIT_USER_ERROR
    assert main(["predict", "--classifier", str(clf), "--text", "hi"]) == EXIT_USER_ERROR
    assert capsys.readouterr().err.count("'org/evil' is not allowed") == 2
    assert fake_transformers.calls == []


@pytest.mark.parametrize(
    "argv,message",
    [
        (["predict", "--classifier", "{pickle}", "--text", "hi"], r"not a valid safetensors file"),
        (["fit", "--model", "m", "--train", "{bad_jsonl}"], r"bad\.jsonl:1: invalid JSON"),
        (
            ["fit", "--model", "m", "--train", "{bad_zip}"],
            r"up\.zip: entry '\.\./x' points outside",
        ),
        (
            ["predict", "--classifier", "{pickle}", "--image", "{missing}"],
            r"'.*nope\.png' not found",
        ),
        (["predict", "--classifier", "{pickle}"], r"predict needs an input"),
    ],
)
def test_cli_reports_hostile_input_on_one_line(tmp_path, capsys, saved_classifier, argv, message):
    (saved_classifier / TENSORS_FILE).write_bytes(pickle.dumps({"a": 1}))
    paths = {
        "pickle": saved_classifier,
        "bad_jsonl": tmp_path / "bad.jsonl",
        "bad_zip": make_zip(tmp_path / "up.zip", [("../x", b"")]),
        "missing": tmp_path / "nope.png",
    }
    paths["bad_jsonl"].write_text("{oops\n")
    assert main([a.format(**paths) for a in argv]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert re.match(r"error: .*" + message, err) and err.count("\n") == 1, err


@pytest.mark.parametrize("flag", ["--heads", "--batch-size"])
@pytest.mark.parametrize("value", ["0", "-3", "two"])
def test_cli_refuses_non_positive_counts(tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--model", "m", "--train", "t.jsonl", flag, value])
    assert exit_info.value.code == 2
    assert flag in capsys.readouterr().err


def test_cli_prints_duplicate_warning_on_one_line(tmp_path, capsys, monkeypatch):
    import savs.models
    from savs import pipeline

    train = tmp_path / "t.jsonl"
    train.write_text(
        '{"question": "a", "label": "x"}\n{"question": "a", "label": "x"}\n'
        '{"question": "b", "label": "y"}\n{"question": "c", "label": "y"}\n'
    )

    def fit_checks_only(adapter, examples, **kwargs):
        if not kwargs.get("checked"):  # as pipeline.fit_with_activations: checks unless told
            check_training_set(examples, leave_one_out=True)
        raise ModelError("stopped after the checks")

    monkeypatch.setattr(pipeline, "fit_with_activations", fit_checks_only)  # what the CLI calls
    monkeypatch.setattr(savs.models, "load_model", lambda name, **kw: object())

    def show_like_python(message, category, filename, lineno, file=None, line=None):
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    with warnings.catch_warnings():  # undo pytest's capture: show warnings as Python would
        warnings.simplefilter("always")
        warnings.showwarning = show_like_python
        assert main(["fit", "--model", "m", "--train", str(train)]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    # printed exactly once: the CLI checks before loading the model, and tells `fit` it did
    assert err.count("duplicate example(s)") == 1, err
    assert "warning: 1 duplicate example(s)" in err and "t.jsonl:2 = t.jsonl:1" in err
    assert "DuplicateExampleWarning" not in err and "error: stopped after the checks" in err
