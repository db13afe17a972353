"""Issue 21, three attack classes on a shared Space: hostile classifier / studio JSON (a zip of
23 MB of JSON, unknown fields, NaN and inf), look-alike labels (invisible characters) and
process-wide state changed by request threads (warning filters)."""

from __future__ import annotations

import json
import re
import threading
import time
import tracemalloc
import unicodedata
import warnings
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image

import savs.safejson
from savs.__main__ import EXIT_USER_ERROR, main
from savs.artifact import CONFIG_FIELDS
from savs.classifier import CONFIG_FILE, TENSORS_FILE, SAVClassifier, fit_activations
from savs.data import load_examples, load_folder, load_jsonl, open_image, read_studio_meta
from savs.errors import ClassifierError, DataError
from savs.limits import HOSTED, LOCAL, max_config_bytes
from studio.session import Session

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def saved(tmp_path) -> Path:
    acts = torch.randn(6, 2, 3, 4, generator=torch.Generator().manual_seed(1))
    clf = fit_activations(acts, ["a", "a", "b", "b", "c", "c"], k=3, config={"model": "test-x"})
    return clf.save(tmp_path / "clf")


@pytest.fixture
def parsed(monkeypatch) -> list[int]:
    """Counts every strict JSON parse (the one way a stranger's JSON is read)."""
    calls: list[int] = []
    real = savs.safejson.strict_json

    def counting(text):
        calls.append(len(text))
        return real(text)

    monkeypatch.setattr(savs.artifact, "strict_json", counting)
    return calls


def _config(folder: Path) -> dict:
    return json.loads((folder / CONFIG_FILE).read_text())


def _rezip(folder: Path, archive: Path, config_text: str) -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.write(folder / TENSORS_FILE, TENSORS_FILE)
        zf.writestr(CONFIG_FILE, config_text)
    return archive


# ---------------------------------------------------------------------------------------------
# classifier.json


def test_a_classifier_json_bomb_is_refused_before_it_is_read(saved, tmp_path, parsed):
    """23 MB of JSON in a ~35 KB zip: refused from the size, with no parse and < 10 MB peak."""
    config = _config(saved)
    config["junk"] = [0] * 7_700_000  # "0, " x 7.7 M: 23 MB
    archive = _rezip(saved, tmp_path / "bomb.zip", json.dumps(config))
    assert archive.stat().st_size < 60_000
    with zipfile.ZipFile(archive) as zf:
        assert zf.getinfo(CONFIG_FILE).file_size > 23_000_000
    for limits in (HOSTED, LOCAL):
        tracemalloc.start()
        start = time.perf_counter()
        with pytest.raises(ClassifierError, match=r"^bomb\.zip: classifier\.json is larger than"):
            SAVClassifier.load(archive, limits=limits)
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 10 * 2**20, f"peak {peak / 2**20:.1f} MiB"
        assert seconds < 2.0
    assert parsed == []


def test_a_lying_zip_header_is_read_only_up_to_the_limit(saved, tmp_path, parsed):
    """A central directory that claims a tiny classifier.json: zipfile reads what the header
    says and then fails the CRC check, so a lie costs nothing either."""
    config = _config(saved)
    config["junk"] = "x" * 3_000_000
    archive = _rezip(saved, tmp_path / "liar.zip", json.dumps(config))
    raw = bytearray(archive.read_bytes())
    # the uncompressed size sits 24 bytes into the central directory entry (signature PK\1\2)
    entry = raw.rfind(b"PK\x01\x02", 0, raw.rfind(CONFIG_FILE.encode()) + 1)
    raw[entry + 24 : entry + 28] = (1000).to_bytes(4, "little")
    archive.write_bytes(bytes(raw))
    tracemalloc.start()
    with pytest.raises(ClassifierError, match=r"^liar\.zip: the archive cannot be read .*CRC"):
        SAVClassifier.load(archive, limits=HOSTED)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 3 * max_config_bytes(HOSTED) + (1 << 20)
    assert parsed == []


def test_a_legit_classifier_json_fits_the_limit_with_room(tmp_path):
    """The largest hosted classifier (50 labels of 200 non-ASCII characters, the longest prompt)
    saves to less than the limit it is loaded with."""
    labels = [f"{i:02d}" + "é" * 198 for i in range(50)]
    acts = torch.randn(100, 2, 3, 4)
    config = {"model": "m", "prompt": "ü\n" * 10_000}
    clf = fit_activations(acts, [labels[i % 50] for i in range(100)], k=3, config=config)
    folder = clf.save(tmp_path / "big")
    assert (folder / CONFIG_FILE).stat().st_size < max_config_bytes(HOSTED)
    assert SAVClassifier.load(folder, limits=HOSTED).labels == labels


def test_unknown_config_fields_are_dropped_on_load(saved):
    config = _config(saved)
    config.update(junk=["x"] * 1000, model_class="LlavaForX", savs_version="1.2")
    (saved / CONFIG_FILE).write_text(json.dumps(config))
    loaded = SAVClassifier.load(saved)
    assert "junk" not in loaded.config and set(loaded.config) <= set(CONFIG_FIELDS)
    assert loaded.config["model_class"] == "LlavaForX" and loaded.config["model"] == "test-x"
    assert "junk" not in loaded.save(saved.parent / "again").joinpath(CONFIG_FILE).read_text()


@pytest.mark.parametrize(
    "field,text,message",
    [
        ("train_accuracy", "NaN", r"NaN is not a number here"),
        ("train_accuracy", "Infinity", r"Infinity is not a number here"),
        ("junk", "[-Infinity]", r"-Infinity is not a number here"),
        ("train_accuracy", "1e999", r"1e999 is out of range"),
        ("k", "1" * 5000, r"a number with more than 4,300 digits"),
        ("train_accuracy", "2.5", r"'train_accuracy' must be a number from 0 to 1, got 2\.5"),
        ("torch_version", '"' + "v" * 201 + '"', r"'torch_version' must be a string of at most"),
    ],
)
def test_non_finite_and_bad_numbers_in_classifier_json_are_refused(saved, field, text, message):
    config = _config(saved)
    config[field] = "PLACEHOLDER"
    (saved / CONFIG_FILE).write_text(json.dumps(config).replace('"PLACEHOLDER"', text))
    with pytest.raises(ClassifierError, match=r"^clf: .*" + message):
        SAVClassifier.load(saved)


@pytest.mark.parametrize("name", ["means", "head_scores"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_tensors_are_refused(saved, name, value):
    from safetensors.torch import load_file, save_file

    tensors = load_file(saved / TENSORS_FILE)
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[1] = value
    save_file(tensors, saved / TENSORS_FILE)
    with pytest.raises(ClassifierError, match=rf"^clf: tensor '{name}' .*(NaN|finite)"):
        SAVClassifier.load(saved)


def test_non_finite_numbers_in_jsonl_and_studio_json_are_refused(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"question": "q", "label": "a"}\n{"question": "q", "label": "b", "id": 1e999}\n'
    )
    with pytest.raises(DataError, match=r"^t\.jsonl:2: invalid JSON \(1e999 is out of range"):
        load_jsonl(path)
    path.write_text('{"question": "q", "label": "a", "id": ' + "9" * 5000 + "}\n")
    with pytest.raises(DataError, match=r"^t\.jsonl:1: invalid JSON \(a number with more than"):
        load_jsonl(path)
    meta = tmp_path / "studio.json"
    meta.write_text('{"format": "savs-studio", "k": NaN}')
    with pytest.raises(DataError, match=r"^studio\.json: not valid JSON \(NaN is not a number"):
        read_studio_meta(meta)


# ---------------------------------------------------------------------------------------------
# Look-alike labels

LOOKALIKES = ["\u200b", "\u2060", "\ufeff", "\u00ad", "\U000e0061", "\u202e", "\x1b"]


def _refusal(c: str, position: int = 4) -> str:
    name = unicodedata.name(c, "")
    shown = f"U+{ord(c):04X}" + (f" ({name})" if name else "")
    return re.escape(f"holds {shown} at position {position}")


@pytest.mark.parametrize("c", LOOKALIKES, ids=lambda c: f"U+{ord(c):04X}")
def test_lookalike_labels_are_refused_in_data_files(tmp_path, c):
    path = tmp_path / "t.jsonl"
    path.write_text(
        json.dumps({"question": "q", "label": "cat"})
        + "\n"
        + json.dumps({"question": "r", "label": "cat" + c})
        + "\n"
    )
    with pytest.raises(DataError, match=r"^t\.jsonl:2: label 'cat.*' " + _refusal(c)):
        load_jsonl(path)
    with pytest.raises(DataError, match=_refusal(c)):
        load_examples(path, upload=True)
    meta = tmp_path / "studio.json"
    meta.write_text(json.dumps({"format": "savs-studio", "classes": ["dog", "cat" + c]}))
    with pytest.raises(DataError, match=r"^studio\.json: classes\[1\]: .*" + _refusal(c)):
        read_studio_meta(meta)


@pytest.mark.parametrize("c", LOOKALIKES, ids=lambda c: f"U+{ord(c):04X}")
def test_lookalike_class_folders_are_refused(tmp_path, c):
    for name in ("dog", "x" + c + "cat"):
        (tmp_path / "set" / name).mkdir(parents=True)
        Image.new("RGB", (4, 4)).save(tmp_path / "set" / name / "a.png")
    with pytest.raises(DataError, match=_refusal(c, position=2)):
        load_folder(tmp_path / "set", "q")


@pytest.mark.parametrize("c", LOOKALIKES, ids=lambda c: f"U+{ord(c):04X}")
def test_lookalike_class_names_and_renames_are_refused(c):
    session = Session()
    session.add_class("cat")
    with pytest.raises(DataError, match=r"^class name 'cat.*' " + _refusal(c)):
        session.add_class("cat" + c)
    with pytest.raises(DataError, match=_refusal(c)):
        session.rename_class("cat", "cat" + c)
    assert list(session.classes) == ["cat"]


@pytest.mark.parametrize("c", LOOKALIKES, ids=lambda c: f"U+{ord(c):04X}")
def test_lookalike_labels_in_a_classifier_are_refused(saved, c):
    config = _config(saved)
    config["labels"] = ["a", "b", "cat" + c]
    (saved / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(ClassifierError, match=r"^clf: labels\[2\] 'cat.*' " + _refusal(c)):
        SAVClassifier.load(saved)


def test_the_cli_refuses_a_lookalike_label(tmp_path, capsys, monkeypatch):
    import savs.models

    loads: list[str] = []
    monkeypatch.setattr(savs.models, "load_model", lambda name, **kw: loads.append(name))
    path = tmp_path / "t.jsonl"
    rows = [("a", "cat"), ("b", "cat"), ("c", "cat\u200b"), ("d", "cat\u200b")]
    path.write_text("".join(json.dumps({"question": q, "label": lab}) + "\n" for q, lab in rows))
    assert main(["fit", "--model", "m", "--train", str(path)]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "U+200B (ZERO WIDTH SPACE) at position 4" in err and loads == []


def test_ordinary_unicode_labels_still_pass(tmp_path):
    labels = ["chat 🐱", "犬", "קוף", "école", "nbsp\u00a0x", "tab\tin", "Ω≈ç√", "中文 标签"]
    session = Session()
    for label in labels:
        session.add_class(label)
    assert list(session.classes) == labels


# ---------------------------------------------------------------------------------------------
# No process-wide state changed by a request


def test_request_paths_in_threads_leave_the_warning_filters_alone(tmp_path):
    """open_image once swapped the process-wide filter list in catch_warnings; eight threads in
    it at once left a filter behind. Reading images and data in threads changes nothing."""
    for i in range(8):
        Image.new("RGB", (16, 16), (i * 30, 0, 0)).save(tmp_path / f"{i}.png")
    rows = [{"image": f"{i}.png", "question": "q", "label": "ab"[i % 2]} for i in range(8)]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = list(warnings.filters)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for j in range(30):
                open_image(tmp_path / f"{(seed + j) % 8}.png")
            load_examples(tmp_path, upload=True)
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and not any(t.is_alive() for t in threads)
    assert warnings.filters == before


def test_no_request_code_changes_process_wide_state():
    """Warning filters, environment variables and torch's global switches are process-wide:
    only the CLI (one command per process) and the app's startup (studio/app.py main) may set
    them."""
    pattern = re.compile(
        r"catch_warnings|simplefilter|filterwarnings|os\.environ\[[^]]+\]\s*=|os\.putenv"
        r"|environ\.(setdefault|update)|set_grad_enabled|set_default_dtype|torch\.manual_seed"
        r"|set_num_threads"
    )
    files = [p for p in (ROOT / "savs").rglob("*.py") if "tiny" not in p.parts]
    files += list((ROOT / "studio").rglob("*.py"))
    startup = ROOT / "studio" / "app.py"
    allowed = {ROOT / "savs" / "__main__.py", *(ROOT / "savs" / "cli").glob("*.py"), startup}
    found = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in files
        if p not in allowed
        for n, text in enumerate(p.read_text().splitlines(), start=1)
        if pattern.search(text) and not text.lstrip().startswith("#")
    ]
    app = startup.read_text()
    assert found == []
    # the app sets torch's thread count once, in main(), before the server starts
    assert [m.start() for m in pattern.finditer(app)] == [app.index("set_num_threads")]
    assert app.index("def main(") < app.index("torch.set_num_threads")
